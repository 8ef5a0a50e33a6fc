"""A contact's notes: the free text the CRM holds about a person (a call's notes, a task's),
forgotten at their erasure as a replay of the log forgets them.

With crypto-shredding, a record's own events carry its notes sealed under its contact's key
(`CONTACT_NOTES`); once the contact is erased the key is gone, and a replay of the log
rebuilds their interactions and tasks without notes. The store is made to hold what such a
replay gives: the erasure blanks the same fields of the contact's records. Interactions that
other projections build from events not sealed under the contact's key (an integration fact's,
a chat's) are left to the erasure's scrubbing of identifiers, as their replay rebuilds them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vigie.crm.entities import CONTACT_NOTES, ENTITIES
from vigie.crm.processor import is_fact_id

CHAT_PREFIX = "chat_"
"""The ids of the interactions the chat's projection writes (`vigie.chat.processor`)."""


def note_events() -> dict[str, tuple[str, ...]]:
    """The events of the records holding a contact's notes, with the notes' property names:
    what crypto-shredding seals under the contact's key, and what the erasure takes out of
    the stored log's bodies when they were logged in clear."""
    return {
        event: fields for name, fields in CONTACT_NOTES.items() for event in ENTITIES[name].events
    }


def _blank(fields: tuple[str, ...], table: sa.Table) -> dict[str, Any]:
    """The value each note field has once forgotten: none, or an empty mapping for JSON."""
    return {f: {} if isinstance(table.c[f].type, sa.JSON) else None for f in fields}


def forget_notes(conn: sa.Connection, *, contact_id: str) -> dict[str, int]:
    """Blank the notes of the contact's interactions and tasks in the erasure's transaction
    `conn`; returns the rows changed per table."""
    changed: dict[str, int] = {}
    for name, fields in CONTACT_NOTES.items():
        table = ENTITIES[name].table
        blank = _blank(fields, table)
        query = sa.select(table.c.id, *(table.c[f] for f in fields)).where(
            table.c.contact_id == contact_id
        )
        ids = [
            row.id
            for row in conn.execute(query)
            if any(row._mapping[f] != blank[f] for f in fields)  # not blanked already
            and (
                name != "interactions" or not (is_fact_id(row.id) or row.id.startswith(CHAT_PREFIX))
            )
        ]
        if ids:
            conn.execute(table.update().where(table.c.id.in_(ids)).values(**blank))
            changed[table.name] = len(ids)
    return changed
