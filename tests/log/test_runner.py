"""The in-process processor runner: ordered batches, checkpoints, retries, at-least-once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import pytest
import sqlalchemy as sa

from vigie.events import Event
from vigie.log import ProcessorRunner, SqlEventLog

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _events(start: int, stop: int) -> list[Event]:
    return [
        Event(
            message_id=f"m{i}",
            type="track",
            source="web",
            event="Clicked",
            anonymous_id="a",
            timestamp=T0,
            received_at=T0,
        )
        for i in range(start, stop)
    ]


class Recorder:
    """A processor that remembers every batch it was handed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[list[int]] = []

    def process(self, events: Sequence[Event]) -> None:
        self.batches.append([e.offset or 0 for e in events])

    @property
    def offsets(self) -> list[int]:
        return [o for batch in self.batches for o in batch]


class Flaky(Recorder):
    """A processor that fails the first `failures` times it is called."""

    def __init__(self, name: str, failures: int) -> None:
        super().__init__(name)
        self.failures = failures

    def process(self, events: Sequence[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("projection store unavailable")
        super().process(events)


class _Offsets(msgspec.Struct, kw_only=True):
    """The only field `Picky` reads."""

    offset: int | None = None


class Picky(Recorder):
    """A processor that declares the fields it reads."""

    reads = _Offsets

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.shapes: set[type] = set()

    def process(self, events: Sequence[Event]) -> None:
        self.shapes.update(type(e) for e in events)
        super().process(events)


def test_a_processor_declaring_its_fields_gets_events_in_that_shape(engine: sa.Engine) -> None:
    """A processor with `reads` gets that Struct, others whole events, same offsets."""
    log = SqlEventLog(engine)
    log.append(_events(0, 7))
    picky, plain = Picky("picky"), Recorder("plain")
    ProcessorRunner(log, [picky, plain], batch_size=5).run_once()
    assert picky.shapes == {_Offsets}
    assert picky.offsets == plain.offsets == list(range(1, 8))


def test_processors_receive_batches_in_log_order(engine: sa.Engine) -> None:
    """Each processor gets every event once, in offset order, in batches of at most batch_size."""
    log = SqlEventLog(engine)
    log.append(_events(0, 25))
    first, second = Recorder("first"), Recorder("second")
    runner = ProcessorRunner(log, [first, second], batch_size=10)
    assert runner.run_once() == 50
    assert [len(b) for b in first.batches] == [10, 10, 5]
    assert first.offsets == second.offsets == list(range(1, 26))
    assert runner.run_once() == 0
    log.append(_events(25, 27))
    runner.run_once()
    assert first.offsets == list(range(1, 28))


def test_a_new_runner_resumes_from_the_saved_checkpoint(engine: sa.Engine) -> None:
    """After a restart a processor continues after its checkpoint, not from the start."""
    log = SqlEventLog(engine)
    log.append(_events(0, 5))
    ProcessorRunner(log, [Recorder("kpi")]).run_once()
    assert log.checkpoint("kpi") == 6
    log.append(_events(5, 8))
    restarted = Recorder("kpi")
    ProcessorRunner(SqlEventLog(engine), [restarted]).run_once()
    assert restarted.offsets == [6, 7, 8]


def test_a_failing_processor_retries_without_blocking_others(engine: sa.Engine) -> None:
    """A processor that raises keeps its position and gets the same batch again; others move on."""
    log = SqlEventLog(engine)
    log.append(_events(0, 3))
    flaky, steady = Flaky("flaky", failures=2), Recorder("steady")
    runner = ProcessorRunner(log, [flaky, steady])
    runner.run_once()
    assert steady.offsets == [1, 2, 3]
    assert flaky.offsets == [] and log.checkpoint("flaky") == 1
    runner.run_once()
    assert flaky.offsets == []
    runner.run_once()
    assert flaky.offsets == [1, 2, 3]
    assert log.checkpoint("flaky") == 4


def test_processor_names_are_unique(engine: sa.Engine) -> None:
    """Two processors cannot share a checkpoint name."""
    runner = ProcessorRunner(SqlEventLog(engine), [Recorder("kpi")])
    with pytest.raises(ValueError, match="kpi"):
        runner.add(Recorder("kpi"))


def test_run_forever_wakes_on_notify(engine: sa.Engine) -> None:
    """The background loop hands over newly committed events when notified."""
    log = SqlEventLog(engine)
    recorder = Recorder("live")
    runner = ProcessorRunner(log, [recorder])

    async def scenario() -> None:
        task = asyncio.create_task(runner.run_forever(poll_seconds=60))
        for _ in range(3000):
            if runner._wake is not None:
                break
            await asyncio.sleep(0.01)
        await asyncio.to_thread(log.append, _events(0, 4))
        runner.notify()
        for _ in range(3000):  # generous: the machine may be busy
            if recorder.offsets == [1, 2, 3, 4]:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert recorder.offsets == [1, 2, 3, 4]


def test_the_garbage_collector_is_back_after_each_batch_even_on_failure(engine: sa.Engine) -> None:
    """The collector, held back while a batch is processed, is enabled again afterwards."""
    log = SqlEventLog(engine)
    log.append(_events(0, 3))
    seen: list[bool] = []

    class Failing:
        name = "failing"

        def process(self, events: Sequence[Event]) -> None:
            seen.append(gc.isenabled())
            raise RuntimeError("boom")

    assert gc.isenabled()
    ProcessorRunner(log, [Failing(), Recorder("ok")]).run_once()
    assert seen == [False]
    assert gc.isenabled()
