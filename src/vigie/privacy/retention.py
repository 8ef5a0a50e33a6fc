"""The retention purge: rows older than their data class's retention are deleted, on a
schedule, and each purge is itself recorded in the audit trail (counts, never contents)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.clock import Clock
from vigie.kpi.durations import parse_duration
from vigie.privacy.config import DATA_CLASSES, Retention
from vigie.store.types import UtcDateTime
from vigie.types import to_us

logger = logging.getLogger(__name__)
PURGE_ACTOR = Actor(name="vigie:retention")

_events = sa.table(
    "events",
    sa.column("log_offset", sa.BigInteger),
    sa.column("timestamp_us", sa.BigInteger),
    sa.column("type", sa.String),
)
_checkpoints = sa.table("checkpoints", sa.column("next_offset", sa.BigInteger))
_rejected = sa.table("rejected_events", sa.column("received_at_us", sa.BigInteger))
_interactions = sa.table("crm_interactions", sa.column("occurred_at", UtcDateTime()))
_conversations = sa.table("chat_conversations", sa.column("started_at_us", sa.BigInteger))
_notifications = sa.table(
    "notifications",
    sa.column("id", sa.BigInteger),
    sa.column("status", sa.String),
    sa.column("created_at_us", sa.BigInteger),
)
_notification_children = (
    sa.table("notification_audit", sa.column("notification_id", sa.BigInteger)),
    sa.table("inbox_reads", sa.column("notification_id", sa.BigInteger)),
)
_WAITING = ("held", "sending")
"""Notifications not yet delivered: a purge leaves them to their dispatcher."""


class RetentionPurge:
    """Deletes what `retention` says is kept no longer; `run()` is one purge."""

    def __init__(self, *, engine: sa.Engine, clock: Clock, retention: Retention) -> None:
        self.engine = engine
        self.clock = clock
        self.retention = retention
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def configured(self) -> bool:
        """Whether any data class has a retention (else the purge has nothing to do)."""
        return any(getattr(self.retention, name) for name in DATA_CLASSES)

    @property
    def every_seconds(self) -> float:
        """How often the scheduled purge runs."""
        return parse_duration(self.retention.purge_every) / 1e6

    def run(self) -> dict[str, int]:
        """Delete the expired rows of every data class in one transaction, audit the purge,
        and return how many rows of each class went."""
        if not self.configured:
            return {}
        now = self.clock.now()
        deleted: dict[str, int] = {}
        with self.engine.begin() as conn:
            for name in DATA_CLASSES:
                kept_for = getattr(self.retention, name)
                if kept_for is None:
                    continue
                cutoff = now - timedelta(microseconds=parse_duration(kept_for))
                deleted[name] = getattr(self, f"_purge_{name}")(conn, cutoff)
            details: dict[str, Any] = {
                "deleted": deleted,
                "retention": {n: getattr(self.retention, n) for n in DATA_CLASSES},
            }
            conn.execute(
                audit_log.insert(),
                audit_row(
                    actor=PURGE_ACTOR,
                    action="purge",
                    entity="retention",
                    at=now,
                    details=details,
                ),
            )
        if any(deleted.values()):
            logger.info("retention purge deleted %s", deleted)
        return deleted

    def _purge_events(self, conn: sa.Connection, cutoff: Any) -> int:
        return _purge_log(conn, cutoff)

    def _purge_sensors(self, conn: sa.Connection, cutoff: Any) -> int:
        """The sensors' readings: every sensor edge (HTTP, MQTT, camera footage) appends
        them as events of type `sensor`."""
        return _purge_log(conn, cutoff, _events.c.type == "sensor")

    def _purge_notifications(self, conn: sa.Connection, cutoff: Any) -> int:
        if not sa.inspect(conn).has_table("notifications"):
            return 0
        old = sa.select(_notifications.c.id).where(
            _notifications.c.created_at_us < to_us(cutoff),
            _notifications.c.status.not_in(_WAITING),
        )
        for child in _notification_children:
            conn.execute(child.delete().where(child.c.notification_id.in_(old)))
        statement = _notifications.delete().where(_notifications.c.id.in_(old))
        return int(conn.execute(statement).rowcount or 0)

    def _purge_rejected(self, conn: sa.Connection, cutoff: Any) -> int:
        statement = _rejected.delete().where(_rejected.c.received_at_us < to_us(cutoff))
        return int(conn.execute(statement).rowcount or 0)

    def _purge_interactions(self, conn: sa.Connection, cutoff: Any) -> int:
        """CRM interactions, and the website chat's conversations (their transcripts)."""
        statement = _interactions.delete().where(_interactions.c.occurred_at < cutoff)
        count = int(conn.execute(statement).rowcount or 0)
        if sa.inspect(conn).has_table("chat_conversations"):
            chats = _conversations.delete().where(_conversations.c.started_at_us < to_us(cutoff))
            count += int(conn.execute(chats).rowcount or 0)
        return count

    def _purge_audit(self, conn: sa.Connection, cutoff: Any) -> int:
        """The trail refuses deletes (a trigger): lift it for this transaction only."""
        statement = audit_log.delete().where(audit_log.c.at < cutoff)
        if self._postgres:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            count = conn.execute(statement).rowcount
            conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
            return int(count or 0)
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
        count = conn.execute(statement).rowcount
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
        )
        return int(count or 0)


def _purge_log(conn: sa.Connection, cutoff: Any, *where: sa.ColumnElement[bool]) -> int:
    """Delete the log's events older than `cutoff` (and matching `where`) that every
    processor has read: a purge must not take one from under them."""
    read_by_all = sa.select(sa.func.min(_checkpoints.c.next_offset)).scalar_subquery()
    statement = _events.delete().where(
        _events.c.timestamp_us < to_us(cutoff),
        _events.c.log_offset < sa.func.coalesce(read_by_all, 0),
        *where,
    )
    return int(conn.execute(statement).rowcount or 0)
