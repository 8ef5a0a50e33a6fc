"""Runs processors over the log: each reads from its own checkpoint, in batches.

Delivery is at-least-once: the checkpoint moves after a batch is processed, so a crash
between the two replays the batch. Projections must therefore be idempotent.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from vigie.events import Event
from vigie.log.eventlog import EventLog

logger = logging.getLogger(__name__)


RECENT_BATCHES = 4


def _offset(event: Any) -> int:
    offset: int | None = event.offset
    return offset or 0


class Processor(Protocol):
    """Something that builds a projection from events, named for its checkpoint.

    A processor that uses a few fields of every event may set `reads` to a Struct declaring
    just those fields of `Event` (same names and types, `offset` included): the runner then
    hands it events decoded as that Struct, which skips the rest and is faster.
    """

    name: str

    def process(self, events: Sequence[Event]) -> None: ...


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
    """

    def __init__(
        self,
        log: EventLog,
        processors: Sequence[Processor] = (),
        *,
        batch_size: int = 5000,
        checkpoint_seconds: float = 1.0,
    ) -> None:
        self.log = log
        self.processors: list[Processor] = list(processors)
        self.batch_size = batch_size
        self.checkpoint_seconds = checkpoint_seconds
        self._positions: dict[str, int] = {}
        self._saved: dict[str, tuple[int, float]] = {}
        # The last batches read from the log: their shape, and whether each reached its end.
        self._recent: deque[tuple[type[Any], list[Any], bool]] = deque(maxlen=RECENT_BATCHES)
        self._waiting = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._progress: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, processor: Processor) -> None:
        """Register another processor; it starts from its saved checkpoint."""
        if any(p.name == processor.name for p in self.processors):
            raise ValueError(f"a processor named {processor.name!r} is already registered")
        self.processors.append(processor)

    def run_once(self) -> int:
        """Process everything available now and save the checkpoints; returns how many
        events were handed over."""
        handed = 0
        with self._lock:
            for processor in self.processors:
                handed += self._drain(processor)
                self._save(processor.name, 0.0)
            self._recent.clear()
        return handed

    def save_checkpoints(self) -> None:
        """Save every processor's position that is not saved yet."""
        with self._lock:
            for processor in self.processors:
                self._save(processor.name, 0.0)

    def _save_after(self, processor: Processor) -> None:
        """Save `processor`'s checkpoint if `checkpoint_seconds` have passed, or at once when
        it says its last batches acted outside its own projection (`checkpoint_due`: an alert
        fired, say), so that a crash does not replay those batches and act twice."""
        within = self.checkpoint_seconds
        if getattr(processor, "checkpoint_due", False):
            setattr(processor, "checkpoint_due", False)  # noqa: B010 (not part of the Protocol)
            within = 0.0
        self._save(processor.name, within)

    def _save(self, name: str, within: float) -> None:
        position = self._positions.get(name)
        if position is None:
            return
        saved, at = self._saved.get(name, (None, 0.0))
        now = time.monotonic()
        if position == saved or (saved is not None and now - at < within):
            return
        self.log.save_checkpoint(name, position)
        self._saved[name] = (position, now)

    def _drain(self, processor: Processor, *, live: bool = False, until_woken: bool = False) -> int:
        """Hand `processor` every event past its position.

        `live` (the background loop, which a commit always wakes again) stops at the first
        read that reached the end of the log instead of reading once more to find nothing;
        `until_woken` also stops after the batch during which new events were announced.
        """
        position = self._positions.get(processor.name)
        if position is None:
            position = self.log.checkpoint(processor.name)
            self._saved[processor.name] = (position, time.monotonic())
            self._positions[processor.name] = position
        handed = 0
        shape: type[Any] = getattr(processor, "reads", Event)
        while True:
            events, at_end = self._read(shape, position)
            if not events:
                break
            last, count = events[-1].offset, len(events)
            assert last is not None
            try:
                processor.process(events)
            except Exception:
                logger.exception(
                    "processor %s failed at offset %s; it will retry", processor.name, position
                )
                break
            position = last + 1
            handed += count
            del events
            self._positions[processor.name] = position
            if (live and at_end) or (until_woken and self._wake.is_set()):
                break
        return handed

    def _read(self, shape: type[Any], position: int) -> tuple[list[Any], bool]:
        """Up to a batch of events from `position`, decoded as `shape`, and whether they
        reached the end of the log when it was read.

        They come out of one of the last batches read in this pass in the same shape when it
        holds `position` (processors share one read and decoding of each event, also while
        catching up), else from the log. The log is append-only and in offset order, so the
        part of an earlier batch from `position` on is what the log itself would return first.
        """
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

    def _pass(self) -> int:
        """Bring every processor up to date, earlier ones first whenever events arrive."""
        handed = 0
        with self._lock:
            for index, processor in enumerate(self.processors):
                while True:
                    moved = self._drain(processor, live=True, until_woken=index > 0)
                    handed += moved
                    self._save_after(processor)
                    # Nothing moved (up to date, or failing): the ones after it come next.
                    if not (moved and index and self._wake.is_set()) or self._stopping.is_set():
                        break
                    self._wake.clear()
                    for earlier in self.processors[:index]:
                        handed += self._drain(earlier, live=True)
                        self._save_after(earlier)
                    self._progressed()
                self._progressed()
            self._recent.clear()
        return handed

    def _follow(self, poll_seconds: float) -> None:
        """The processors' thread: a pass whenever woken, or every `poll_seconds`."""
        while not self._stopping.is_set():
            woken = self._wake.wait(poll_seconds)
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
        """The next offset processor `name` will read (what it has seen is below it)."""
        position = self._positions.get(name)
        return position if position is not None else self.log.checkpoint(name)

    async def wait_for(self, name: str, offset: int, *, timeout: float = 30.0) -> None:
        """Wait until processor `name` has processed `offset` (read-your-writes for the API).

        Raises TimeoutError when it has not within `timeout` seconds.
        """
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout):
                while self.position(name) <= offset:
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
