"""The live feed of alert changes: an `AlertListener` fanning changes out to subscribers
(the SSE stream), each an asyncio queue on the server's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import msgspec

from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore
from vigie.types import to_us

MAX_QUEUED = 1000
TOLD_FOR_US = 60_000_000
"""How long the relay remembers the changes it streamed, for the worker's pushes that come
after a poll streamed them (a later change moving the poll on)."""


class AlertFeed:
    """Hands every alert change to each subscriber's queue (safe from any thread)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[Alert | None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on `loop` (the server's)."""
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[Alert | None]:
        """A new queue receiving every change from now on (call on the loop)."""
        q: asyncio.Queue[Alert | None] = asyncio.Queue(MAX_QUEUED)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Alert | None]) -> None:
        """Stop delivering to `q`."""
        self._queues.discard(q)

    def alert_changed(self, alert: Alert) -> None:
        """Queue `alert` for every subscriber; a subscriber that cannot keep up misses it."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._queues:
            return
        loop.call_soon_threadsafe(self._deliver, alert)

    def _deliver(self, alert: Alert | None) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(alert)

    def close(self) -> None:
        """End every subscriber's stream."""
        self._deliver(None)


class StoredAlertsRelay:
    """Tells `feed` of the alert changes another process stored: a node that fires no alert
    itself (an API node, the worker fires them) still streams them to its dashboards."""

    def __init__(self, store: AlertStore, feed: AlertFeed) -> None:
        self.store = store
        self.feed = feed
        self._after = 0
        self._told: set[tuple[str, int]] = set()
        # Changes the worker sent before storing them (`pushed`), so that `poll` does not
        # stream them twice.
        self._pushed: set[tuple[str, int]] = set()
        # Polled every second and on each nudge of the worker, from two threads.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Follow from now on: what was stored before is on the page already."""
        with self._lock:
            self._after = self.store.last_change_us()
            self._told = {(alert.id, at) for alert, at in self.store.changed_since(self._after)}

    def poll(self) -> int:
        """Hand the changes stored since the last poll to the feed; returns how many."""
        told = 0
        with self._lock:
            for alert, at in self.store.changed_since(self._after):
                if (alert.id, at) in self._told:
                    continue
                if at > self._after:
                    self._after = at
                    self._told = {t for t in self._told if t[1] >= at - TOLD_FOR_US}
                    self._pushed = {p for p in self._pushed if p[1] >= at}
                self._told.add((alert.id, at))
                if (alert.id, at) in self._pushed:
                    continue
                self.feed.alert_changed(alert)
                told += 1
        return told

    def pushed(self, payload: bytes) -> None:
        """Stream an alert change the worker sent as its rules made it (`AlertSender`),
        before it is stored; `poll` then skips it. A push older than the changes the relay
        remembers streaming is dropped: a poll streamed it long ago."""
        alert = _decoder.decode(payload)
        key = (alert.id, to_us(alert.updated_at or alert.starts_at))
        with self._lock:
            stale = key[1] < self._after - TOLD_FOR_US
            if stale or key in self._told or key in self._pushed:
                return
            self._pushed.add(key)
        self.feed.alert_changed(alert)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Alert)


class AlertSender:
    """An `AlertListener` of a worker process: hands each alert change, encoded, to `send`
    (to the server that started it, `StoredAlertsRelay.pushed`)."""

    def __init__(self, send: Callable[[bytes], object]) -> None:
        self.send = send

    def alert_changed(self, alert: Alert) -> None:
        self.send(_encoder.encode(alert))
