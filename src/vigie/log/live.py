"""Live activity of the event log for the dashboard: totals, per-minute counts by event and
the newest events, pushed to every open page as soon as the log commits.

The hub is woken by the log writer's `on_commit` hook, reads what was committed since its
last position and hands one small message to each subscriber (the `/api/live` streams).
It also looks every `poll_seconds`, which is how an API node sees what other ingest nodes
appended; any log will do (the SQL table or NATS JetStream), so any API node serves SSE.

Vigie's own notices in the log (`NOTICE_TYPE`: an erasure, a change of the rings' links) are
not activity: nobody did them, so they are in no total, series or feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vigie.clock import Clock
from vigie.events import NOTICE_TYPE, Event
from vigie.log.eventlog import ServedLog
from vigie.log.sql import SqlEventLog
from vigie.store import schema
from vigie.types import from_us, to_us

logger = logging.getLogger(__name__)

MINUTE_US = 60_000_000
PRESENCE_US = 5 * MINUTE_US
FEED_SIZE = 20
READ_BATCH = 1000
QUEUE_SIZE = 256
LOAD_SCAN = 20_000
"""At most this many newest events are read to rebuild the picture from a log without SQL."""


def label_of(event: Event) -> str:
    """The name an event is counted under: its tracked name, or its type (page, identify …)."""
    return event.event or event.type


def minute_of(moment: datetime) -> int:
    """The minute since the Unix epoch that `moment` falls in."""
    return to_us(moment) // MINUTE_US


def visitor_of(event: Event) -> str | None:
    """Who is behind an event on the site (not a sensor): the anonymous id, else the user id."""
    if event.type == "sensor":
        return None
    return event.anonymous_id or event.user_id


def activity_of(events: Sequence[Event]) -> list[Event]:
    """`events` without Vigie's own notices: what people and sensors did."""
    return [event for event in events if event.type != NOTICE_TYPE]


def summary_of(event: Event) -> dict[str, Any]:
    """What the live feed shows of one event."""
    return {
        "offset": event.offset,
        "type": event.type,
        "label": label_of(event),
        "source": event.source,
        "anonymous_id": event.anonymous_id,
        "user_id": event.user_id,
        "timestamp": event.timestamp.isoformat(),
        "received_at": event.received_at.isoformat(),
    }


class Activity:
    """Per-minute event counts by label over a rolling window of `minutes` minutes."""

    def __init__(self, *, minutes: int = 30) -> None:
        self.minutes = minutes
        self._counts: dict[str, Counter[int]] = {}

    def add(self, label: str, minute: int, count: int = 1) -> None:
        """Count `count` events named `label` in `minute`."""
        self._counts.setdefault(label, Counter())[minute] += count

    def series(self, end_minute: int) -> dict[str, list[int]]:
        """Counts per label for the `minutes` minutes ending with `end_minute`, oldest first.

        Labels without an event in the window are left out, and older minutes forgotten.
        """
        start = end_minute - self.minutes + 1
        out: dict[str, list[int]] = {}
        for label in list(self._counts):
            counts = self._counts[label]
            for minute in [m for m in counts if m < start]:
                del counts[minute]
            if not counts:
                del self._counts[label]
                continue
            out[label] = [counts.get(m, 0) for m in range(start, end_minute + 1)]
        return dict(sorted(out.items()))


class LiveHub:
    """Follows the log and fans its news out to the open dashboards."""

    name = "live-feed"

    def __init__(
        self,
        log: ServedLog,
        clock: Clock,
        *,
        minutes: int = 30,
        on_tick: Callable[[], None] | None = None,
        poll_seconds: float = 5.0,
        notice_sources: Collection[str] = (),
    ) -> None:
        self.log = log
        self.notice_sources = sorted(notice_sources)
        """The sources Vigie's notices are appended as: the log then counts them, to leave
        out of the total, by their source (the store's index, JetStream's subjects) rather
        than a scan of every event."""
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.on_tick = on_tick
        self.activity = Activity(minutes=minutes)
        self.total = 0
        self.position = 1
        self.feed: deque[dict[str, Any]] = deque(maxlen=FEED_SIZE)
        self.last_seen: dict[str, int] = {}
        # Reentrant: a snapshot or a catch-up may rebuild the state while holding it.
        self._lock = threading.RLock()
        self._stale = False
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    async def start(self) -> None:
        """Load the current state of the log, then follow it."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self._load)
        self._task = asyncio.create_task(
            self._follow(poll_seconds=self.poll_seconds), name="vigie-live"
        )

    def _load(self) -> None:
        if isinstance(self.log, SqlEventLog):
            self._load_sql(self.log)
        else:
            self._load_scan()

    def _load_scan(self) -> None:
        """Rebuild from the newest events of a log that has no SQL to aggregate with.

        Everything is read up to the newest offset of one look at the log (`extent`): what
        is committed after it is left to `_follow`, so no event is counted twice or missed.
        """
        since_us = (minute_of(self.clock.now()) - self.activity.minutes + 1) * MINUTE_US
        held, last = self.log.extent()
        position = max(1, last - LOAD_SCAN + 1)
        with self._lock:
            # The notices are counted apart, however old, not from the events scanned.
            notices = self.log.count_notices(self.notice_sources, through=last)
            self.total = held - notices
            self.position = last + 1
            while position <= last:
                read = [e for e in self.log.read(position, READ_BATCH) if (e.offset or 0) <= last]
                if not read:
                    break
                events = activity_of(read)
                for event in events:
                    if to_us(event.received_at) >= since_us:
                        self.activity.add(label_of(event), minute_of(event.received_at))
                        who = visitor_of(event)
                        if who is not None:
                            at = to_us(event.received_at)
                            self.last_seen[who] = max(at, self.last_seen.get(who, at))
                self.feed.extend(summary_of(e) for e in events[-FEED_SIZE:])
                position = (read[-1].offset or position) + 1
            self.last_seen = {
                who: at
                for who, at in self.last_seen.items()
                if at >= to_us(self.clock.now()) - PRESENCE_US
            }

    def _load_sql(self, log: SqlEventLog) -> None:
        """Rebuild from SQL aggregates, each over the events up to the newest offset of one
        look at the log (`extent`), as `_load_scan` does."""
        end = minute_of(self.clock.now())
        start_us = (end - self.activity.minutes + 1) * MINUTE_US
        held, last = log.extent()
        table = schema.events
        loaded = table.c.log_offset <= last
        label = sa.func.coalesce(table.c.event, table.c.type)
        minute = table.c.received_at_us // MINUTE_US
        query = (
            sa.select(label, minute, sa.func.count())
            .where(table.c.received_at_us >= start_us, table.c.type != NOTICE_TYPE, loaded)
            .group_by(label, minute)
        )
        visitor = sa.func.coalesce(table.c.anonymous_id, table.c.user_id)
        present = (
            sa.select(visitor, sa.func.max(table.c.received_at_us))
            .where(
                table.c.received_at_us >= to_us(self.clock.now()) - PRESENCE_US,
                table.c.type != "sensor",
                visitor.is_not(None),
                loaded,
            )
            .group_by(visitor)
        )
        with log.engine.connect() as conn:
            rows = conn.execute(query).all()
            seen = conn.execute(present).all()
        recent = activity_of(log.recent(before=last + 1, limit=FEED_SIZE))
        notices = log.count_notices(self.notice_sources, through=last)
        with self._lock:
            self.total = held - notices
            self.position = last + 1
            for name, at, count in rows:
                self.activity.add(str(name), int(at), int(count))
            self.feed.extend(summary_of(e) for e in reversed(recent))
            self.last_seen.update((str(who), int(at)) for who, at in seen)

    def notify(self) -> None:
        """New events were committed (safe to call from the log writer's thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _follow(self, *, poll_seconds: float = 5.0) -> None:
        assert self._wake is not None
        while not self.closed:
            self._wake.clear()
            try:
                # Nobody watches and the state is to be rebuilt when someone does: nothing
                # to read (asking the store for its last offset on every commit cost a tenth
                # of the server's interpreter time at 10,000 events/s).
                idle = self._stale and not self._subscribers
                message = None if idle else await asyncio.to_thread(self._catch_up)
                if self.on_tick is not None:
                    await asyncio.to_thread(self.on_tick)
            except Exception:
                logger.exception("the live feed could not read the event log; it will retry")
                message = None
            if message is not None:
                self._broadcast(message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)

    def _catch_up(self) -> dict[str, Any] | None:
        counts: Counter[str] = Counter()
        fresh: list[dict[str, Any]] = []
        with self._lock:
            if not self._subscribers:
                # Nobody watches: do not read and decode every event (that cost the ingest
                # path a fifth of its CPU); rebuild from SQL when someone looks again.
                if self.log.last_offset() >= self.position:
                    self._stale = True
                return None
            if self._stale:
                self._reload()
                return {"resync": True}
            for _ in range(20):
                read = self.log.read(self.position, READ_BATCH)
                if not read:
                    break
                last = read[-1].offset
                assert last is not None
                self.position = last + 1
                events = activity_of(read)
                self._apply(events, counts)
                fresh.extend(summary_of(e) for e in events[-FEED_SIZE:])
                if len(read) < READ_BATCH:
                    break
            if not counts:
                return None
            return {
                "total": self.total,
                "offset": self.position - 1,
                "visitors_now": self._visitors_now(),
                "minute": minute_of(self.clock.now()),
                "counts": dict(counts),
                "events": fresh[-FEED_SIZE:],
            }

    def _apply(self, events: Sequence[Event], counts: Counter[str]) -> None:
        for event in events:
            label = label_of(event)
            self.activity.add(label, minute_of(event.received_at))
            counts[label] += 1
            self.feed.append(summary_of(event))
            who = visitor_of(event)
            if who is not None:
                at = to_us(event.received_at)
                self.last_seen[who] = max(at, self.last_seen.get(who, at))
        self.total += len(events)

    def _visitors_now(self) -> int:
        """Visitors seen on the site within the last five minutes (forgetting older ones)."""
        since = to_us(self.clock.now()) - PRESENCE_US
        for who in [w for w, at in self.last_seen.items() if at < since]:
            del self.last_seen[who]
        return len(self.last_seen)

    def _reload(self) -> None:
        """Rebuild the state from the store (the caller holds the lock)."""
        self.activity = Activity(minutes=self.activity.minutes)
        self.feed.clear()
        self.last_seen.clear()
        self._load()
        self._stale = False

    def forget(self) -> None:
        """Rebuild the picture from the log at the next look (an erasure rewrote it)."""
        with self._lock:
            self._stale = True

    def snapshot(self) -> dict[str, Any]:
        """The whole picture: totals, the per-minute series and the newest events."""
        end = minute_of(self.clock.now())
        with self._lock:
            if self._stale:
                self._reload()
            return {
                "total": self.total,
                "offset": self.position - 1,
                "visitors_now": self._visitors_now(),
                "minute": end,
                "minutes": self.activity.minutes,
                "series": self.activity.series(end),
                "start": from_us((end - self.activity.minutes + 1) * MINUTE_US).isoformat(),
                "events": list(self.feed),
            }

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue that receives every message from now on (None when the hub closes)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self.closed:
            queue.put_nowait(None)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """Stop sending to `queue`."""
        self._subscribers.discard(queue)

    def _broadcast(self, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                # A reader that cannot keep up gets a fresh snapshot instead of a backlog.
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait({"resync": True})
            queue.put_nowait(message)

    def close(self) -> None:
        """End every open stream (the server is shutting down)."""
        self.closed = True
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueEmpty):
                while queue.full():
                    queue.get_nowait()
            queue.put_nowait(None)
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Close the streams and stop following the log."""
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
