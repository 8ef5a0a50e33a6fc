"""The CRM projection: applies CRM events from the log to the CRM tables, idempotently.

Two kinds of events change the CRM: the API's own (`Deal Updated`, `Ticket Created` … with the
record in `properties`, appended by the web edge with source `crm`) and facts that
integrations send like any other event (`Order Completed`, `Payment Received` …), which
become interactions of the contact whose `external_id` is the event's `userId`.

A row remembers the offset of the last event applied to it (`version`), so a batch delivered
twice changes nothing the second time. An event that cannot be applied (unknown record, bad
field) is kept in the rejected-events table with its reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import pydantic
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.crm.commands import RESERVED_SOURCE
from vigie.crm.entities import BY_EVENT, ENTITIES, Entity
from vigie.crm.sla import CrmConfig, due
from vigie.events import Event
from vigie.events.event import encode_event
from vigie.store.schema import rejected_events
from vigie.types import to_us

logger = logging.getLogger(__name__)

NAME = "crm"
CRM_ENDPOINT = "crm-processor"  # how its rejections are marked in the rejected-events table

INTEGRATION_EVENTS: dict[str, str] = {
    "Order Completed": "invoice",
    "Invoice Issued": "invoice",
    "Payment Received": "payment",
    "Invoice Overdue": "late_payment",
    "Payment Disputed": "dispute",
    "Invoice Payment Failed": "late_payment",
    "Call Ended": "call",
    "Order Delivered": "delivery",
    "Delivery Failed": "delivery_incident",
    "Order Returned": "return",
    "Review Submitted": "review",
    "Social Mention": "social_mention",
    "Form Submitted": "form",
}
"""Events from integrations that become interactions, by event name -> interaction kind."""


class ApplyError(ValueError):
    """A CRM event that cannot be applied; the message says why."""


_EVENT_FAULTS = (ApplyError, pydantic.ValidationError, sa.exc.IntegrityError, sa.exc.DataError)
"""What an event at fault raises (anything else, a lock or a lost connection, is retried)."""


def is_crm_event(event: Event) -> bool:
    """True when `event` changes the CRM.

    A record's event from another source is a CRM command only when it names its record
    (`properties.id`): a helpdesk's `Ticket Created {ticket_id}` is a fact for the KPIs, not
    a malformed command. The CRM's own milestones (`Payment Received` from source `crm`)
    record a change already applied, so they never become interactions again.
    """
    if event.type != "track":
        return False
    if event.event in BY_EVENT:
        return event.source == RESERVED_SOURCE or "id" in event.properties
    return event.event in INTEGRATION_EVENTS and event.source != RESERVED_SOURCE


def derive(
    entity: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    at: datetime,
    config: CrmConfig,
) -> dict[str, Any]:
    """Fill what follows from a change: close dates, SLA due times, occurrence times."""
    out = dict(after)
    if entity == "deals":
        closed = out["stage"] in ("won", "lost")
        previous = before.get("closed_at") if before else None
        same = before is not None and before.get("stage") == out["stage"]
        out["closed_at"] = (previous if same and previous else at) if closed else None
    elif entity == "tickets":
        out["opened_at"] = out.get("opened_at") or (before or {}).get("opened_at") or at
        sla = config.sla_for(out["priority"])
        first = out.get("sla_first_response_minutes") or sla.first_response_minutes
        resolution = out.get("sla_resolution_minutes") or sla.resolution_minutes
        out["sla_first_response_minutes"] = first
        out["sla_resolution_minutes"] = resolution
        out["first_response_due_at"] = due(out["opened_at"], first)
        out["resolution_due_at"] = due(out["opened_at"], resolution)
        if out["status"] in ("solved", "closed"):
            out["resolved_at"] = out.get("resolved_at") or at
            # Solving a ticket answers it (its milestones say so too: see `milestones.py`).
            out["first_response_at"] = out.get("first_response_at") or out["resolved_at"]
    elif entity == "interactions":
        out["occurred_at"] = out.get("occurred_at") or at
    return out


class CrmProcessor:
    """Builds the CRM tables from the log (a `vigie.log.Processor`)."""

    name = NAME

    def __init__(self, engine: sa.Engine, config: CrmConfig | None = None) -> None:
        self.engine = engine
        self.config = config or CrmConfig()

    def process(self, events: Sequence[Event]) -> None:
        """Apply the CRM events of a batch in one transaction.

        The batch is first applied whole under one savepoint; only when an event in it is at
        fault is it applied again one event per savepoint, to keep the others and set that one
        aside. Two savepoints per event were a third of the projection's cost.
        """
        relevant = [e for e in events if is_crm_event(e)]
        if not relevant:
            return
        rejections: list[dict[str, Any]] = []
        # Take SQLite's write lock up front: a read-then-write transaction could otherwise
        # fail to upgrade its lock while the log's writer commits.
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            try:
                with conn.begin_nested():
                    self._apply_all(conn, relevant)
                return
            except _EVENT_FAULTS:
                pass
            for event in relevant:
                try:
                    with conn.begin_nested():
                        self._apply(conn, event, rebuilding=True)
                except _EVENT_FAULTS as exc:
                    # The event itself is at fault: keep it with the reason. Anything else
                    # (a lock, a lost connection) propagates and the runner retries the batch.
                    logger.warning("CRM event at offset %s not applied: %s", event.offset, exc)
                    rejections.append(_rejection(event, exc))
            if rejections:
                rejections = _not_yet_kept(conn, rejections)
            if rejections:
                conn.execute(rejected_events.insert(), rejections)

    def _apply_all(self, conn: sa.Connection, events: Sequence[Event]) -> None:
        """Apply a batch in order. Each run of integration facts between two record commands
        is applied together (`_apply_facts`): a fact creates one interaction and changes no
        contact, so the run's contacts and existing interactions can be read up front."""
        facts: list[Event] = []
        for event in events:
            if event.event in BY_EVENT:
                if facts:
                    self._apply_facts(conn, facts)
                    facts = []
                self._apply(conn, event, rebuilding=False)
            else:
                facts.append(event)
        if facts:
            self._apply_facts(conn, facts)

    def _apply_facts(self, conn: sa.Connection, events: Sequence[Event]) -> None:
        """Apply integration facts as `_apply` would one by one, with one query for their
        contacts, one for the interactions already there and one INSERT per table: four
        statements per event through SQLAlchemy were most of the projection's cost."""
        entity = ENTITIES["interactions"]
        contacts = _contacts_by_external_id(conn, {e.user_id for e in events if e.user_id})
        ids = {id(event): _fact_id(event) for event in events}
        versions = _versions(conn, entity.table, set(ids.values()))
        rows: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        for event in events:
            assert event.offset is not None
            record_id = ids[id(event)]
            version = versions.get(record_id)
            if version is not None:
                if version < event.offset:
                    # Replayed past a newer version of the record: the general path decides.
                    _insert(conn, entity.table, rows, audits)
                    rows, audits = [], []
                    self._apply(conn, event, rebuilding=False)
                continue
            versions[record_id] = event.offset
            _, _, _, props = self._interpret(conn, event, known_contacts=contacts)
            known = {k: v for k, v in props.items() if k in entity.create.model_fields}
            data = entity.create.model_validate(known)
            at = event.timestamp
            values = derive(entity.name, None, _columns(entity, data), at, self.config)
            values.update(id=record_id, version=event.offset, created_at=at, updated_at=at)
            rows.append(values)
            audits.append(_audit(event, entity, "create", record_id, known))
        _insert(conn, entity.table, rows, audits)

    def _apply(self, conn: sa.Connection, event: Event, *, rebuilding: bool) -> None:
        """Apply one event; `rebuilding` tolerates an audit entry the trail already holds for
        its offset (the tables rebuilt from the log), at the cost of a savepoint."""
        assert event.offset is not None
        entity, operation, record_id, props = self._interpret(conn, event)
        table = entity.table
        current = conn.execute(sa.select(table).where(table.c.id == record_id)).first()
        before = dict(current._mapping) if current is not None else None
        if before is not None and before["version"] >= event.offset:
            return
        at = event.timestamp
        known = {k: v for k, v in props.items() if k in entity.create.model_fields}
        if operation == "create" and before is None:
            data = entity.create.model_validate(known)
            values = derive(entity.name, None, _columns(entity, data), at, self.config)
            values.update(id=record_id, version=event.offset, created_at=at, updated_at=at)
            conn.execute(table.insert(), values)
        elif before is None:
            raise ApplyError(f"{entity.name} {record_id!r} does not exist")
        elif operation == "archive":
            values = {"archived_at": at, "version": event.offset, "updated_at": at}
            conn.execute(_update(table), {**values, "record_id_": record_id})
        else:
            patch = entity.update.model_validate(known).model_dump(exclude_unset=True)
            merged = {name: before[name] for name in entity.create.model_fields} | patch
            data = entity.create.model_validate(merged)
            values = derive(entity.name, before, _columns(entity, data), at, self.config)
            values.update(version=event.offset, updated_at=at)
            conn.execute(_update(table), {**values, "record_id_": record_id})
        row = _audit(event, entity, operation, record_id, known)
        if not rebuilding:
            conn.execute(audit_log.insert(), row)
            return
        try:
            with conn.begin_nested():
                conn.execute(audit_log.insert(), row)
        except sa.exc.IntegrityError:
            # A rebuild of the tables from the log: the append-only trail already holds this
            # offset's entry, which stays the one record of it.
            kept = sa.select(audit_log.c.id).where(audit_log.c.log_offset == event.offset)
            if conn.execute(kept).first() is None:
                raise

    def _interpret(
        self,
        conn: sa.Connection,
        event: Event,
        *,
        known_contacts: dict[str, tuple[str, str | None]] | None = None,
    ) -> tuple[Entity, str, str, dict[str, Any]]:
        """The entity, operation, record id and properties an event stands for; an integration
        fact's contact is looked up by its `userId` (in `known_contacts` when given, read up
        front for a run of facts)."""
        props = dict(event.properties)
        name = event.event or ""
        if name in BY_EVENT:
            entity, operation = BY_EVENT[name]
            record_id = props.pop("id", None)
            if not isinstance(record_id, str) or not record_id:
                raise ApplyError(f"{name}: properties.id (a string) is required")
            return entity, operation, record_id, props
        kind = INTEGRATION_EVENTS[name]
        contact_id = None
        account_id = None
        if event.user_id and known_contacts is not None:
            contact_id, account_id = known_contacts.get(event.user_id, (None, None))
        elif event.user_id:
            contacts = ENTITIES["contacts"].table
            row = conn.execute(
                sa.select(contacts.c.id, contacts.c.account_id)
                .where(contacts.c.external_id == event.user_id)
                .order_by(contacts.c.id)
                .limit(1)
            ).first()
            if row is not None:
                contact_id, account_id = row
        phone = props.get("phone")
        if contact_id is None and isinstance(phone, str) and phone:
            # A phone call names the customer by number (Twilio's From or To).
            contacts = ENTITIES["contacts"].table
            row = conn.execute(
                sa.select(contacts.c.id, contacts.c.account_id)
                .where(contacts.c.phone == phone, contacts.c.archived_at.is_(None))
                .limit(1)
            ).first()
            if row is not None:
                contact_id, account_id = row
        amount = next(
            (props[k] for k in ("amount", "total", "revenue", "value") if k in props), None
        )
        reference = next(
            (
                props[k]
                for k in ("reference", "invoice_id", "order_id", "tracking_number")
                if k in props
            ),
            None,
        )
        direction = props.get("direction")
        data: dict[str, Any] = {
            "kind": kind,
            "occurred_at": event.timestamp.isoformat(),
            "contact_id": props.get("contact_id", contact_id),
            "account_id": props.get("account_id", account_id),
            "amount": amount,
            "currency": props.get("currency"),
            "reference": str(reference) if reference is not None else None,
            "subject": props.get("subject") or name,
            "rating": props.get("rating"),
            "url": props.get("url"),
            "staff_id": props.get("staff_id"),
            "direction": direction if direction in ("inbound", "outbound") else None,
            "properties": props,
        }
        return ENTITIES["interactions"], "create", _fact_id(event), data


FACT_DIGITS = 24
"""The hex digits of a fact's interaction id: never the 20 of an id the API draws
(`vigie.crm.commands.new_id`), so the two are told apart (`is_fact_id`)."""


def _fact_id(event: Event) -> str:
    """The interaction an integration fact creates: one per message, whatever replays it."""
    digest = hashlib.sha256(f"{event.source}\x00{event.message_id}".encode()).hexdigest()
    return f"int_{digest[:FACT_DIGITS]}"


def is_fact_id(record_id: str) -> bool:
    """True for the id of an interaction an integration fact created (`_fact_id`)."""
    prefix, _, digits = record_id.partition("_")
    return prefix == "int" and len(digits) == FACT_DIGITS


_IN_CHUNK = 500


def _contacts_by_external_id(
    conn: sa.Connection, external_ids: set[str]
) -> dict[str, tuple[str, str | None]]:
    """Contact id and account id by `external_id`, the first found for each as `_interpret`'s
    own look-up takes it (lowest id when several share one)."""
    table = ENTITIES["contacts"].table
    found: dict[str, tuple[str, str | None]] = {}
    wanted = sorted(external_ids)
    for start in range(0, len(wanted), _IN_CHUNK):
        query = (
            sa.select(table.c.external_id, table.c.id, table.c.account_id)
            .where(table.c.external_id.in_(wanted[start : start + _IN_CHUNK]))
            .order_by(table.c.external_id, table.c.id)
        )
        for external_id, contact_id, account_id in conn.execute(query):
            found.setdefault(external_id, (contact_id, account_id))
    return found


def _versions(conn: sa.Connection, table: sa.Table, ids: set[str]) -> dict[str, int]:
    """The version of each record of `ids` already in `table`."""
    wanted = sorted(ids)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        query = sa.select(table.c.id, table.c.version).where(
            table.c.id.in_(wanted[start : start + _IN_CHUNK])
        )
        found.update({record_id: int(version) for record_id, version in conn.execute(query)})
    return found


def _insert(
    conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], audits: list[dict[str, Any]]
) -> None:
    """Insert created records and their audit entries, one statement per table."""
    if rows:
        conn.execute(table.insert(), rows)
        conn.execute(audit_log.insert(), audits)


def _audit(
    event: Event, entity: Entity, operation: str, record_id: str, known: dict[str, Any]
) -> dict[str, Any]:
    """The audit trail's entry for an applied event."""
    return audit_row(
        actor=_actor(event),
        action=operation,
        entity=entity.name,
        entity_id=record_id,
        at=event.received_at,
        log_offset=event.offset,
        details={"event": event.event, "fields": sorted(known)},
    )


def _update(table: sa.Table) -> sa.Update:
    """An UPDATE of one record whose values come as parameters (`record_id_` its id), so the
    compiled statement is cached instead of built again around every event's literals."""
    return table.update().where(table.c.id == sa.bindparam("record_id_"))


_JSON_COLUMNS: dict[str, set[str]] = {}


def _columns(entity: Entity, data: pydantic.BaseModel) -> dict[str, Any]:
    """Column values of a validated model: JSON columns as JSON-ready data (only those are
    dumped twice, and the entity's JSON columns are found once)."""
    json_columns = _JSON_COLUMNS.get(entity.name)
    if json_columns is None:
        json_columns = _JSON_COLUMNS[entity.name] = {
            c.name for c in entity.table.c if isinstance(c.type, sa.JSON)
        } & set(type(data).model_fields)
    values = data.model_dump()
    if json_columns:
        values.update(data.model_dump(mode="json", include=json_columns))
    return values


def _actor(event: Event) -> Actor:
    actor = event.context.get("actor") if event.source == RESERVED_SOURCE else None
    if isinstance(actor, dict):
        try:
            return msgspec.convert(actor, Actor)
        except msgspec.ValidationError:
            pass
    return Actor(name=f"source:{event.source}", ip=event.context.get("ip"))


def _not_yet_kept(conn: sa.Connection, rejections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rejections not kept already: after a crash the runner replays the events past its
    last saved checkpoint (saved at most once a second), and a message id is unique per
    source in the log, so one already kept by this processor is the same event again."""
    ids = [r["message_id"] for r in rejections]
    kept = {
        (source, message_id)
        for source, message_id in conn.execute(
            sa.select(rejected_events.c.source, rejected_events.c.message_id).where(
                rejected_events.c.endpoint == CRM_ENDPOINT,
                rejected_events.c.message_id.in_(ids),
            )
        )
    }
    return [r for r in rejections if (r["source"], r["message_id"]) not in kept]


def _rejection(event: Event, exc: Exception) -> dict[str, Any]:
    reason = f"CRM event {event.event!r} not applied: {exc}".replace("\n", "; ")[:2000]
    return {
        "received_at_us": to_us(event.received_at),
        "source": event.source,
        "endpoint": CRM_ENDPOINT,
        "reason": reason,
        "field": None,
        "message_id": event.message_id,
        "payload": encode_event(event),
        "payload_truncated": False,
    }
