"""Group commit for the CRM's single writes: concurrent requests share one log append, one
projection transaction, one wait for it and one read-back.

A request that has checked its write hands the events to `CrmWriter.write` and awaits its own
record. While a group is being appended, the writes that arrive wait together for the next
one, so a group is as large as the number of requests that came during the last: one client
waits for nothing, eight clients share the commits. A group waiting for the projection does
not hold the next one back, whose append overlaps it (the projection applies every group
committed by then in one transaction). Each write stays its own append in the
log's group commit (a write the log refuses fails alone) and its own event in the projection
(an event the projection cannot apply is set aside alone, under its own savepoint), so every
request gets its own record or its own error, and no write is ever half applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from vigie.crm.commands import RESERVED_SOURCE
from vigie.crm.entities import Entity, ReadBase
from vigie.crm.processor import CRM_ENDPOINT
from vigie.crm.processor import NAME as CRM_PROCESSOR
from vigie.events import Event
from vigie.log import GroupCommitter, ProcessorRunner
from vigie.log.eventlog import AppendJob, AppendResult
from vigie.store.schema import rejected_events


class WriteNotApplied(Exception):
    """A write the log holds but the projection did not apply (it is in the rejected events)."""


@dataclass
class _Write:
    entity: Entity
    record_id: str
    events: list[Event]
    endpoint: str
    answer: asyncio.Future[ReadBase] = field(repr=False)


class CrmWriter:
    """Writes single CRM records in groups; `write` answers with the record as applied.

    `reading` opens a connection for reads; `behind` is raised to every waiting request when
    the projection has not applied the group in `timeout` seconds.
    """

    def __init__(
        self,
        *,
        committer: GroupCommitter,
        runner: ProcessorRunner,
        reading: Callable[[], sa.Connection],
        behind: Callable[[], Exception],
        timeout: float = 30.0,
    ) -> None:
        self._committer = committer
        self._runner = runner
        self._reading = reading
        self._behind = behind
        self._timeout = timeout
        self._queued: list[_Write] = []
        self._task: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Task[None]] = set()
        self.groups = 0
        """How many groups were written (for tests and benchmarks)."""

    async def write(
        self, entity: Entity, record_id: str, events: list[Event], *, endpoint: str
    ) -> ReadBase:
        """Append the events of one write (its change first) with the writes queued beside it,
        wait until the projection applied them, and return this record as applied."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[ReadBase] = loop.create_future()
        self._queued.append(_Write(entity, record_id, events, endpoint, answer))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        """Append groups until no write is queued (a new request starts this again).

        The next group is appended as soon as this one is committed to the log, while this
        one waits for the projection and reads its records back: the stages of consecutive
        groups overlap (the projection applies whatever groups are committed in one
        transaction), instead of each group waiting for the whole of the one before it.
        """
        try:
            while self._queued:
                group, self._queued = self._queued, []
                self.groups += 1
                try:
                    logged = await self._append(group)
                except BaseException as exc:
                    self._fail(group, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                if logged:
                    finishing = asyncio.get_running_loop().create_task(self._finish(logged))
                    self._finishing.add(finishing)
                    finishing.add_done_callback(self._finishing.discard)
        finally:
            self._task = None

    async def _append(self, group: Sequence[_Write]) -> list[tuple[_Write, int]]:
        """Append the group in one transaction of the log's writer; each write stays a job of
        its own, so that one the log refuses fails alone. Returns the writes logged, each with
        the offset of its change."""
        submitted = [
            self._committer.submit(
                AppendJob(events=w.events, source=w.events[0].source, endpoint=w.endpoint)
            )
            for w in group
        ]
        results = await asyncio.gather(
            *(asyncio.wrap_future(f) for f in submitted), return_exceptions=True
        )
        logged: list[tuple[_Write, int]] = []
        for write, result in zip(group, results, strict=True):
            if isinstance(result, AppendResult):
                logged.append((write, result.offsets[0]))
            elif not write.answer.done():
                write.answer.set_exception(_as_error(result))
        return logged

    async def _finish(self, logged: Sequence[tuple[_Write, int]]) -> None:
        """Answer each write of a logged group once the projection has applied it."""
        try:
            await self._answer(logged)
        except BaseException as exc:
            self._fail([write for write, _ in logged], exc)
            if not isinstance(exc, Exception):
                raise

    @staticmethod
    def _fail(group: Sequence[_Write], exc: BaseException) -> None:
        for write in group:
            if not write.answer.done():
                write.answer.set_exception(_as_error(exc))

    async def _answer(self, logged: Sequence[tuple[_Write, int]]) -> None:
        try:
            await self._runner.wait_for(
                CRM_PROCESSOR, max(offset for _, offset in logged), timeout=self._timeout
            )
        except TimeoutError:
            for write, _ in logged:
                if not write.answer.done():
                    write.answer.set_exception(self._behind())
            return
        applied, set_aside = self._read_back(logged)
        for write, offset in logged:
            found = applied.get((write.entity.name, write.record_id))
            if write.answer.done():
                continue
            # A later write to the same record (in this group or since) moved its version on.
            if found is None or found.version < offset or write.events[0].message_id in set_aside:
                write.answer.set_exception(
                    WriteNotApplied(
                        f"the change was logged at offset {offset} but not applied: "
                        "see /api/rejected"
                    )
                )
            else:
                write.answer.set_result(found)

    def _read_back(
        self, logged: Sequence[tuple[_Write, int]]
    ) -> tuple[dict[tuple[str, str], ReadBase], set[str]]:
        """The records of the writes as stored now (one query per entity), and which of the
        writes whose record has moved past them the projection set aside (by message id)."""
        ids: dict[str, tuple[Entity, set[str]]] = {}
        for write, _ in logged:
            ids.setdefault(write.entity.name, (write.entity, set()))[1].add(write.record_id)
        found: dict[tuple[str, str], ReadBase] = {}
        with self._reading() as conn:
            for name, (entity, wanted) in ids.items():
                table = entity.table
                query = sa.select(table).where(table.c.id.in_(sorted(wanted)))
                for row in conn.execute(query):
                    found[(name, row.id)] = entity.read.model_validate(dict(row._mapping))
            moved = [
                w.events[0].message_id
                for w, offset in logged
                if (current := found.get((w.entity.name, w.record_id))) is not None
                and current.version > offset
            ]
            set_aside: set[str] = set()
            if moved:
                query = sa.select(rejected_events.c.message_id).where(
                    rejected_events.c.endpoint == CRM_ENDPOINT,
                    rejected_events.c.source == RESERVED_SOURCE,
                    rejected_events.c.message_id.in_(moved),
                )
                set_aside = {str(m) for m in conn.execute(query).scalars()}
        return found, set_aside


def _as_error(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else RuntimeError("the write was interrupted")
