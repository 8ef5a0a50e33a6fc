"""A contact's notes: the free text the CRM holds about a person (a call's notes, a task's),
forgotten at their erasure as a replay of the log forgets them.

With crypto-shredding, a record's own events carry its notes sealed under its contact's key
(`CONTACT_NOTES`); once the contact is erased the key is gone, and a replay of the log
rebuilds their interactions and tasks without notes. The store is made to hold what such a
replay gives: the erasure blanks the same fields of the contact's records.

An integration fact's interaction is rebuilt by a replay from the fact, which is not sealed
under the contact's key: what the fact said stays (scrubbed of the person's identifiers). What
staff wrote on it through the API is sealed like any interaction's change, so the erasure
blanks the fields those changes named (the audit trail says which; all of them when the trail
no longer tells). A chat's interaction is the chat projection's (`vigie.chat.processor.
forget_transcripts`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vigie.auth.audit import audit_log
from vigie.crm.entities import CONTACT_NOTES, ENTITIES, INTERACTION_NOTES
from vigie.crm.processor import is_fact_id

_CHUNK = 500
"""Interactions looked up in the audit trail per query (`_edited`)."""
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
    `conn` (of an integration's interaction, only what staff changed); returns the rows
    changed per table."""
    changed: dict[str, int] = {}
    for name, fields in CONTACT_NOTES.items():
        table = ENTITIES[name].table
        blank = _blank(fields, table)
        query = sa.select(table.c.id, *(table.c[f] for f in fields)).where(
            table.c.contact_id == contact_id
        )
        rows = [
            row
            for row in conn.execute(query)
            if any(row._mapping[f] != blank[f] for f in fields)  # not blanked already
            and not (name == "interactions" and row.id.startswith(CHAT_PREFIX))
        ]
        facts = [row.id for row in rows if name == "interactions" and is_fact_id(row.id)]
        edited = _edited(conn, facts)
        count = 0
        ids = [row.id for row in rows if row.id not in edited]
        if ids:
            conn.execute(table.update().where(table.c.id.in_(ids)).values(**blank))
            count += len(ids)
        current = {row.id: row._mapping for row in rows}
        for record_id, touched in edited.items():
            values = {f: blank[f] for f in touched if current[record_id][f] != blank[f]}
            if values:
                conn.execute(table.update().where(table.c.id == record_id).values(**values))
                count += 1
        if count:
            changed[table.name] = count
    return changed


def _edited(conn: sa.Connection, facts: list[str]) -> dict[str, tuple[str, ...]]:
    """The note fields staff changed through the API on each integration fact's interaction,
    as the audit trail tells (none: the fact's own, kept); all of them when the trail keeps
    nothing of the record (purged by retention), as what was changed is then unknown."""
    if not facts:
        return {}
    found: dict[str, set[str]] = {}
    for start in range(0, len(facts), _CHUNK):
        chunk = facts[start : start + _CHUNK]
        query = sa.select(audit_log.c.entity_id, audit_log.c.action, audit_log.c.details).where(
            audit_log.c.entity == "interactions", audit_log.c.entity_id.in_(chunk)
        )
        for record_id, action, details in conn.execute(query):
            fields = found.setdefault(record_id, set())
            if action == "update":
                named = details.get("fields") if isinstance(details, dict) else None
                fields.update(named if isinstance(named, list) else INTERACTION_NOTES)
    every = set(INTERACTION_NOTES)
    return {
        record_id: tuple(f for f in INTERACTION_NOTES if f in found.get(record_id, every))
        for record_id in facts
    }
