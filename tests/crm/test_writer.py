"""Concurrent single writes share one append and one projection transaction, and each gets its
own record or its own error: a write the projection refuses fails alone (issue 25)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log
from vigie.crm.commands import write_events
from vigie.crm.entities import ENTITIES, ReadBase
from vigie.crm.processor import CRM_ENDPOINT, CrmProcessor
from vigie.crm.writer import CrmWriter, WriteNotApplied
from vigie.log import GroupCommitter, ProcessorRunner, SqlEventLog
from vigie.store.schema import rejected_events

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(name="alice", role="sales", ip="192.0.2.7")
DEALS = ENTITIES["deals"]


class Behind(Exception):
    """What the test's writer raises when the projection is late."""


@asynccontextmanager
async def _writer(
    engine: sa.Engine, *, project: bool = True, timeout: float = 30.0
) -> AsyncIterator[tuple[CrmWriter, GroupCommitter]]:
    """A writer over the real log, group committer and CRM projection on `engine`."""
    log = SqlEventLog(engine)
    runner = ProcessorRunner(log, [CrmProcessor(engine)])
    committer = GroupCommitter(log, on_commit=lambda _results: runner.notify())
    committer.start()
    following = asyncio.create_task(runner.run_forever(poll_seconds=0.5)) if project else None
    writer = CrmWriter(
        committer=committer,
        runner=runner,
        reading=lambda: engine.connect().execution_options(sqlite_immediate=False),
        behind=lambda: Behind("late"),
        timeout=timeout,
    )
    try:
        yield writer, committer
    finally:
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        committer.stop()


def _create(n: int) -> tuple[str, list[Any]]:
    record_id = f"deal_{n:04d}"
    data = {"title": f"Caisse {n}", "account_id": "acc_1", "amount": 10.0 * n}
    events = write_events(
        entity=DEALS, operation="create", record_id=record_id, data=data, before=None,
        actor=ACTOR, now=NOW,
    )  # fmt: skip
    return record_id, events


def _update_of_a_missing_deal() -> tuple[str, list[Any]]:
    """A change the projection refuses: the deal it names does not exist."""
    before = {"title": "Ghost", "account_id": "acc_1", "stage": "qualification"}
    events = write_events(
        entity=DEALS, operation="update", record_id="deal_ghost", data={"stage": "won"},
        before=before, actor=ACTOR, now=NOW,
    )  # fmt: skip
    return "deal_ghost", events


def _run(engine: sa.Engine, body: Callable[[sa.Engine], Awaitable[None]]) -> None:
    asyncio.run(body(engine))


def test_concurrent_writes_share_a_group_and_a_refused_one_fails_alone(
    engine: sa.Engine,
) -> None:
    """Twenty writes at once: one group, nineteen records as applied, and the one the
    projection refuses gets its own error, is kept with its reason and left no trace in the
    tables or the audit trail."""

    async def body(engine: sa.Engine) -> None:
        async with _writer(engine) as (writer, _):
            writes = [_create(n) for n in range(19)]
            writes.insert(7, _update_of_a_missing_deal())
            answers = await asyncio.gather(
                *(
                    writer.write(DEALS, rid, events, endpoint="/api/deals")
                    for rid, events in writes
                ),
                return_exceptions=True,
            )
            assert writer.groups == 1
        refused = answers.pop(7)
        assert isinstance(refused, WriteNotApplied) and "/api/rejected" in str(refused)
        writes.pop(7)
        offsets = []
        for (record_id, _), answer in zip(writes, answers, strict=True):
            assert isinstance(answer, ReadBase), answer
            assert answer.id == record_id
            offsets.append(answer.version)
        assert len(set(offsets)) == 19
        with engine.connect() as conn:
            ids = set(conn.execute(sa.select(DEALS.table.c.id)).scalars())
            audited = list(conn.execute(sa.select(audit_log.c.entity_id)).scalars())
            kept = (
                conn.execute(
                    sa.select(rejected_events.c.reason).where(
                        rejected_events.c.endpoint == CRM_ENDPOINT
                    )
                )
                .scalars()
                .all()
            )
        assert ids == {rid for rid, _ in writes}
        assert sorted(audited) == sorted(ids)
        assert len(kept) == 1 and "deal_ghost" in kept[0] and "does not exist" in kept[0]

    _run(engine, body)


def test_writes_to_one_record_in_one_group_both_answer(engine: sa.Engine) -> None:
    """A record created and changed by two requests of the same group: both are applied, the
    first answers with the record as it is now, the second at its own version."""

    async def body(engine: sa.Engine) -> None:
        async with _writer(engine) as (writer, _):
            record_id, created = _create(1)
            before = {"title": "Caisse 1", "account_id": "acc_1", "amount": 10.0}
            changed = write_events(
                entity=DEALS, operation="update", record_id=record_id, data={"amount": 99.0},
                before=before, actor=ACTOR, now=NOW,
            )  # fmt: skip
            first, second = await asyncio.gather(
                writer.write(DEALS, record_id, created, endpoint="/api/deals"),
                writer.write(DEALS, record_id, changed, endpoint="/api/deals"),
            )
            assert writer.groups == 1
        assert first.version == second.version
        assert second.model_dump()["amount"] == 99.0

    _run(engine, body)


def test_one_client_waits_for_nothing_and_later_writes_form_new_groups(
    engine: sa.Engine,
) -> None:
    """Writes one after the other are one group each, every one answered at its version."""

    async def body(engine: sa.Engine) -> None:
        async with _writer(engine) as (writer, _):
            versions = []
            for n in range(3):
                record_id, events = _create(n)
                found = await writer.write(DEALS, record_id, events, endpoint="/api/deals")
                versions.append(found.version)
            assert writer.groups == 3
        assert versions == sorted(versions) and len(set(versions)) == 3

    _run(engine, body)


def test_a_late_projection_answers_every_waiting_request(engine: sa.Engine) -> None:
    """When the projection does not apply the group in time, each request of the group gets
    the `behind` error (its write is logged), and the writer serves the next group."""

    async def body(engine: sa.Engine) -> None:
        async with _writer(engine, project=False, timeout=0.3) as (writer, _):
            answers = await asyncio.gather(
                *(writer.write(DEALS, *_create(n), endpoint="/api/deals") for n in range(3)),
                return_exceptions=True,
            )
            assert all(isinstance(a, Behind) for a in answers)
            later = await asyncio.gather(
                writer.write(DEALS, *_create(9), endpoint="/api/deals"), return_exceptions=True
            )
            assert isinstance(later[0], Behind)
            assert writer.groups == 2
        assert SqlEventLog(engine).last_offset() >= 4

    _run(engine, body)


@pytest.mark.parametrize("clients", [8])
def test_every_concurrent_client_reads_its_own_write(engine: sa.Engine, clients: int) -> None:
    """Clients writing in turns while others write: each answer is its own record, as sent."""

    async def body(engine: sa.Engine) -> None:
        async with _writer(engine) as (writer, _):

            async def client(k: int) -> list[ReadBase]:
                out = []
                for n in range(5):
                    record_id, events = _create(100 * k + n)
                    out.append(await writer.write(DEALS, record_id, events, endpoint="/api/deals"))
                return out

            results = await asyncio.gather(*(client(k) for k in range(clients)))
            assert writer.groups < clients * 5
        for k, answers in enumerate(results):
            for n, found in enumerate(answers):
                assert found.id == f"deal_{100 * k + n:04d}"
                assert found.model_dump()["amount"] == 10.0 * (100 * k + n)

    _run(engine, body)


def test_the_next_group_is_logged_while_the_last_waits_for_the_projection(
    engine: sa.Engine,
) -> None:
    """A group waiting for the projection does not hold the next one back: the next group is
    appended to the log meanwhile, and the projection then answers both, each request its
    own record."""

    async def body(engine: sa.Engine) -> None:
        log = SqlEventLog(engine)
        runner = ProcessorRunner(log, [CrmProcessor(engine)])
        committer = GroupCommitter(log)
        committer.start()
        writer = CrmWriter(
            committer=committer,
            runner=runner,
            reading=lambda: engine.connect().execution_options(sqlite_immediate=False),
            behind=lambda: Behind("late"),
        )
        try:
            first = [
                asyncio.create_task(writer.write(DEALS, *_create(n), endpoint="/api/deals"))
                for n in range(3)
            ]
            while log.last_offset() < 3:
                await asyncio.sleep(0.01)
            second = asyncio.create_task(writer.write(DEALS, *_create(9), endpoint="/api/deals"))
            while log.last_offset() < 4:
                await asyncio.sleep(0.01)
            assert writer.groups == 2
            assert not any(task.done() for task in [*first, second])
            following = asyncio.create_task(runner.run_forever(poll_seconds=0.05))
            answers = await asyncio.gather(*first, second)
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        finally:
            committer.stop()
        assert [a.id for a in answers] == ["deal_0000", "deal_0001", "deal_0002", "deal_0009"]
        assert [a.version for a in answers] == sorted(a.version for a in answers)

    _run(engine, body)
