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
from vigie.schedule.inbox import inbox_reads
from vigie.schedule.notifications import notification_audit, notifications
from vigie.system import build_system

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = Retention(
    events="30d",
    sensors="14d",
    rejected="7d",
    interactions="365d",
    notifications="60d",
    audit="730d",
)


def _event(n: int, days_ago: int) -> Event:
    at = NOW - timedelta(days=days_ago)
    return Event(message_id=f"m{n}", type="track", source="web", event="Viewed",
                 anonymous_id="v", timestamp=at, received_at=at)  # fmt: skip


def _reading(n: int, days_ago: int) -> Event:
    at = NOW - timedelta(days=days_ago)
    return Event(message_id=f"s{n}", type="sensor", source="sensors", event="People Counted",
                 site="city", properties={"count": 12, "source": "camera:rue.mp4"},
                 timestamp=at, received_at=at)  # fmt: skip


def _notification(n: int, days_ago: int, status: str) -> dict[str, object]:
    at = int((NOW - timedelta(days=days_ago)).timestamp() * 1e6)
    return {"id": n, "key": f"k{n}", "intended_for": "ana", "recipient": "ana",
            "subject": "Alert", "body": "…", "urgent": False, "status": status, "reason": "",
            "channels": "inbox", "created_at_us": at, "requires": "none"}  # fmt: skip


def _interaction(n: int, days_ago: int) -> dict[str, object]:
    at = NOW - timedelta(days=days_ago)
    return {"id": f"int_{n}", "version": 1, "created_at": at, "updated_at": at, "kind": "call",
            "occurred_at": at, "properties": {}}  # fmt: skip


def test_each_class_is_purged_past_its_retention_and_the_purge_audited(
    engine: sa.Engine,
) -> None:
    """Events older than 30 days (read by every processor), sensor readings (a camera's
    counts among them) older than 14, rejected input older than 7, interactions and chat
    conversations older than a year, delivered notifications (with their decisions and read
    marks) older than 60 days and audit lines older than two years go; younger ones stay; an
    event no processor has read yet and a notification still held stay, however old; one
    audit line gives the counts."""
    log = SqlEventLog(engine)
    log.append_many(
        [
            AppendJob(events=[_event(1, 60), _reading(1, 20), _reading(2, 5), _event(2, 1)],
                      rejections=[], source="web", endpoint="test",
                      received_at=NOW - timedelta(days=10)),
        ]
    )  # fmt: skip
    log.save_checkpoint("rules", 4)  # offset 4 onwards not read yet
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
        conn.execute(
            notifications.insert(),
            [_notification(1, 90, "delivered"), _notification(2, 90, "held"),
             _notification(3, 10, "delivered")],
        )  # fmt: skip
        conn.execute(
            notification_audit.insert(),
            [{"notification_id": n, "at_us": 0, "decision": "sent", "detail": ""} for n in (1, 3)],
        )
        conn.execute(
            inbox_reads.insert(), [{"notification_id": 1, "person": "ana", "read_at_us": 0}]
        )
    for days in (800, 700):
        record(engine=engine, actor=Actor(name="x"), action="login", entity="users",
               at=NOW - timedelta(days=days))  # fmt: skip
    log.append([_event(3, 90)])

    purge = RetentionPurge(engine=engine, clock=ManualClock(NOW), retention=RETENTION)
    deleted = purge.run()

    assert deleted == {
        "events": 1,
        "sensors": 1,
        "rejected": 1,
        "interactions": 2,
        "notifications": 1,
        "audit": 1,
    }
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT message_id FROM events ORDER BY log_offset")).all()
        assert [m for (m,) in kept] == ["s2", "m2", "m3"]
        left = conn.execute(sa.select(notifications.c.id).order_by(notifications.c.id)).all()
        assert [n for (n,) in left] == [2, 3]
        decisions = conn.execute(sa.select(notification_audit.c.notification_id)).all()
        assert decisions == [(3,)]
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_reads)).scalar() == 0
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
