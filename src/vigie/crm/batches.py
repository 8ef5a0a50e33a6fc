"""Batches of CRM writes, checked whole before anything is written.

A batch (the API's `/api/<entity>/batch`, a CSV file) is planned against the store as it is:
each record is matched to an existing one (by `id`, or by `external_id` where the entity has
one) or becomes a new one, checked exactly as a single write is (fields, references, the
user's scope, assignment), and turned into the events a single write would append. One bad
record refuses the whole batch, and every bad one is named by its index with its reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
import pydantic
import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.auth.users import Principal
from vigie.crm import records
from vigie.crm.access import owner_clause, visible_owners
from vigie.crm.commands import new_id, write_events
from vigie.crm.entities import ENTITIES, Entity
from vigie.events import Event

MAX_RECORDS = 1000
"""The most records one API batch may hold (a CSV file through `vigie import` may hold more)."""

ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
FORMATS = {
    "country": "an ISO 3166-1 alpha-2 country code (e.g. BE, FR) / un code pays",
    "currency": "an ISO 4217 currency code (e.g. EUR) / un code devise",
    "nace": "a NACE Rev. 2 code (e.g. 62.01, or section J) / un code NACE",
    "email": "an e-mail address / une adresse e-mail",
}

Mode = Literal["upsert", "update"]
Progress = Callable[[int], None]


class RecordError(msgspec.Struct, kw_only=True, frozen=True):
    """Why the record at `index` of a batch cannot be written; `scope` when it is a question of
    what the user may see or assign rather than of the data."""

    index: int
    reason: str
    scope: bool = False


class BatchPlan(msgspec.Struct, kw_only=True):
    """What a batch becomes: per record its id and operation, and the events to append (the
    change records first, in the batch's order, then the milestones); or the errors."""

    entity: str
    ids: list[str] = []
    operations: list[str] = []
    events: list[Event] = []
    errors: list[RecordError] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def created(self) -> int:
        return self.operations.count("create")

    @property
    def updated(self) -> int:
        return self.operations.count("update")


def describe(exc: pydantic.ValidationError) -> str:
    """A validation error as one line a person reads: each field and what is wrong with it."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "record"
        message = error["msg"]
        hint = FORMATS.get(str(error["loc"][0])) if error["loc"] else None
        if error["type"] == "string_pattern_mismatch" and hint:
            # "should match pattern '^[A-Z]{2}$'" helps nobody; say what is expected.
            message = f"{error['input']!r} is not {hint}"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _rows_by(
    conn: sa.Connection, entity: Entity, column: str, values: set[str]
) -> dict[str, dict[str, Any]]:
    """The stored records whose `column` is one of `values`, by that value (the oldest wins)."""
    if not values:
        return {}
    table = entity.table
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(values)
    for start in range(0, len(ordered), 5000):
        query = (
            sa.select(table)
            .where(table.c[column].in_(ordered[start : start + 5000]))
            .order_by(table.c.created_at.desc(), table.c.id.desc())
        )
        for row in conn.execute(query):
            found[row._mapping[column]] = dict(row._mapping)
    return found


def _visible(
    conn: sa.Connection, entity: Entity, user: Principal | None, ids: set[str]
) -> set[str] | None:
    """Which of the stored `ids` the user may see; None when they see every record."""
    clause = owner_clause(conn, entity, user) if user is not None else None
    if clause is None or not ids:
        return None
    table = entity.table
    ordered = sorted(ids)
    seen: set[str] = set()
    for start in range(0, len(ordered), 5000):
        query = sa.select(table.c.id).where(table.c.id.in_(ordered[start : start + 5000]), clause)
        seen.update(conn.execute(query).scalars())
    return seen


def plan(
    conn: sa.Connection,
    entity: Entity,
    batch: Sequence[dict[str, Any]],
    *,
    user: Principal | None,
    actor: Actor,
    now: datetime,
    mode: Mode = "upsert",
    match_external_id: bool = True,
    progress: Progress | None = None,
) -> BatchPlan:
    """Check every record of `batch` as the user's single write would be checked (no user:
    an administrator's import, which sees everything) and plan its events.

    `upsert` creates a record, or changes the one with the same `id` (or `external_id`, when
    `match_external_id` and the entity has one); `update` only changes existing records, by
    `id`. Only the fields sent are written, as with PATCH.
    """
    out = BatchPlan(entity=entity.name)
    errors: list[RecordError] = []
    fields = entity.create.model_fields
    by_external = match_external_id and mode == "upsert" and "external_id" in fields
    ids: list[str | None] = []
    for index, record in enumerate(batch):
        record_id = record.get("id")
        if record_id is not None and (not isinstance(record_id, str) or not ID.match(record_id)):
            errors.append(RecordError(index=index, reason=f"id: {record_id!r} is not an id"))
            record_id = None
        elif record_id is None and mode == "update":
            errors.append(RecordError(index=index, reason="id: required to change a record"))
        ids.append(record_id)
    for value, times in Counter(i for i in ids if i is not None).items():
        if times > 1:
            first = ids.index(value)
            errors.extend(
                RecordError(index=i, reason=f"id {value!r} appears twice in the batch")
                for i, other in enumerate(ids)
                if other == value and i != first
            )
    externals = [
        r.get("external_id") if by_external and i is None else None
        for r, i in zip(batch, ids, strict=True)
    ]
    for value, times in Counter(e for e in externals if isinstance(e, str)).items():
        if times > 1:
            first = externals.index(value)
            errors.extend(
                RecordError(index=i, reason=f"external_id {value!r} appears twice in the batch")
                for i, other in enumerate(externals)
                if other == value and i != first
            )
    existing = _rows_by(conn, entity, "id", {i for i in ids if i is not None})
    matched = _rows_by(conn, entity, "external_id", {e for e in externals if isinstance(e, str)})
    stored = {row["id"] for row in [*existing.values(), *matched.values()]}
    visible = _visible(conn, entity, user, stored)
    owners = visible_owners(conn, user) if user is not None else None
    restrict_for = (
        {name: owner_clause(conn, e, user) for name, e in ENTITIES.items()}
        if user is not None
        else None
    )
    names = records.all_names(conn)
    pending = {entity.name: {i for i in ids if i is not None and i not in existing}}
    utms: Counter[str] = Counter(
        r["utm_campaign"] for r in batch if entity.name == "campaigns" and r.get("utm_campaign")
    )
    changes: list[Event] = []
    milestones: list[Event] = []
    failed = {e.index for e in errors}
    for index, record in enumerate(batch):
        if progress is not None:
            progress(1)
        if index in failed:
            continue
        data = {k: v for k, v in record.items() if k != "id"}
        external = externals[index]
        before = existing.get(ids[index] or "") or (
            matched.get(external) if isinstance(external, str) else None
        )
        found = _check(
            conn,
            entity,
            data,
            before=before,
            user=user,
            visible=visible,
            owners=owners,
            restrict_for=restrict_for,
            pending=pending,
            mode=mode,
            utms=utms,
            wanted=ids[index],
        )
        if isinstance(found, RecordError):
            errors.append(msgspec.structs.replace(found, index=index))
            continue
        operation = "create" if before is None else "update"
        record_id = before["id"] if before is not None else ids[index] or new_id(entity)
        change, *reached = write_events(
            entity=entity,
            operation=operation,
            record_id=record_id,
            data=found,
            before=before,
            actor=actor,
            now=now,
            names=names,
        )
        changes.append(change)
        milestones.extend(reached)
        out.ids.append(record_id)
        out.operations.append(operation)
    if errors:
        return BatchPlan(entity=entity.name, errors=sorted(errors, key=lambda e: e.index))
    out.events = [*changes, *milestones]
    return out


READ_ONLY_VIA = (
    "{} record written by a colleague: you may read it (it is about your customer), not "
    "change it / écrit par un collègue : lecture seule"
)


def _check(
    conn: sa.Connection,
    entity: Entity,
    data: dict[str, Any],
    *,
    before: dict[str, Any] | None,
    user: Principal | None,
    visible: set[str] | None,
    owners: set[str] | None,
    restrict_for: dict[str, sa.ColumnElement[bool] | None] | None,
    pending: dict[str, set[str]],
    mode: Mode,
    utms: Counter[str],
    wanted: str | None,
) -> dict[str, Any] | RecordError:
    """The fields to write of one record, or why it cannot be written (index 0: the caller's
    to set)."""
    if before is not None and visible is not None and before["id"] not in visible:
        return RecordError(
            index=0,
            reason=f"no {entity.name} record {before['id']!r} you may change / introuvable",
            scope=True,
        )
    if before is None and mode == "update":
        return RecordError(index=0, reason=f"no {entity.name} record {wanted!r} / introuvable")
    owner = entity.owner
    read_only = before is not None and owners is not None and before.get(owner or "") not in owners
    if owner and entity.via and read_only:
        return RecordError(index=0, reason=READ_ONLY_VIA.format(entity.name), scope=True)
    if before is None and owner and data.get(owner) is None and user and user.staff_id:
        data = {**data, owner: user.staff_id}
    try:
        if before is None:
            fields = entity.create.model_validate(data).model_dump(mode="json", include=set(data))
        else:
            patch = entity.update.model_validate(data)
            fields = patch.model_dump(mode="json", exclude_unset=True)
            merged = {k: before[k] for k in entity.create.model_fields} | fields
            entity.create.model_validate(merged)
    except pydantic.ValidationError as exc:
        return RecordError(index=0, reason=describe(exc))
    changes_owner = bool(owner) and (before is None or owner in fields)
    if owner and changes_owner and owners is not None and fields.get(owner) not in owners:
        return RecordError(
            index=0,
            reason=f"{owner}: you may only assign records to yourself or your team "
            "/ attribution refusée",
            scope=True,
        )
    utm = fields.get("utm_campaign") if entity.name == "campaigns" else None
    if utm:
        other = records.campaign_for_utm(
            conn, utm, excluding=before["id"] if before is not None else None
        )
        if other is not None or utms[utm] > 1:
            return RecordError(
                index=0,
                reason=f"utm_campaign: {utm!r} is already the UTM name of campaign "
                f"{other or 'in this batch'!r}; a UTM name links one CRM campaign "
                "/ nom UTM déjà utilisé",
            )
    problems = records.missing_references(
        conn, entity, fields, entities=ENTITIES, restrict_for=restrict_for, pending=pending
    )
    if problems:
        return RecordError(index=0, reason="; ".join(problems))
    return fields
