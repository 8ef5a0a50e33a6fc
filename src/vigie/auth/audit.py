"""The audit trail: who did what, when and from where; append-only.

Every CRM write is recorded by the CRM processor in the same transaction that applies it
(keyed by its log offset, so a replay records nothing twice); exports of personal data and
user management are recorded by the edge that performs them. Triggers refuse UPDATE and
DELETE on the table, in SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.store.schema import metadata
from vigie.store.types import UtcDateTime

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20)),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(64)),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Column("log_offset", sa.BigInteger, unique=True),
    sa.Column("details", sa.JSON, nullable=False),
)
sa.Index("ix_audit_log_entity", audit_log.c.entity, audit_log.c.entity_id)


class Actor(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Who acts and from where: a user, the CLI or an event source."""

    name: str
    role: str | None = None
    ip: str | None = None
    user_agent: str | None = None


class AuditRecord(msgspec.Struct, kw_only=True):
    """One line of the audit trail as `GET /api/audit` lists it."""

    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    entity: str
    entity_id: str | None
    ip: str | None
    user_agent: str | None
    log_offset: int | None
    details: dict[str, Any]


def audit_row(
    *,
    actor: Actor,
    action: str,
    entity: str,
    at: datetime,
    entity_id: str | None = None,
    log_offset: int | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values of one audit line, for `record` or for a caller's own transaction."""
    return {
        "at": at,
        "actor": actor.name,
        "role": actor.role,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "ip": actor.ip,
        "user_agent": (actor.user_agent or "")[:300] or None,
        "log_offset": log_offset,
        "details": details or {},
    }


def record(
    *,
    engine: sa.Engine,
    actor: Actor,
    action: str,
    entity: str,
    at: datetime,
    entity_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one line to the audit trail in its own transaction."""
    row = audit_row(
        actor=actor, action=action, entity=entity, at=at, entity_id=entity_id, details=details
    )
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(**row))


def list_audit(
    *,
    engine: sa.Engine,
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Audit lines, newest first, filtered; `before` (an id) pages back."""
    query = sa.select(audit_log)
    for column, value in (
        (audit_log.c.actor, actor),
        (audit_log.c.action, action),
        (audit_log.c.entity, entity),
        (audit_log.c.entity_id, entity_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    query = query.order_by(audit_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [AuditRecord(**dict(row._mapping)) for row in conn.execute(query)]
