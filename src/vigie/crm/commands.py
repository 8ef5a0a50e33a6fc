"""CRM writes as events: what the API (and the CSV import) append to the log.

A write is a `track` event from source `crm` named after the entity and the operation
(`Deal Created`, `Ticket Updated`, `Contact Archived`) with the record's fields in
`properties` and the acting user in `context.actor`. The CRM processor applies it; KPIs and
rules see it like any other event. Beside it, in the same append, go the milestones the
change reaches (`Deal Won`, `Ticket First Response` …: see `milestones.py`), the events the
KPI catalogue counts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from vigie.auth.audit import Actor
from vigie.crm.entities import CONTACT_NOTES, Entity
from vigie.crm.milestones import Milestone, Names, milestones, record_properties
from vigie.events import Event

RESERVED_SOURCE = "crm"
"""The source of the events the CRM itself writes; no configured source may take its name."""


def new_id(entity: Entity) -> str:
    """A fresh identifier for a record of `entity`, e.g. `deal_1f3a…`."""
    return f"{entity.prefix}_{uuid.uuid4().hex[:20]}"


def crm_event(
    *,
    entity: Entity,
    operation: str,
    record_id: str,
    data: dict[str, Any],
    actor: Actor,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> Event:
    """The event that records `operation` (create, update, archive) of one record; `extra`
    properties ride along for the KPIs (the processor applies only the entity's fields)."""
    return Event(
        message_id=uuid.uuid4().hex,
        type="track",
        source=RESERVED_SOURCE,
        event=entity.event_name(operation),
        timestamp=now,
        received_at=now,
        properties={**(extra or {}), "id": record_id, **data},
        context=_context(actor),
    )


def milestone_event(milestone: Milestone, *, actor: Actor, now: datetime) -> Event:
    """The event of one milestone, from source `crm`, with a message id derived from its
    transition (two writers reaching the same one append it once)."""
    return Event(
        message_id=milestone.message_id,
        type="track",
        source=RESERVED_SOURCE,
        event=milestone.event,
        timestamp=milestone.at,
        received_at=now,
        properties=milestone.properties,
        context=_context(actor),
    )


def _owner(entity: Entity, before: dict[str, Any]) -> dict[str, Any] | None:
    """What a change of a stored record carries besides its fields: an interaction's or a
    task's contact, whose key seals its notes under crypto-shredding
    (`vigie.privacy.shredding`); without it a change of a task's notes went out in clear."""
    if entity.name not in CONTACT_NOTES or not before.get("contact_id"):
        return None
    return {"contact_id": before["contact_id"]}


def write_events(
    *,
    entity: Entity,
    operation: str,
    record_id: str,
    data: dict[str, Any],
    before: dict[str, Any] | None,
    actor: Actor,
    now: datetime,
    names: Names | None = None,
) -> list[Event]:
    """The change record of a write, then the milestones it reaches against `before` (the
    record as stored, None when it does not exist yet): what one write appends to the log."""
    if operation == "archive":
        return [crm_event(entity=entity, operation=operation, record_id=record_id, data=data,
                          actor=actor, now=now)]  # fmt: skip
    fields = entity.create.model_fields
    current = {k: v for k, v in (before or {}).items() if k in fields}
    after = entity.create.model_validate(current | data).model_dump(mode="json")
    change = crm_event(
        entity=entity,
        operation=operation,
        record_id=record_id,
        data=data,
        actor=actor,
        now=now,
        extra=record_properties(entity.name, record_id, after)
        if before is None
        else _owner(entity, before),
    )
    reached = milestones(entity.name, record_id, before, after, at=now, names=names)
    return [change, *(milestone_event(m, actor=actor, now=now) for m in reached)]


def _context(actor: Actor) -> dict[str, Any]:
    context: dict[str, Any] = {"actor": msgspec.to_builtins(actor)}
    if actor.ip:
        context["ip"] = actor.ip
    return context
