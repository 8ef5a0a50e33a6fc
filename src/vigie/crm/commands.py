"""CRM writes as events: what the API (and the CSV import) append to the log.

A write is a `track` event from source `crm` named after the entity and the operation
(`Deal Created`, `Ticket Updated`, `Contact Archived`) with the record's fields in
`properties` and the acting user in `context.actor`. The CRM processor applies it; KPIs and
rules see it like any other event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from vigie.auth.audit import Actor
from vigie.crm.entities import Entity
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
) -> Event:
    """The event that records `operation` (create, update, archive) of one record."""
    context: dict[str, Any] = {"actor": msgspec.to_builtins(actor)}
    if actor.ip:
        context["ip"] = actor.ip
    return Event(
        message_id=uuid.uuid4().hex,
        type="track",
        source=RESERVED_SOURCE,
        event=entity.event_name(operation),
        timestamp=now,
        received_at=now,
        properties={"id": record_id, **data},
        context=context,
    )
