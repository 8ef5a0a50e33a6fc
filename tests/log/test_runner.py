"""The in-process processor runner: ordered batches, checkpoints, retries, at-least-once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from vigie.events import Event
from vigie.log import ProcessorRunner, SqlEventLog
from vigie.log.deadletters import DeadLetter, MemoryDeadLetters, SqlDeadLetters

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


def test_shared_reads_keep_each_processor_s_shape(engine: sa.Engine) -> None:
    """Processors sharing reads still get their own shape, whichever read first."""
    log = SqlEventLog(engine)
    log.append(_events(0, 7))
    plain, picky, other = Recorder("plain"), Picky("picky"), Recorder("other")
    seen: list[set[type]] = []

    class Typed(Recorder):
        def process(self, events: Sequence[Event]) -> None:
            seen.append({type(e) for e in events})
            super().process(events)

    typed = Typed("typed")
    ProcessorRunner(log, [plain, picky, typed, other], batch_size=5).run_once()
    assert picky.shapes == {_Offsets} and seen and all(s == {Event} for s in seen)
    assert plain.offsets == picky.offsets == typed.offsets == other.offsets == list(range(1, 8))


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


def test_processing_leaves_the_garbage_collector_alone(engine: sa.Engine) -> None:
    """The runner, a library path, never switches the process's garbage collector: batches
    see it as the process set it (the server tunes it once, `web/tuning.py`)."""
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
    assert seen == [True]
    assert gc.isenabled()


class Reverser(Recorder):
    """A processor that reorders the list it is handed (which it is free to do)."""

    def process(self, events: Sequence[Event]) -> None:
        assert isinstance(events, list)
        events.reverse()
        self.batches.append(sorted(e.offset or 0 for e in events))


def test_processors_sharing_reads_each_get_every_event_in_order(engine: sa.Engine) -> None:
    """Processors that keep up, one that lags and one that reorders its list each get every
    event once, in log order, exactly as if each had read the log alone."""
    log = SqlEventLog(engine)
    log.append(_events(0, 12))
    log.save_checkpoint("lagging", 5)
    first, reverser, lagging = Recorder("first"), Reverser("reverser"), Recorder("lagging")
    runner = ProcessorRunner(log, [first, reverser, lagging], batch_size=5)
    runner.run_once()
    log.append(_events(12, 20))
    runner.run_once()
    assert first.offsets == reverser.offsets == list(range(1, 21))
    assert lagging.offsets == list(range(5, 21))
    assert all(len(batch) <= 5 for r in (first, reverser, lagging) for batch in r.batches)


class Gate(Recorder):
    """A processor whose first batch waits until the test opens the gate."""

    def __init__(self, name: str, journal: list[tuple[str, list[int]]]) -> None:
        super().__init__(name)
        self.journal = journal
        self.entered = threading.Event()
        self.gate = threading.Event()

    def process(self, events: Sequence[Event]) -> None:
        if not self.batches:
            self.entered.set()
            assert self.gate.wait(30)
        super().process(events)
        self.journal.append((self.name, [e.offset or 0 for e in events]))


class Journaled(Recorder):
    """A processor that notes its batches in a journal shared with others."""

    def __init__(self, name: str, journal: list[tuple[str, list[int]]]) -> None:
        super().__init__(name)
        self.journal = journal

    def process(self, events: Sequence[Event]) -> None:
        super().process(events)
        self.journal.append((self.name, [e.offset or 0 for e in events]))


def test_events_committed_while_a_later_processor_works_go_to_the_first_one_first(
    engine: sa.Engine,
) -> None:
    """The first processor (the rules) is not kept waiting by a slower one after it: events
    announced while the slow one works are handed to the first before the slow one's next batch."""
    log = SqlEventLog(engine)
    journal: list[tuple[str, list[int]]] = []
    rules, slow = Journaled("rules", journal), Gate("slow", journal)
    runner = ProcessorRunner(log, [rules, slow], batch_size=2)

    async def scenario() -> None:
        task = asyncio.create_task(runner.run_forever(poll_seconds=60))
        await asyncio.to_thread(log.append, _events(0, 2))
        runner.notify()
        assert await asyncio.to_thread(slow.entered.wait, 30)
        await asyncio.to_thread(log.append, _events(2, 4))
        runner.notify()
        slow.gate.set()
        for _ in range(3000):  # generous: the machine may be busy
            if slow.offsets == [1, 2, 3, 4]:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert journal.index(("rules", [3, 4])) < journal.index(("slow", [3, 4]))
    assert rules.offsets == slow.offsets == [1, 2, 3, 4]


def test_stopping_the_background_loop_saves_the_checkpoints(engine: sa.Engine) -> None:
    """Checkpoints held back while running are saved when the loop stops, so a restart
    resumes after the last processed event."""
    log = SqlEventLog(engine)
    recorder = Recorder("kpi")
    runner = ProcessorRunner(log, [recorder], checkpoint_seconds=3600)

    async def scenario() -> None:
        task = asyncio.create_task(runner.run_forever(poll_seconds=60))
        await asyncio.to_thread(log.append, _events(0, 3))
        runner.notify()
        await runner.wait_for("kpi", 3, timeout=30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert recorder.offsets == [1, 2, 3]
    assert log.checkpoint("kpi") == 4


def test_the_background_loop_hands_every_processor_every_event_of_many_small_commits(
    engine: sa.Engine,
) -> None:
    """Commits arriving while the loop works are all handed over, once and in order, to the
    processors that share reads as to one that lags behind them."""
    log = SqlEventLog(engine)
    log.append(_events(0, 7))
    log.save_checkpoint("lagging", 3)
    first, second, lagging = Recorder("first"), Recorder("second"), Recorder("lagging")
    runner = ProcessorRunner(log, [first, second, lagging], batch_size=4)

    async def scenario() -> None:
        task = asyncio.create_task(runner.run_forever(poll_seconds=60))
        for start in range(7, 157, 3):
            await asyncio.to_thread(log.append, _events(start, start + 3))
            runner.notify()
        await runner.wait_for("lagging", 157, timeout=60)
        await runner.wait_for("second", 157, timeout=60)
        await runner.wait_for("first", 157, timeout=60)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert first.offsets == second.offsets == list(range(1, 158))
    assert lagging.offsets == list(range(3, 158))
    assert log.checkpoint("first") == log.checkpoint("lagging") == 158


class CountingLog(SqlEventLog):
    """The SQL log, counting the events it reads (and so decodes), by shape."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.decoded: dict[type[Any], int] = {}

    def read_as(self, shape: type[Any], from_offset: int, limit: int = 1000) -> list[Any]:
        events = super().read_as(shape, from_offset, limit)
        self.decoded[shape] = self.decoded.get(shape, 0) + len(events)
        return events


def test_processors_keeping_pace_read_each_event_once(engine: sa.Engine) -> None:
    """Processors at the same position share one read and decoding of each batch, however
    far behind they are, and each still gets every event once, in order, in its own shape."""
    log = CountingLog(engine)
    log.append(_events(0, 40))
    first, picky, last = Recorder("first"), Picky("picky"), Reverser("last")
    ProcessorRunner(log, [first, picky, last], batch_size=5).run_once()
    assert first.offsets == picky.offsets == last.offsets == list(range(1, 41))
    assert picky.shapes == {_Offsets}
    assert log.decoded == {Event: 40, _Offsets: 40}


def test_a_processor_taking_whole_events_is_handed_those_just_read(engine: sa.Engine) -> None:
    """A processor that reads a few fields but `takes_events` gets the whole events the one
    before it just read, instead of the log's bodies decoded again in its own shape; alone,
    it still reads its own shape."""

    class Obliging(Picky):
        takes_events = True

    log = CountingLog(engine)
    log.append(_events(0, 12))
    first, obliging = Recorder("first"), Obliging("obliging")
    ProcessorRunner(log, [first, obliging], batch_size=5).run_once()
    assert obliging.offsets == first.offsets == list(range(1, 13))
    assert obliging.shapes == {Event}
    assert log.decoded[Event] == 12 and not log.decoded.get(_Offsets)
    log.append(_events(12, 15))
    alone = Obliging("alone")
    ProcessorRunner(log, [alone], batch_size=5).run_once()
    assert alone.shapes == {_Offsets} and alone.offsets == list(range(1, 16))


def test_a_processor_taking_whole_events_reads_them_for_those_after_it(
    engine: sa.Engine,
) -> None:
    """Leading the processors after it, one that `takes_events` reads whole events once for
    all of them, rather than its own Struct and then the whole events again."""

    class Obliging(Picky):
        takes_events = True

    log = CountingLog(engine)
    log.append(_events(0, 12))
    obliging, after = Obliging("obliging"), Recorder("after")
    ProcessorRunner(log, [obliging, after], batch_size=5).run_once()
    assert obliging.offsets == after.offsets == list(range(1, 13))
    assert log.decoded[Event] == 12 and not log.decoded.get(_Offsets)


def test_the_background_loop_reads_once_for_the_processors_after_the_first(
    engine: sa.Engine,
) -> None:
    """Behind the first processor (the rules, which reads alone so as never to wait), the
    processors keeping pace share their reads: the log is read at most twice per event, not
    once per processor."""
    log = CountingLog(engine)
    log.append(_events(0, 100))
    processors = [Recorder(f"p{i}") for i in range(4)]
    runner = ProcessorRunner(log, processors, batch_size=10)

    async def scenario() -> None:
        task = asyncio.create_task(runner.run_forever(poll_seconds=60))
        runner.notify()
        for processor in processors:
            await runner.wait_for(processor.name, 100, timeout=60)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert all(p.offsets == list(range(1, 101)) for p in processors)
    assert log.decoded[Event] <= 200


def test_a_failing_processor_among_those_sharing_reads_holds_back_no_other(
    engine: sa.Engine,
) -> None:
    """A processor failing on a batch it was handed with others retries on its own; the
    ones before and after it go on, and it ends with every event once."""
    log = SqlEventLog(engine)
    log.append(_events(0, 12))
    first, flaky, last = Recorder("first"), Flaky("flaky", failures=1), Recorder("last")
    runner = ProcessorRunner(log, [first, flaky, last], batch_size=5)
    runner.run_once()
    assert first.offsets == last.offsets == list(range(1, 13))
    runner.run_once()
    assert flaky.offsets == list(range(1, 13))


class FailsWhileMoreArrive(Picky):
    """A processor failing once, while more events are committed meanwhile."""

    def __init__(self, name: str, log: SqlEventLog) -> None:
        super().__init__(name)
        self.log, self.failed = log, False

    def process(self, events: Sequence[Event]) -> None:
        if not self.failed:
            self.failed = True
            self.log.append(_events(5, 10))
            raise RuntimeError("the store is briefly away")
        super().process(events)


def test_a_follower_handed_an_older_shorter_read_misses_none_of_the_leader_s(
    engine: sa.Engine,
) -> None:
    """A follower handed on part of the leader's batch from an earlier, shorter read of its
    own shape (made before more events were committed) reads the rest afterwards: it is
    not moved past events it was never given."""
    log = SqlEventLog(engine)
    log.append(_events(0, 5))
    failing = FailsWhileMoreArrive("failing", log)
    leader, follower = Recorder("leader"), Picky("follower")
    runner = ProcessorRunner(log, [failing, leader, follower], batch_size=10, backoff_seconds=0)
    runner.run_once()
    runner.run_once()
    assert leader.offsets == list(range(1, 11))
    assert follower.offsets == list(range(1, 11))
    assert log.checkpoint("follower") == 11


class Acting(Recorder):
    """A processor whose batch with offset `acts_at` acted outside its projection."""

    def __init__(self, name: str, acts_at: int) -> None:
        super().__init__(name)
        self.acts_at = acts_at
        self.checkpoint_due = False

    def process(self, events: Sequence[Event]) -> None:
        super().process(events)
        if any(e.offset == self.acts_at for e in events):
            self.checkpoint_due = True


def test_a_processor_that_acted_has_its_checkpoint_saved_at_once(engine: sa.Engine) -> None:
    """Checkpoints are held back for a while, except after a batch that acted (an alert
    fired): a crash then does not replay it, so the action is not taken twice."""
    log = SqlEventLog(engine)
    acting, quiet = Acting("rules", acts_at=4), Recorder("crm")
    runner = ProcessorRunner(log, [acting, quiet], checkpoint_seconds=3600)
    log.append(_events(0, 3))
    runner._pass()
    log.append(_events(3, 6))
    runner._pass()
    assert acting.offsets == quiet.offsets == [1, 2, 3, 4, 5, 6]
    assert log.checkpoint("rules") == 7  # saved after the batch that acted
    assert log.checkpoint("crm") == 1  # held back: not saved yet
    assert not acting.checkpoint_due


def test_a_pass_saves_every_due_checkpoint_in_one_commit(engine: sa.Engine) -> None:
    """Once `checkpoint_seconds` have passed, a pass saves all its processors' positions
    together (issue 25): one commit, not one per processor."""
    log = SqlEventLog(engine)
    names = ["rules", "analytics", "crm", "chat"]
    runner = ProcessorRunner(log, [Recorder(n) for n in names], checkpoint_seconds=0.0)
    log.append(_events(0, 3))
    commits: list[bool] = []
    sa.event.listen(engine, "commit", lambda _conn: commits.append(True))
    runner._pass()
    assert len(commits) == 1
    assert [log.checkpoint(n) for n in names] == [4, 4, 4, 4]
    runner._pass()
    assert len(commits) == 1  # nothing moved: nothing written


class Poisoned(Recorder):
    """An idempotent processor (it skips offsets it has seen) that fails on `bad` offsets,
    after folding the events before them, as a real projection does mid-batch."""

    def __init__(self, name: str, bad: set[int]) -> None:
        super().__init__(name)
        self.bad = bad
        self.seen: list[int] = []
        self.calls = 0

    def process(self, events: Sequence[Event]) -> None:
        self.calls += 1
        for event in events:
            offset = event.offset or 0
            if self.seen and offset <= self.seen[-1]:
                continue
            if offset in self.bad:
                raise OverflowError(f"date value out of range at {offset}")
            self.seen.append(offset)


class Told:
    """A dead-letter listener that remembers what it was told."""

    def __init__(self) -> None:
        self.letters: list[tuple[int, int]] = []
        self.replays: list[tuple[str, int]] = []

    def dead_lettered(self, letter: DeadLetter, open: int) -> None:
        self.letters.append((letter.offset, open))

    def replayed(self, processor: str, open: int) -> None:
        self.replays.append((processor, open))


def test_a_poison_event_is_set_aside_and_the_processor_moves_on(engine: sa.Engine) -> None:
    """Issue 14: a batch failing on one event is retried, then handed one event at a time; the
    event at fault becomes a dead letter (processor, offset, error, event), every good event of
    the batch is processed exactly once, and the checkpoint reaches the end of the log."""
    log = SqlEventLog(engine)
    log.append(_events(0, 10))
    poisoned, told = Poisoned("analytics", bad={4, 8}), Told()
    letters = SqlDeadLetters(engine)
    runner = ProcessorRunner(
        log, [poisoned], dead_letters=letters, listeners=[told], retries=3, backoff_seconds=0
    )
    for _ in range(20):
        runner.run_once()
        if log.checkpoint("analytics") == 11:
            break
    assert log.checkpoint("analytics") == 11
    assert poisoned.seen == [1, 2, 3, 5, 6, 7, 9, 10]
    found = letters.list(processor="analytics")
    assert [(d.offset, d.attempts, d.open) for d in found] == [(8, 3, True), (4, 3, True)]
    assert found[0].error == "OverflowError: date value out of range at 8"
    assert "Traceback" in found[0].detail
    assert found[0].event is not None and found[0].event.message_id == "m7"
    assert told.letters == [(4, 1), (8, 2)]
    assert letters.open_counts() == {"analytics": 2}


def test_replaying_after_a_fix_resolves_the_dead_letters(engine: sa.Engine) -> None:
    """`replay` hands the open letters to their processor again: those that pass are resolved,
    one that fails again stays open with its new error, and the listeners hear the count."""
    log = SqlEventLog(engine)
    log.append(_events(0, 5))
    told, letters = Told(), SqlDeadLetters(engine)
    runner = ProcessorRunner(
        log,
        [Poisoned("crm", bad={2, 4})],
        dead_letters=letters,
        listeners=[told],
        retries=1,
        backoff_seconds=0,
    )
    runner.run_once()
    assert letters.open_counts() == {"crm": 2}
    fixed = Poisoned("crm", bad={4})
    outcomes = ProcessorRunner(
        log, [fixed], dead_letters=letters, listeners=[told], retries=1
    ).replay(processor="crm")
    assert [(o.letter.offset, o.resolved) for o in outcomes] == [(2, True), (4, False)]
    assert fixed.seen == [2]
    assert letters.open_counts() == {"crm": 1}
    assert [d.attempts for d in letters.list(status="open")] == [2]
    assert told.replays == [("crm", 1)]


def test_the_background_loop_waits_before_retrying(engine: sa.Engine) -> None:
    """A failing processor is not retried before its backoff is over (the others go on)."""
    log = SqlEventLog(engine)
    log.append(_events(0, 3))
    flaky, steady = Flaky("flaky", failures=1), Recorder("steady")
    runner = ProcessorRunner(log, [flaky, steady], backoff_seconds=60)
    runner._pass()
    runner._pass()
    assert flaky.failures == 0 and flaky.offsets == []
    assert steady.offsets == [1, 2, 3]
    runner._trouble["flaky"].due = 0.0
    runner._pass()
    assert flaky.offsets == [1, 2, 3]


def test_an_event_that_cannot_be_set_aside_is_not_skipped(engine: sa.Engine) -> None:
    """When the dead letter cannot be written, the processor stays on the event."""
    log = SqlEventLog(engine)
    log.append(_events(0, 2))

    class Broken(MemoryDeadLetters):
        def record(self, **kwargs: Any) -> DeadLetter:
            raise RuntimeError("store away")

    runner = ProcessorRunner(
        log, [Poisoned("p", bad={1})], dead_letters=Broken(), retries=1, backoff_seconds=0
    )
    runner.run_once()
    runner.run_once()
    assert log.checkpoint("p") == 1


def test_a_paused_processor_is_not_fed_and_resumes_from_its_saved_checkpoint(
    engine: sa.Engine,
) -> None:
    """Pausing saves the processor's checkpoint and stops feeding it (another process takes
    it over); resuming starts again from the checkpoint as saved then, not from memory."""
    log = SqlEventLog(engine)
    log.append(_events(0, 5))
    moving, staying = Recorder("moving"), Recorder("staying")
    runner = ProcessorRunner(log, [moving, staying], checkpoint_seconds=3600)
    runner._pass()
    runner.pause(["moving"])
    assert log.checkpoint("moving") == 6
    assert [p.name for p in runner.active] == ["staying"]
    log.append(_events(5, 8))
    runner._pass()
    assert moving.offsets == [1, 2, 3, 4, 5]
    assert staying.offsets == list(range(1, 9))
    log.save_checkpoint("moving", 8)  # another process took it over meanwhile
    runner.resume(["moving"])
    runner.run_once()
    assert moving.offsets == [1, 2, 3, 4, 5, 8]
