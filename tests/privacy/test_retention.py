"""The retention purge on SQLite and PostgreSQL: each data class past its retention goes,
the rest stays, and the purge is audited (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import make_settings
from vigie.auth.audit import Actor, list_audit, record
from vigie.chat.tables import conversations
from vigie.clock import ManualClock
from vigie.config import Config, Source
from vigie.crm.tables import interactions
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.eventlog import AppendJob
from vigie.privacy.config import PrivacyConfig, Retention
from vigie.privacy.retention import RetentionPurge
from vigie.system import build_system

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = Retention(events="30d", rejected="7d", interactions="365d", audit="730d")


def _event(n: int, days_ago: int) -> Event:
    at = NOW - timedelta(days=days_ago)
    return Event(message_id=f"m{n}", type="track", source="web", event="Viewed",
                 anonymous_id="v", timestamp=at, received_at=at)  # fmt: skip


def _interaction(n: int, days_ago: int) -> dict[str, object]:
    at = NOW - timedelta(days=days_ago)
    return {"id": f"int_{n}", "version": 1, "created_at": at, "updated_at": at, "kind": "call",
            "occurred_at": at, "properties": {}}  # fmt: skip


def test_each_class_is_purged_past_its_retention_and_the_purge_audited(
    engine: sa.Engine,
) -> None:
    """Events older than 30 days (read by every processor), rejected input older than 7,
    interactions and chat conversations older than a year and audit lines older than two
    go; younger ones stay; an event no processor has read yet stays, however old; one audit
    line gives the counts."""
    log = SqlEventLog(engine)
    log.append_many(
        [
            AppendJob(events=[_event(1, 60), _event(2, 1)], rejections=[], source="web",
                      endpoint="test", received_at=NOW - timedelta(days=10)),
        ]
    )  # fmt: skip
    log.save_checkpoint("rules", 2)  # offset 2 onwards not read yet
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rejected_events (received_at_us, reason, payload, payload_truncated)"
                " VALUES (:at, 'bad', :p, false)"
            ),
            [{"at": int((NOW - timedelta(days=d)).timestamp() * 1e6), "p": b"{}"} for d in (8, 6)],
        )
        conn.execute(interactions.insert(), [_interaction(1, 400), _interaction(2, 300)])
        conn.execute(
            conversations.insert(),
            [
                {"id": f"chat_{d}", "source": "web", "anonymous_id": "v", "status": "closed",
                 "started_at_us": int((NOW - timedelta(days=d)).timestamp() * 1e6),
                 "version": 1, "body": {"messages": [{"text": "Bonjour"}]}}
                for d in (500, 10)
            ],
        )  # fmt: skip
    for days in (800, 700):
        record(engine=engine, actor=Actor(name="x"), action="login", entity="users",
               at=NOW - timedelta(days=days))  # fmt: skip
    log.append([_event(3, 90)])

    purge = RetentionPurge(engine=engine, clock=ManualClock(NOW), retention=RETENTION)
    deleted = purge.run()

    assert deleted == {"events": 1, "rejected": 1, "interactions": 2, "audit": 1}
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT message_id FROM events ORDER BY log_offset")).all()
        assert [m for (m,) in kept] == ["m2", "m3"]
        assert conn.execute(sa.text("SELECT COUNT(*) FROM rejected_events")).scalar() == 1
        assert conn.execute(sa.text("SELECT id FROM crm_interactions")).scalar() == "int_2"
        assert conn.execute(sa.text("SELECT id FROM chat_conversations")).scalar() == "chat_10"
    trail = list_audit(engine=engine)
    assert [line.action for line in trail] == ["purge", "login"]
    assert trail[0].actor == "vigie:retention" and trail[0].details["deleted"] == deleted
    with engine.begin() as conn:  # the trail is append-only again after the purge
        try:
            conn.execute(sa.text("DELETE FROM audit_log"))
        except sa.exc.DatabaseError:
            pass
        else:
            raise AssertionError("the audit trail accepted a DELETE after the purge")


def test_the_server_purges_on_a_schedule_only_when_a_retention_is_set(tmp_path: Path) -> None:
    """The server runs the `retention-purge` timer by default (rejected input: 90 days), and
    not when every class is kept forever."""
    url = f"sqlite:///{tmp_path}/vigie.db"
    plain = build_system(make_settings(url))
    assert "retention-purge" in plain.services.names
    assert plain.retention.retention.rejected == "90d"
    config = Config(
        sources=[Source(name="web", write_key="k" * 24)],
        privacy=PrivacyConfig(retention=Retention(rejected=None)),
    )
    forever = build_system(make_settings(url, config))
    assert "retention-purge" not in forever.services.names
    for system in (plain, forever):
        system.engine.dispose()
