"""A contact's notes forgotten at their erasure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vigie.crm.notes import forget_notes, note_events
from vigie.crm.tables import interactions, tasks

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOTE = "Worried about the loan; call after 6pm"


def _interaction(record_id: str, contact_id: str) -> dict[str, Any]:
    return {"id": record_id, "version": 1, "created_at": AT, "updated_at": AT, "kind": "call",
            "occurred_at": AT, "contact_id": contact_id, "subject": "Loan", "summary": NOTE,
            "properties": {"mood": "anxious"}}  # fmt: skip


def test_the_notes_of_the_crms_own_records_are_blanked_once(engine: sa.Engine) -> None:
    """The contact's interactions logged through the CRM and their tasks lose their notes;
    an integration fact's and a chat's interaction, and another contact's, keep theirs; a
    second erasure changes nothing."""
    fact, chat = "int_" + "a" * 24, "chat_cv_1"
    with engine.begin() as conn:
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
