"""The audit trail is append-only, enforced by the database itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, list_audit, record

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_audit_lines_cannot_be_changed_or_deleted(engine: sa.Engine) -> None:
    """A recorded line is listed, and UPDATE or DELETE on the table is refused."""
    actor = Actor(name="alice", role="admin", ip="192.0.2.1")
    record(engine=engine, actor=actor, action="export", entity="contacts", at=NOW)
    lines = list_audit(engine=engine)
    assert [(a.actor, a.action, a.ip, a.at) for a in lines] == [
        ("alice", "export", "192.0.2.1", NOW)
    ]
    for statement in (audit_log.update().values(actor="mallory"), audit_log.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    assert list_audit(engine=engine)[0].actor == "alice"
