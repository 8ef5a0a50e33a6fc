"""Runs processors over the log: each reads from its own checkpoint, in batches.

Delivery is at-least-once: the checkpoint moves after a batch is processed, so a crash
between the two replays the batch. Projections must therefore be idempotent.

A processor that fails on a batch gets it again with backoff (a store that was briefly
away); after `retries` failures the batch is handed one event at a time to find the event at
fault, which after its own retries is set aside as a dead letter (`vigie.log.deadletters`)
while the processor goes on. When nothing fails, none of this costs anything.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from vigie.events import Event
from vigie.log.deadletters import DeadLetter, DeadLetterListener, DeadLetters, MemoryDeadLetters
from vigie.log.eventlog import DurableConsumers, EventLog

logger = logging.getLogger(__name__)


RECENT_BATCHES = 8
RETRIES = 4
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
CHECKPOINT_POLL_SECONDS = 0.1


def _offset(event: Any) -> int:
    offset: int | None = event.offset
    return offset or 0


class Processor(Protocol):
    """Something that builds a projection from events, named for its checkpoint.

    A processor that uses a few fields of every event may set `reads` to a Struct declaring
    just those fields of `Event` (same names and types, `offset` included): the runner then
    hands it events decoded as that Struct, which skips the rest and is faster. One that
    also sets `takes_events` accepts whole events in their place: it is handed those another
    processor just read rather than decoding the same bodies again.
    """

    name: str

    def process(self, events: Sequence[Event]) -> None: ...


@dataclass
class _Trouble:
    """A processor failing at `position`: how often it tried, when it may try again, and up to
    which offset it is handed one event at a time (the last offset of the batch that failed)."""

    position: int
    attempts: int = 0
    due: float = 0.0
    isolate_to: int = 0


class ReplayOutcome(msgspec.Struct, kw_only=True):
    """What replaying one dead letter gave: resolved, or the error it failed with again."""

    letter: DeadLetter
    resolved: bool
    error: str | None = None


class ProcessorRunner:
    """Feeds every registered processor the events past its checkpoint.

    Processors are served in the order they were registered, and an earlier one takes
    precedence: while `run_forever` feeds a later one, newly committed events go to the
    earlier ones first (the server registers the rules first, so that an alert does not
    wait for slower projections).

    `checkpoint_seconds` is how often, at most, `run_forever` saves a processor's checkpoint
    (`run_once` always saves before it returns). Each save is a write to the store, which
    waits behind the log's writer; saving after every batch cost three writes per commit.
    A crash replays what came after the saved checkpoint, as delivery is at-least-once. A
    processor whose batch acted outside its own projection sets `checkpoint_due`, and its
    checkpoint is saved right after that batch.

    A failing batch is tried `retries` times, `backoff_seconds` apart and doubling (up to
    `MAX_BACKOFF_SECONDS`; `run_once` does not wait), then one event at a time: the events
    that pass are processed once (projections skip what they have seen by offset) and the
    one that still fails after `retries` tries is recorded in `dead_letters`, the
    `listeners` are told, and the processor goes on. If the letter cannot be recorded, the
    processor stays where it is and tries again: nothing is skipped without a trace.
    """

    def __init__(
        self,
        log: EventLog,
        processors: Sequence[Processor] = (),
        *,
        batch_size: int = 5000,
        checkpoint_seconds: float = 1.0,
        dead_letters: DeadLetters | None = None,
        listeners: Sequence[DeadLetterListener] = (),
        retries: int = RETRIES,
        backoff_seconds: float = BACKOFF_SECONDS,
    ) -> None:
        self.log = log
        self.processors: list[Processor] = list(processors)
        self.batch_size = batch_size
        self.checkpoint_seconds = checkpoint_seconds
        self.dead_letters: DeadLetters = dead_letters or MemoryDeadLetters()
        self.listeners = list(listeners)
        self.retries = max(1, retries)
        self.backoff_seconds = backoff_seconds
        self._trouble: dict[str, _Trouble] = {}
        self._paused: set[str] = set()
        # Since this runner started, per processor: for `/metrics` (`vigie.log.progress`).
        self.processed: dict[str, int] = {}
        self.dead_lettered: dict[str, int] = {}
        self._positions: dict[str, int] = {}
        # Per processor reading one partition of the log: the log's last offset when it last
        # found nothing more of its partition (it is caught up to there, for lags).
        self._idle_to: dict[str, int] = {}
        self._saved: dict[str, tuple[int, float]] = {}
        # The last batches read from the log: their shape, and whether each reached its end.
        self._recent: deque[tuple[type[Any], list[Any], bool]] = deque(maxlen=RECENT_BATCHES)
        self._waiting = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pausing = threading.Event()
        self._progress: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, processor: Processor) -> None:
        """Register another processor; it starts from its saved checkpoint."""
        if any(p.name == processor.name for p in self.processors):
            raise ValueError(f"a processor named {processor.name!r} is already registered")
        self.processors.append(processor)

    @property
    def active(self) -> list[Processor]:
        """The processors this runner feeds now (not paused), in order."""
        return [p for p in self.processors if p.name not in self._paused]

    def pause(self, names: Sequence[str]) -> None:
        """Stop feeding the processors `names` (another process takes them over): a batch
        under way finishes (a pass stops after it), and their checkpoints are saved first."""
        self._pausing.set()
        try:
            with self._lock:
                self._pausing.clear()
                for name in names:
                    self._save([name], 0.0)
                    self._paused.add(name)
                    self._forget(name)
        finally:
            self._pausing.clear()

    def resume(self, names: Sequence[str]) -> None:
        """Feed the processors `names` again, from their saved checkpoints."""
        with self._lock:
            for name in names:
                self._paused.discard(name)
                self._forget(name)
        self.notify()

    def _forget(self, name: str) -> None:
        """Drop what this runner knows of `name`'s position: it reads its checkpoint next."""
        if isinstance(self.log, DurableConsumers):
            self.log.release(name)
        self._positions.pop(name, None)
        self._idle_to.pop(name, None)
        self._saved.pop(name, None)
        self._trouble.pop(name, None)

    def run_once(self) -> int:
        """Process everything available now and save the checkpoints; returns how many
        events were handed over."""
        handed = 0
        with self._lock:
            active = self.active
            for index, processor in enumerate(active):
                handed += self._drain(processor, followers=self._followers(active, index))
            self._save([p.name for p in self.active], 0.0)
            self._forget_reads()
        return handed

    def _followers(self, active: Sequence[Processor], index: int) -> Sequence[Processor]:
        """The processors that may share the batches of `active[index]`: those after it, on
        a log read through shared reads (a durable consumer per processor reads alone)."""
        if isinstance(self.log, DurableConsumers):
            return ()
        return active[index + 1 :]

    def save_checkpoints(self) -> None:
        """Save every processor's position that is not saved yet (in one transaction)."""
        with self._lock:
            self._save([p.name for p in self.active], 0.0)

    def _save_after(self, processor: Processor) -> None:
        """Save `processor`'s checkpoint if `checkpoint_seconds` have passed, or at once when
        it says its last batches acted outside its own projection (`checkpoint_due`: an alert
        fired, say), so that a crash does not replay those batches and act twice. The others
        are saved together at the end of the pass (`_pass`), one commit for all of them."""
        if getattr(processor, "checkpoint_due", False):
            setattr(processor, "checkpoint_due", False)  # noqa: B010 (not part of the Protocol)
            self._save([processor.name], 0.0)

    def _save(self, names: Sequence[str], within: float) -> None:
        """Save the positions of `names` that moved and were last saved `within` seconds ago
        or earlier, in one call to the log."""
        now = time.monotonic()
        due: dict[str, int] = {}
        for name in names:
            position = self._positions.get(name)
            if position is None:
                continue
            saved, at = self._saved.get(name, (None, 0.0))
            if position == saved or (saved is not None and now - at < within):
                continue
            due[name] = position
        if not due:
            return
        self.log.save_checkpoints(due)
        for name, position in due.items():
            self._saved[name] = (position, now)

    def _drain(
        self,
        processor: Processor,
        *,
        live: bool = False,
        until_woken: bool = False,
        followers: Sequence[Processor] = (),
        earlier: Sequence[Processor] = (),
    ) -> int:
        """Hand `processor` every event past its position.

        `live` (the background loop, which a commit always wakes again) stops at the first
        read that reached the end of the log instead of reading once more to find nothing;
        `until_woken` also stops after the batch during which new events were announced.

        Each batch then goes to the `followers` (the processors after it) that stand inside
        it, in order, so that processors keeping pace read and decode each event once rather
        than one after the other; new events announced meanwhile go to the `earlier`
        processors between two followers.
        """
        position = self._position(processor)
        handed = 0
        shape: type[Any] = getattr(processor, "reads", Event)
        if followers and getattr(processor, "takes_events", False):
            shape = Event  # read for the whole group, which then decodes nothing again
        trouble = self._trouble.get(processor.name)
        if trouble is not None and live and trouble.due > time.monotonic():
            return 0  # backing off
        while True:
            events, at_end = self._read(processor, shape, position)
            if not events:
                break
            if trouble is not None and position <= trouble.isolate_to:
                at_end = at_end and len(events) == 1
                events = events[:1]
            last, count = events[-1].offset, len(events)
            assert last is not None
            try:
                processor.process(events)
            except Exception as exc:
                trouble = self._trouble.setdefault(processor.name, _Trouble(position))
                moved = self._failed(processor, trouble, events, exc)
                del events
                if moved is None:
                    break
                position = moved
                self._positions[processor.name] = position
                continue
            first, position = position, last + 1
            handed += count
            self.processed[processor.name] = self.processed.get(processor.name, 0) + count
            del events
            if trouble is not None:
                trouble = self._passed(processor.name, trouble, position)
            self._positions[processor.name] = position
            if followers:
                handed += self._hand_on(followers, shape, first, last, earlier)
            if (live and at_end) or (until_woken and self._wake.is_set()):
                break
            if live and self._interrupted():
                break  # stopping, or handing processors over: the rest is for later
        return handed

    def _position(self, processor: Processor) -> int:
        """Where `processor` reads next, from its saved checkpoint the first time."""
        position = self._positions.get(processor.name)
        if position is None:
            position = self.log.checkpoint(processor.name)
            self._saved[processor.name] = (position, time.monotonic())
            self._positions[processor.name] = position
        return position

    def _hand_on(
        self,
        followers: Sequence[Processor],
        read_as: type[Any],
        first: int,
        last: int,
        earlier: Sequence[Processor],
    ) -> int:
        """Hand each of `followers` whose position lies in `first..last` (a batch a processor
        before them just took, decoded as `read_as`) its part of that batch, in order; returns
        the events handed.

        The batch is still among the recent reads, so a follower reading as the leader did
        decodes nothing again, nor does one that `takes_events` when the batch holds whole
        events. A follower behind the batch, or backing off after a failure, reads on its own
        later.
        """
        handed = 0
        for follower in followers:
            if earlier and self._wake.is_set():
                handed += self._catch_up(earlier)
            position = self._position(follower)
            if not first <= position <= last or follower.name in self._trouble:
                continue
            shape: type[Any] = getattr(follower, "reads", Event)
            if read_as is Event and getattr(follower, "takes_events", False):
                shape = Event
            events, _ = self._read(follower, shape, position)
            events = events[: bisect.bisect_right(events, last, key=_offset)]
            if not events:
                continue
            # Past the last event handed, not the leader's `last`: a batch of the follower's
            # shape read earlier in this pass, when the log was shorter, can end before it
            # (taken before `process`, which may reorder the list it is handed).
            count, after = len(events), _offset(events[-1]) + 1
            try:
                follower.process(events)
            except Exception as exc:
                trouble = self._trouble.setdefault(follower.name, _Trouble(position))
                moved = self._failed(follower, trouble, events, exc)
                if moved is not None:
                    self._positions[follower.name] = moved
                continue
            del events
            handed += count
            self.processed[follower.name] = self.processed.get(follower.name, 0) + count
            self._positions[follower.name] = after
            self._save_after(follower)
        self._progressed()
        return handed

    def _catch_up(self, earlier: Sequence[Processor]) -> int:
        """Hand the `earlier` processors (the rules first) the events announced since they
        were last woken."""
        self._wake.clear()
        handed = 0
        for processor in earlier:
            handed += self._drain(processor, live=True)
            self._save_after(processor)
        self._progressed()
        return handed

    def _interrupted(self) -> bool:
        return self._stopping.is_set() or self._pausing.is_set()

    def _passed(self, name: str, trouble: _Trouble, position: int) -> _Trouble | None:
        """A batch passed: the trouble is over past the batch that failed."""
        if position > trouble.isolate_to:
            del self._trouble[name]
            return None
        trouble.position, trouble.attempts = position, 0
        return trouble

    def _failed(
        self, processor: Processor, trouble: _Trouble, events: list[Any], exc: Exception
    ) -> int | None:
        """Count a failure at the batch's first offset; returns where to go on at once (past
        a dead letter, or the same offset to hand it alone), or None to wait and retry."""
        position: int = events[0].offset
        if trouble.position != position:
            trouble.position, trouble.attempts = position, 0
        trouble.attempts += 1
        name = processor.name
        if trouble.attempts < self.retries:
            delay = min(self.backoff_seconds * 2 ** (trouble.attempts - 1), MAX_BACKOFF_SECONDS)
            trouble.due = time.monotonic() + delay
            log = logger.exception if trouble.attempts == 1 else logger.warning
            log("processor %s failed at offset %s (try %s of %s): %s; retrying in %.1fs",
                name, position, trouble.attempts, self.retries, exc, delay)  # fmt: skip
            return None
        if len(events) > 1:
            # The batch keeps failing: hand its events one at a time to find the one at fault.
            trouble.isolate_to = events[-1].offset
            trouble.attempts, trouble.due = 0, 0.0
            return position
        try:
            letter = self.dead_letters.record(
                processor=name,
                offset=position,
                event=self._full_event(position),
                error=f"{type(exc).__name__}: {exc}",
                detail="".join(traceback.format_exception(exc)),
                attempts=trouble.attempts,
            )
        except Exception:
            logger.exception("could not set aside offset %s of processor %s", position, name)
            trouble.due = time.monotonic() + MAX_BACKOFF_SECONDS
            return None
        logger.error("processor %s set offset %s aside after %s tries: %s",
                     name, position, trouble.attempts, exc)  # fmt: skip
        self.dead_lettered[name] = self.dead_lettered.get(name, 0) + 1
        self._tell(letter)
        trouble.attempts, trouble.due = 0, 0.0
        if position + 1 > trouble.isolate_to:
            del self._trouble[name]
        return position + 1

    def _full_event(self, offset: int) -> Event | None:
        """The whole event at `offset`, as the log holds it (the processor may read a part)."""
        found = self.log.read(offset, 1)
        return found[0] if found and found[0].offset == offset else None

    def _tell(self, letter: DeadLetter) -> None:
        try:
            open_now = self.dead_letters.open_counts().get(letter.processor, 1)
        except Exception:
            open_now = 1
        for listener in self.listeners:
            try:
                listener.dead_lettered(letter, open_now)
            except Exception:
                logger.exception("a dead-letter listener failed")

    def replay(
        self, *, processor: str | None = None, letter_id: int | None = None, limit: int = 1000
    ) -> list[ReplayOutcome]:
        """Hand the open dead letters (of `processor`, or the one `letter_id`) to their
        processors again, oldest first; each that passes is marked resolved.

        Run it after fixing what failed. Projections kept in the store (the CRM) take the
        event now; those rebuilt from the log when the server starts (analytics, the rules'
        windows) take it at that start, which is why a replay runs on fresh processors.
        """
        letters = self.dead_letters.list(
            processor=processor, status="open", letter_id=letter_id, limit=limit
        )
        by_name = {p.name: p for p in self.processors}
        outcomes: list[ReplayOutcome] = []
        with self._lock:
            for letter in reversed(letters):
                target = by_name.get(letter.processor)
                if target is None:
                    error = f"no processor named {letter.processor!r} runs here"
                    outcomes.append(ReplayOutcome(letter=letter, resolved=False, error=error))
                    continue
                shape: type[Any] = getattr(target, "reads", Event)
                events = [
                    e
                    for e in self.log.read_as(shape, letter.offset, 1)
                    if e.offset == letter.offset
                ]
                try:
                    if not events:
                        raise LookupError(f"offset {letter.offset} is no longer in the log")
                    target.process(events)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    self.dead_letters.record(
                        processor=letter.processor,
                        offset=letter.offset,
                        event=letter.event,
                        error=error,
                        detail="".join(traceback.format_exception(exc)),
                        attempts=1,
                    )
                    outcomes.append(ReplayOutcome(letter=letter, resolved=False, error=error))
                    continue
                self.dead_letters.resolve(letter.id)
                outcomes.append(ReplayOutcome(letter=letter, resolved=True))
        open_counts = self.dead_letters.open_counts()
        for name in {o.letter.processor for o in outcomes}:
            for listener in self.listeners:
                try:
                    listener.replayed(name, open_counts.get(name, 0))
                except Exception:
                    logger.exception("a dead-letter listener failed")
        return outcomes

    def _read(
        self, processor: Processor, shape: type[Any], position: int
    ) -> tuple[list[Any], bool]:
        """Up to a batch of events from `position`, decoded as `shape`, and whether they
        reached the end of the log when it was read.

        On a log that keeps a durable consumer per processor (JetStream), the processor
        reads through its own, which its saved checkpoints acknowledge; one that names a
        `partition` of the log reads that partition's events only.

        They come out of one of the last batches read in this pass in the same shape when it
        holds `position` (processors share one read and decoding of each event, also while
        catching up), else from the log. The log is append-only and in offset order, so the
        part of an earlier batch from `position` on is what the log itself would return first.
        """
        if isinstance(self.log, DurableConsumers):
            partition: int | None = getattr(processor, "partition", None)
            # Read before: every event of the partition up to it is delivered by then.
            end = self.log.last_offset() if partition is not None else 0
            events = self.log.consume(
                processor.name, shape, position, self.batch_size, partition=partition
            )
            at_end = len(events) < self.batch_size
            if partition is not None and at_end:
                self._idle_to[processor.name] = end
            return events, at_end
        for read_as, recent, at_end in self._recent:
            if read_as is shape and _offset(recent[0]) <= position <= _offset(recent[-1]):
                start = bisect.bisect_left(recent, position, key=_offset)
                end = start + self.batch_size
                return recent[start:end], at_end and end >= len(recent)
        events = self.log.read_as(shape, position, self.batch_size)
        at_end = len(events) < self.batch_size
        if events:
            self._recent.append((shape, events, at_end))
        return events[:], at_end

    def _forget_reads(self) -> None:
        """Drop the events read in this pass (kept for the other processors' reads only
        while it lasts: an erasure in between must reach the next pass's reads)."""
        self._recent.clear()
        forget = getattr(self.log, "forget_decoded", None)
        if forget is not None:
            forget()

    def _pass(self) -> int:
        """Bring every processor up to date, earlier ones first whenever events arrive."""
        handed = 0
        with self._lock:
            active = self.active
            for index, processor in enumerate(active):
                if self._interrupted():
                    break
                # The first (the rules) takes each batch alone, and so never waits for the
                # slower processors after it; from the second on, those keeping pace share it.
                earlier = active[:index]
                followers = self._followers(active, index) if index else ()
                while True:
                    moved = self._drain(
                        processor,
                        live=True,
                        until_woken=index > 0,
                        followers=followers,
                        earlier=earlier,
                    )
                    handed += moved
                    self._save_after(processor)
                    # Nothing moved (up to date, or failing): the ones after it come next.
                    if not (moved and index and self._wake.is_set()) or self._interrupted():
                        break
                    handed += self._catch_up(earlier)
                self._progressed()
            self._save([p.name for p in active], self.checkpoint_seconds)
            self._forget_reads()
        return handed

    def _follow(self, poll_seconds: float) -> None:
        """The processors' thread: a pass whenever woken, or every `poll_seconds` (sooner when
        a failing processor's retry is due)."""
        while not self._stopping.is_set():
            wait = poll_seconds
            if self._trouble:
                soonest = min(t.due for t in list(self._trouble.values()))
                wait = max(0.05, min(wait, soonest - time.monotonic()))
            woken = self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._pass()
                if not woken:
                    # Quiet for a while: nothing is gained by holding checkpoints back.
                    self.save_checkpoints()
            except Exception:
                logger.exception("the processors could not read the event log; will retry")
                self._stopping.wait(poll_seconds)
        try:
            self.save_checkpoints()
        except Exception:
            logger.exception("saving the processors' checkpoints at shutdown failed")

    def _progressed(self) -> None:
        """Tell the waiters of `wait_for` that positions moved (from the processors' thread)."""
        loop = self._loop
        if self._waiting and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_waiters)

    def _wake_waiters(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        if progress is not None:
            progress.set()

    def notify(self) -> None:
        """Wake the processors: new events were committed (safe from any thread)."""
        self._wake.set()

    def position(self, name: str) -> int:
        """The next offset processor `name` will read (what it has seen is below it).

        A processor of one partition of the log is past the other partitions' events too:
        up to the log's end when it last found nothing more of its own (so that a quiet
        partition does not look behind to the back-pressure, `/readyz` or `/metrics`).
        """
        position = self._positions.get(name)
        if position is None:
            position = self.log.checkpoint(name)
        idle = self._idle_to.get(name)
        return position if idle is None else max(position, idle + 1)

    async def wait_for(self, name: str, offset: int, *, timeout: float = 30.0) -> None:
        """Wait until processor `name` has processed `offset` (read-your-writes for the API).

        Raises TimeoutError when it has not within `timeout` seconds. A processor that runs
        in another process (a worker) is followed through the checkpoint it saves.
        """
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout):
                while self.position(name) <= offset:
                    if all(p.name != name for p in self.active):
                        await asyncio.sleep(CHECKPOINT_POLL_SECONDS)
                        continue
                    self.notify()
                    progress = self._progress
                    if progress is None:
                        await asyncio.sleep(0.01)
                        continue
                    await progress.wait()
        finally:
            self._waiting -= 1

    async def run_forever(self, *, poll_seconds: float = 1.0) -> None:
        """Process new events as they are committed, until cancelled.

        The processors run in their own thread, woken straight from the log writer's
        commit by `notify`, without waiting for a turn on the event loop.
        """
        self._loop = asyncio.get_running_loop()
        self._progress = asyncio.Event()
        self._stopping.clear()
        thread = threading.Thread(
            target=self._follow, args=(poll_seconds,), name="vigie-processors", daemon=True
        )
        thread.start()
        try:
            await asyncio.Event().wait()
        finally:
            # Stopping: let a batch under way finish; the thread saves its checkpoints.
            self._stopping.set()
            self._wake.set()
            await asyncio.to_thread(thread.join)
