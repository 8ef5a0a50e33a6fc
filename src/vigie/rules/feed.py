"""The live feed of alert changes: an `AlertListener` fanning changes out to subscribers
(the SSE stream), each an asyncio queue on the server's event loop."""

from __future__ import annotations

import asyncio
import contextlib

from vigie.rules.alerts import Alert

MAX_QUEUED = 1000


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
