"""Stored notifications and their audit trail: who, what, held until when, rerouted to
whom, delivered when. The in-app channel is the stored notification itself."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.store.schema import Offset, metadata
from vigie.types import from_us, to_us

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("intended_for", sa.String(200), nullable=False),
    sa.Column("recipient", sa.String(200)),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("channels", sa.Text, nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("hold_until_us", sa.BigInteger),
    sa.Column("delivered_at_us", sa.BigInteger),
    sa.Column("run_id", sa.String(64)),
    sa.Column("requires", sa.String(20), nullable=False),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_at_us", sa.BigInteger),
    sa.UniqueConstraint("key", "intended_for", "recipient", name="uq_notifications_key"),
)
sa.Index("ix_notifications_due", notifications.c.status, notifications.c.hold_until_us)
sa.Index("ix_notifications_recipient", notifications.c.recipient)

notification_audit = sa.Table(
    "notification_audit",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.BigInteger, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("decision", sa.String(30), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
sa.Index("ix_notification_audit_notification", notification_audit.c.notification_id)

STATUSES = ("held", "sending", "delivered", "digested", "dropped", "undeliverable")
"""`digested`: delivered inside a digest; `dropped`: its alert resolved before the person was
back, and they prefer not to hear of it."""


class AuditEntry(msgspec.Struct, kw_only=True):
    """One decision taken about a notification."""

    at: datetime
    decision: str
    detail: str


class NotificationRecord(msgspec.Struct, kw_only=True):
    """A notification as stored and listed by `GET /api/notifications`."""

    id: int
    key: str
    intended_for: str
    recipient: str | None
    subject: str
    body: str
    urgent: bool
    status: str
    reason: str
    channels: list[str]
    created_at: datetime
    hold_until: datetime | None
    delivered_at: datetime | None
    run_id: str | None
    audit: list[AuditEntry] = []


def _record(row: Any, audit: list[AuditEntry]) -> NotificationRecord:
    return NotificationRecord(
        id=row.id,
        key=row.key,
        intended_for=row.intended_for,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        urgent=row.urgent,
        status=row.status,
        reason=row.reason,
        channels=msgspec.json.decode(row.channels),
        created_at=from_us(row.created_at_us),
        hold_until=from_us(row.hold_until_us) if row.hold_until_us is not None else None,
        delivered_at=from_us(row.delivered_at_us) if row.delivered_at_us is not None else None,
        run_id=row.run_id,
        audit=audit,
    )


def add_audit(
    conn: sa.Connection, *, notification_id: int, at: datetime, decision: str, detail: str
) -> None:
    """Append one entry to the audit trail of a notification."""
    conn.execute(
        notification_audit.insert().values(
            notification_id=notification_id, at_us=to_us(at), decision=decision, detail=detail
        )
    )


def find(conn: sa.Connection, *, key: str) -> list[NotificationRecord]:
    """Notifications already created for idempotency key `key`."""
    rows = conn.execute(
        sa.select(notifications).where(notifications.c.key == key).order_by(notifications.c.id)
    ).all()
    return [_record(row, _audit(conn, row.id)) for row in rows]


def _audit(conn: sa.Connection, notification_id: int) -> list[AuditEntry]:
    rows = conn.execute(
        sa.select(notification_audit)
        .where(notification_audit.c.notification_id == notification_id)
        .order_by(notification_audit.c.id)
    ).all()
    return [AuditEntry(at=from_us(r.at_us), decision=r.decision, detail=r.detail) for r in rows]


def get(conn: sa.Connection, *, notification_id: int) -> NotificationRecord | None:
    """One notification with its audit trail."""
    row = conn.execute(
        sa.select(notifications).where(notifications.c.id == notification_id)
    ).first()
    return _record(row, _audit(conn, row.id)) if row is not None else None


def due(conn: sa.Connection, *, now: datetime, limit: int = 100) -> list[int]:
    """Ids of held notifications whose time has come, oldest first."""
    rows = conn.execute(
        sa.select(notifications.c.id)
        .where(notifications.c.status == "held", notifications.c.hold_until_us <= to_us(now))
        .order_by(notifications.c.hold_until_us, notifications.c.id)
        .limit(limit)
    ).all()
    return [row.id for row in rows]


def due_rows(conn: sa.Connection, *, now: datetime, limit: int = 500) -> list[Any]:
    """Held notifications whose time has come, oldest first: id, recipient, what they
    require (`working` or `on_duty`), when created and until when held."""
    columns = notifications.c
    return list(
        conn.execute(
            sa.select(
                columns.id,
                columns.recipient,
                columns.requires,
                columns.created_at_us,
                columns.hold_until_us,
            )
            .where(columns.status == "held", columns.hold_until_us <= to_us(now))
            .order_by(columns.hold_until_us, columns.id)
            .limit(limit)
        ).all()
    )


def list_notifications(
    conn: sa.Connection,
    *,
    recipient: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 100,
    visible: Collection[str] | None = None,
) -> list[NotificationRecord]:
    """Notifications newest first, with their audit trails; `recipient` also matches the
    person or team they were intended for; `visible` (people and teams), when given, keeps
    only the notifications for one of them, or intended for one of them."""
    query = sa.select(notifications)
    if visible is not None:
        names = sorted(visible)
        query = query.where(
            sa.or_(notifications.c.recipient.in_(names), notifications.c.intended_for.in_(names))
        )
    if recipient is not None:
        query = query.where(
            sa.or_(
                notifications.c.recipient == recipient, notifications.c.intended_for == recipient
            )
        )
    if status is not None:
        query = query.where(notifications.c.status == status)
    if before is not None:
        query = query.where(notifications.c.id < before)
    rows = conn.execute(query.order_by(notifications.c.id.desc()).limit(limit)).all()
    return [_record(row, _audit(conn, row.id)) for row in rows]


def deliveries(conn: sa.Connection, *, start_us: int, end_us: int) -> list[Any]:
    """Notifications created or delivered in [start_us, end_us), digests left out (their
    messages are counted one by one), with whether each was ever held."""
    c = notifications.c
    held = (
        sa.select(notification_audit.c.id)
        .where(
            notification_audit.c.notification_id == c.id,
            notification_audit.c.decision == "held",
        )
        .exists()
    )
    in_range = sa.or_(
        sa.and_(c.created_at_us >= start_us, c.created_at_us < end_us),
        sa.and_(c.delivered_at_us >= start_us, c.delivered_at_us < end_us),
    )
    query = (
        sa.select(
            c.recipient,
            c.intended_for,
            c.urgent,
            c.status,
            c.created_at_us,
            c.delivered_at_us,
            held.label("was_held"),
        )
        .where(in_range, sa.not_(c.key.like("digest/%")))
        .order_by(c.id)
    )
    return list(conn.execute(query).all())
