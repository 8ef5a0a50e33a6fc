"""The CRM's commands and queries as the edges use them, on behalf of a signed-in user.

A write is checked (ownership, references), appended to the event log as a CRM event with
the milestones it reaches against the record as read (`Deal Won` …), and answered once the
CRM projection has applied it, read back at the version the log gave it:
a client reads its own writes and the log stays the one truth. Concurrent single writes
share the log's commit, the projection's transaction and the read-back (`crm.writer`).
Failures are the domain errors below; the web layer maps them to HTTP statuses in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vigie.auth import audit
from vigie.auth.audit import Actor
from vigie.auth.roles import allowed
from vigie.auth.users import Principal
from vigie.clock import Clock
from vigie.crm import batches, csvfiles, records
from vigie.crm.access import may_assign, owner_clause
from vigie.crm.batches import MAX_RECORDS, READ_ONLY_VIA, Mode, RecordError
from vigie.crm.commands import new_id, write_events
from vigie.crm.csvfiles import ImportReport
from vigie.crm.entities import ENTITIES, Entity, ReadBase
from vigie.crm.models import PLAYBOOK_LINKS
from vigie.crm.processor import NAME as CRM_PROCESSOR
from vigie.crm.timeline import (
    CATEGORIES,
    RESOURCE_OF,
    Category,
    TimelineItem,
    timeline,
    who_for_account,
    who_for_contact,
)
from vigie.crm.writer import CrmWriter, WriteNotApplied
from vigie.events import Event
from vigie.log import GroupCommitter, ProcessorRunner
from vigie.log.eventlog import AppendJob


class CrmError(Exception):
    """A CRM command or query that cannot be served; the message says why, in both
    languages where a person reads it."""


class RecordNotFound(CrmError):
    """No such record, or not one the user may see."""


class Forbidden(CrmError):
    """The user may not do this to this record."""


class Invalid(CrmError):
    """The data breaks a rule of the entity (a missing reference, a bad value)."""


class NotApplied(CrmError):
    """The write was logged but the projection did not apply it (see the rejected input)."""


class ProjectionBehind(CrmError):
    """The CRM projection has not caught up in time; the write is logged, retry the read."""


@dataclass(frozen=True)
class BatchOutcome:
    """A batch applied whole (the records as read back, in the batch's order), or refused
    whole (every bad record by index, nothing written)."""

    entity: str
    created: int = 0
    updated: int = 0
    items: list[ReadBase] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of records and how many match the filters."""

    items: list[ReadBase]
    total: int


class CrmService:
    """Lists, reads, writes, imports and exports CRM records for a user."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        committer: GroupCommitter,
        runner: ProcessorRunner,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._runner = runner
        self._clock = clock
        self._writer = CrmWriter(
            committer=committer,
            runner=runner,
            reading=self._reading,
            behind=lambda: ProjectionBehind("the CRM projection is behind; retry shortly"),
        )

    @property
    def writer(self) -> CrmWriter:
        """The group writer of single writes (its `groups` count is for benchmarks)."""
        return self._writer

    def find(
        self,
        entity: Entity,
        user: Principal,
        *,
        filters: dict[str, Any],
        q: str | None,
        sort: str,
        limit: int,
        offset: int,
        archived: bool,
    ) -> Page:
        """The records of `entity` the user may see, filtered, searched, sorted and paged."""
        with self._reading() as conn:
            items, total = records.list_records(
                conn,
                entity,
                filters=filters,
                q=q,
                sort=sort,
                limit=limit,
                offset=offset,
                archived=archived,
                restrict=owner_clause(conn, entity, user),
            )
        return Page(items=items, total=total)

    def get(self, entity: Entity, record_id: str, user: Principal) -> ReadBase:
        """One record the user may see; `RecordNotFound` otherwise."""
        with self._reading() as conn:
            return self._get(conn, entity, record_id, user)

    def _get(
        self, conn: sa.Connection, entity: Entity, record_id: str, user: Principal
    ) -> ReadBase:
        found = records.get_record(
            conn, entity, record_id, restrict=owner_clause(conn, entity, user)
        )
        if found is None:
            raise RecordNotFound(f"no {entity.name} record {record_id!r} / introuvable")
        return found

    # A write's checks and the names its events carry are read on one connection: on
    # PostgreSQL each connection taken from the pool is a ping and a rollback, round trips
    # that held the event loop (and every other request) for each of them.

    async def create(
        self, entity: Entity, data: dict[str, Any], user: Principal, actor: Actor
    ) -> ReadBase:
        """Create a record (owned by the user's staff member unless another owner is set)."""
        if entity.owner and data.get(entity.owner) is None and user.staff_id is not None:
            data = {**data, entity.owner: user.staff_id}
        record_id = new_id(entity)
        with self._reading() as conn:
            self._check(conn, entity, data, user, owner_changed=True)
            events = self._events(conn, entity, "create", record_id, data, actor, before=None)
        return await self._write(entity, record_id, events)

    async def update(
        self, entity: Entity, record_id: str, patch: dict[str, Any], user: Principal, actor: Actor
    ) -> ReadBase:
        """Change the fields in `patch` of a record the user may see (and may change)."""
        with self._reading() as conn:
            current = self._get(conn, entity, record_id, user)
            self._may_change(conn, entity, current, user)
            merged = {**current.model_dump(mode="json"), **patch}
            try:
                entity.create.model_validate({k: merged[k] for k in entity.create.model_fields})
            except ValueError as exc:
                raise Invalid(str(exc)) from exc
            owner_changed = bool(entity.owner and entity.owner in patch)
            self._check(
                conn, entity, patch, user, owner_changed=owner_changed, record_id=current.id
            )
            events = self._events(
                conn, entity, "update", current.id, patch, actor, before=current.model_dump()
            )
        return await self._write(entity, current.id, events)

    async def archive(
        self, entity: Entity, record_id: str, user: Principal, actor: Actor
    ) -> ReadBase:
        """Archive a record the user may see and change (kept, hidden from lists by default)."""
        with self._reading() as conn:
            current = self._get(conn, entity, record_id, user)
            self._may_change(conn, entity, current, user)
            events = self._events(
                conn, entity, "archive", current.id, {}, actor, before=current.model_dump()
            )
        return await self._write(entity, current.id, events)

    async def write_batch(
        self,
        entity: Entity,
        batch: list[dict[str, Any]],
        user: Principal,
        actor: Actor,
        *,
        mode: Mode,
    ) -> BatchOutcome:
        """Create or change up to `MAX_RECORDS` records all or nothing, each checked as the
        user's single write would be: one log append, answered once the projection applied it.
        """
        if not batch or len(batch) > MAX_RECORDS:
            raise Invalid(f"records: send 1 to {MAX_RECORDS} records per batch, not {len(batch)}")
        plan = await asyncio.to_thread(self._plan_batch, entity, batch, user, actor, mode)
        if not plan.ok:
            return BatchOutcome(entity=entity.name, errors=plan.errors)
        offsets = await self._append_and_wait(plan.events, endpoint=f"/api/{entity.name}/batch")
        with self._reading() as conn:
            table = entity.table
            rows = {
                row.id: entity.read.model_validate(dict(row._mapping))
                for row in conn.execute(sa.select(table).where(table.c.id.in_(plan.ids)))
            }
        versions = dict(zip(plan.ids, offsets, strict=False))
        missing = [i for i in plan.ids if i not in rows or rows[i].version != versions.get(i)]
        if missing:
            raise NotApplied(
                f"the batch was logged but {len(missing)} record(s) were not applied "
                f"(first: {missing[0]!r}): see /api/rejected"
            )
        return BatchOutcome(
            entity=entity.name,
            created=plan.created,
            updated=plan.updated,
            items=[rows[i] for i in plan.ids],
        )

    def _plan_batch(
        self,
        entity: Entity,
        batch: list[dict[str, Any]],
        user: Principal,
        actor: Actor,
        mode: Mode,
    ) -> batches.BatchPlan:
        with self._reading() as conn:
            return batches.plan(
                conn, entity, batch, user=user, actor=actor, now=self._clock.now(), mode=mode
            )

    def export(
        self,
        entity: Entity,
        actor: Actor,
        *,
        keep: Callable[[ReadBase], bool] | None = None,
        purpose: str | None = None,
    ) -> tuple[str, int]:
        """Every record of `entity` as CSV, and how many `keep` left out (a contact without
        consent to the export's `purpose`); recorded in the audit trail."""
        with self._reading() as conn:
            rows = records.iter_records(conn, entity)
        kept = rows if keep is None else [row for row in rows if keep(row)]
        details: dict[str, Any] = {
            "rows": len(kept),
            "personal_data": entity.personal,
            "via": "api",
        }
        if purpose is not None:
            details.update(purpose=purpose, skipped=len(rows) - len(kept))
        audit.record(
            engine=self._engine,
            actor=actor,
            action="export",
            entity=entity.name,
            at=self._clock.now(),
            details=details,
        )
        return csvfiles.render(entity, kept), len(rows) - len(kept)

    async def import_csv(self, entity: Entity, text: str, actor: Actor) -> ImportReport:
        """Import a CSV file all or nothing; the report lists every bad row when nothing
        was applied, and is returned once the projection has applied the rows otherwise."""
        report, events = await asyncio.to_thread(
            csvfiles.plan_import,
            engine=self._engine,
            entity=entity,
            text=text,
            actor=actor,
            now=self._clock.now(),
        )
        if report.ok:
            await self._append_and_wait(events, endpoint=f"/api/import/{entity.name}")
        return report

    def timeline(
        self,
        entity: Entity,
        record_id: str,
        user: Principal,
        *,
        kinds: list[Category] | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[TimelineItem]:
        """A contact's or an account's history, newest first, in the categories the user's
        role may read."""
        if not allowed(user.role, entity.name, "read"):
            raise Forbidden(f"role {user.role.value!r} may not read {entity.name}")
        wanted = set(kinds or CATEGORIES)
        categories = {c for c in wanted if allowed(user.role, RESOURCE_OF[c], "read")}
        with self._reading() as conn:
            found = records.get_record(
                conn, entity, record_id, restrict=owner_clause(conn, entity, user)
            )
            if found is None:
                raise RecordNotFound(f"no {entity.name} record {record_id!r} / introuvable")
            who = (
                who_for_contact(conn, record_id)
                if entity.name == "contacts"
                else who_for_account(conn, record_id)
            )
            return timeline(
                conn,
                who,
                categories=categories,
                since=since,
                until=until,
                limit=limit,
                restrict={e.table.name: owner_clause(conn, e, user) for e in ENTITIES.values()},
            )

    def _reading(self) -> sa.Connection:
        """A connection for reads only: on SQLite it does not take the write lock, so
        concurrent requests check and read back while the log's writer and the projection
        commit, instead of queueing behind them."""
        return self._engine.connect().execution_options(sqlite_immediate=False)

    def _may_change(
        self, conn: sa.Connection, entity: Entity, current: ReadBase, user: Principal
    ) -> None:
        """A record seen through its contact, account or deal (`Entity.via`), but owned by a
        colleague, is read-only: `Forbidden`."""
        if not entity.via or entity.owner is None:
            return
        if not may_assign(conn, user, getattr(current, entity.owner)):
            raise Forbidden(READ_ONLY_VIA.format(entity.name))

    def _check(
        self,
        conn: sa.Connection,
        entity: Entity,
        data: dict[str, Any],
        user: Principal,
        *,
        owner_changed: bool,
        record_id: str | None = None,
    ) -> None:
        linked = [k for k in PLAYBOOK_LINKS if entity.name == "tasks" and data.get(k) is not None]
        if linked:
            raise Invalid(
                f"{linked[0]}: set by the playbook run that created the task, not by hand "
                "/ renseigné par le playbook"
            )
        utm = data.get("utm_campaign") if entity.name == "campaigns" else None
        other = records.campaign_for_utm(conn, utm, excluding=record_id) if utm else None
        if other is not None:
            raise Invalid(
                f"utm_campaign: {utm!r} is already the UTM name of campaign {other!r}; "
                "a UTM name links one CRM campaign / nom UTM déjà utilisé"
            )
        if entity.owner and owner_changed and not may_assign(conn, user, data.get(entity.owner)):
            raise Forbidden(
                f"{entity.owner}: you may only assign records to yourself or your team "
                "/ attribution refusée"
            )
        # Only the entities this write refers to: for a salesperson or a manager each clause
        # reads the user's team (two queries), ten entities' worth on every write before.
        targets = {entity.refs[k] for k in entity.refs if data.get(k) is not None}
        restrict_for = {name: owner_clause(conn, ENTITIES[name], user) for name in targets}
        problems = records.missing_references(
            conn, entity, data, entities=ENTITIES, restrict_for=restrict_for
        )
        if problems:
            raise Invalid(problems)

    def _events(
        self,
        conn: sa.Connection,
        entity: Entity,
        operation: str,
        record_id: str,
        data: dict[str, Any],
        actor: Actor,
        *,
        before: dict[str, Any] | None,
    ) -> list[Event]:
        """What the write appends: its change and the milestones it reaches."""
        return write_events(
            entity=entity,
            operation=operation,
            record_id=record_id,
            data=data,
            before=before,
            actor=actor,
            now=self._clock.now(),
            names=records.names_for(conn, {**(before or {}), **data}),
        )

    async def _write(self, entity: Entity, record_id: str, events: list[Event]) -> ReadBase:
        try:
            return await self._writer.write(
                entity, record_id, events, endpoint=f"/api/{entity.name}"
            )
        except WriteNotApplied as exc:
            raise NotApplied(str(exc)) from exc

    async def _append_and_wait(self, events: list[Event], *, endpoint: str) -> list[int]:
        result = await self._committer.append(
            AppendJob(events=events, source=events[0].source, endpoint=endpoint)
        )
        try:
            await self._runner.wait_for(CRM_PROCESSOR, max(result.offsets))
        except TimeoutError as exc:
            raise ProjectionBehind("the CRM projection is behind; retry shortly") from exc
        return list(result.offsets)
