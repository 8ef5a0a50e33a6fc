"""A contact's notes forgotten at their erasure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.crm.notes import forget_notes, note_events
from vigie.crm.tables import interactions, tasks

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOTE = "Worried about the loan; call after 6pm"


def _interaction(record_id: str, contact_id: str) -> dict[str, Any]:
    return {"id": record_id, "version": 1, "created_at": AT, "updated_at": AT, "kind": "call",
            "occurred_at": AT, "contact_id": contact_id, "subject": "Loan", "summary": NOTE,
            "properties": {"mood": "anxious"}}  # fmt: skip


def _audited(conn: sa.Connection, record_id: str, offset: int, action: str, *fields: str) -> None:
    """The audit line the CRM projection writes when it applies an interaction's event."""
    conn.execute(audit_log.insert(), audit_row(
        actor=Actor(name="source:web"), action=action, entity="interactions", at=AT,
        entity_id=record_id, log_offset=offset,
        details={"event": "Call Ended", "fields": list(fields)},
    ))  # fmt: skip


def test_the_notes_of_the_crms_own_records_are_blanked_once(engine: sa.Engine) -> None:
    """The contact's interactions logged through the CRM and their tasks lose their notes;
    an integration fact's interaction no one changed since the fact, a chat's (the chat's
    projection forgets it), and another contact's keep theirs; a second erasure changes
    nothing."""
    fact, chat = "int_" + "a" * 24, "chat_cv_1"
    with engine.begin() as conn:
        _audited(conn, fact, 1, "create", "kind", "subject", "summary", "properties")
        conn.execute(interactions.insert(), [
            _interaction("int_" + "b" * 20, "ct_1"), _interaction(fact, "ct_1"),
            _interaction(chat, "ct_1"), _interaction("int_" + "c" * 20, "ct_2"),
        ])  # fmt: skip
        conn.execute(tasks.insert(), {"id": "task_1", "version": 1, "created_at": AT,
                                      "updated_at": AT, "title": "Call back", "status": "open",
                                      "contact_id": "ct_1", "notes": NOTE})  # fmt: skip
        assert forget_notes(conn, contact_id="ct_1") == {"crm_interactions": 1, "crm_tasks": 1}
        assert forget_notes(conn, contact_id="ct_1") == {}
        rows = {
            row.id: (row.subject, row.summary, row.properties)
            for row in conn.execute(sa.select(interactions))
        }
        task = conn.execute(sa.select(tasks.c.title, tasks.c.notes)).one()
    assert rows["int_" + "b" * 20] == (None, None, {})
    for kept in (fact, chat, "int_" + "c" * 20):
        assert rows[kept] == ("Loan", NOTE, {"mood": "anxious"})
    assert tuple(task) == ("Call back", None)


def test_the_notes_are_those_of_interactions_and_tasks_events() -> None:
    """The events whose properties hold a contact's notes are the interactions' and tasks'."""
    events = note_events()
    assert events["Interaction Created"] == ("subject", "summary", "properties")
    assert events["Task Updated"] == ("notes",)
    assert not {"Ticket Created", "Contact Created"} & set(events)


def test_what_staff_changed_on_an_integrations_interaction_is_blanked(engine: sa.Engine) -> None:
    """On an integration fact's interaction, the note fields staff changed through the API (as
    the audit trail names them) are blanked and the fact's own are kept; one whose audit
    trail is gone loses all of them, as what was changed can no longer be told (issue:
    erasure3, gap 1)."""
    edited, untraced = "int_" + "d" * 24, "int_" + "e" * 24
    with engine.begin() as conn:
        conn.execute(interactions.insert(), [
            _interaction(edited, "ct_1"), _interaction(untraced, "ct_1"),
        ])  # fmt: skip
        _audited(conn, edited, 1, "create", "kind", "subject", "properties")
        _audited(conn, edited, 2, "update", "contact_id", "summary")
        _audited(conn, edited, 3, "archive")
        assert forget_notes(conn, contact_id="ct_1") == {"crm_interactions": 2}
        assert forget_notes(conn, contact_id="ct_1") == {}
        rows = {
            row.id: (row.subject, row.summary, row.properties)
            for row in conn.execute(sa.select(interactions))
        }
    assert rows[edited] == ("Loan", None, {"mood": "anxious"})
    assert rows[untraced] == (None, None, {})
