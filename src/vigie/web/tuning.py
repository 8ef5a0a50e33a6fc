"""How the server's process runs Python: full garbage collections on a timer, and the
interpreter handed between threads more often.

A full collection walks every object of the process while holding the interpreter, and the
server's state is large (KPI windows, visitor sessions, the app itself): under 10,000
events/s one took 100-300 ms and came every 1-2 s, stalling every request and the alert
stream meanwhile (`vigie bench alerts`: it was the tail of both). Young collections stay
automatic (they are cheap, and catch most cyclic garbage); the oldest generation is
collected on a timer instead, and what the app built at start-up (modules, routes) is
moved out of the collector's way for good.

The server's threads (event loop, log writer, processors) take turns on the interpreter;
a thread that wants it waits for the one holding it to reach the switch interval. At 1 ms
instead of Python's 5 ms, a request or an alert waits less behind a batch of KPI updates
(`vigie bench alerts`: p99 about halved on a busy machine, for the same throughput).
"""

from __future__ import annotations

import asyncio
import gc
import sys

FULL_COLLECTION_SECONDS = 300.0
SWITCH_INTERVAL_SECONDS = 0.001
# Far more young collections than can happen between two timed full ones.
_NEVER = 1_000_000_000


class ProcessTuning:
    """Applied once the app has started, undone when the server stops."""

    def __init__(
        self,
        *,
        full_collection_seconds: float = FULL_COLLECTION_SECONDS,
        switch_interval: float = SWITCH_INTERVAL_SECONDS,
    ) -> None:
        self.full_collection_seconds = full_collection_seconds
        self.switch_interval = switch_interval
        self._saved: tuple[tuple[int, int, int], float] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what exists now, hand the oldest generation to the timer, shorten the
        switch interval (call on the server's event loop)."""
        if self._saved is not None:
            return
        gc.collect()
        gc.freeze()
        threshold0, threshold1, threshold2 = gc.get_threshold()
        self._saved = ((threshold0, threshold1, threshold2), sys.getswitchinterval())
        gc.set_threshold(threshold0, threshold1, _NEVER)
        sys.setswitchinterval(self.switch_interval)
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="vigie-gc")

    async def _collect(self) -> None:
        while True:
            await asyncio.sleep(self.full_collection_seconds)
            gc.collect()

    def stop(self) -> None:
        """Give the collector and the interpreter back their usual settings."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._saved is not None:
            thresholds, switch_interval = self._saved
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            sys.setswitchinterval(switch_interval)
            self._saved = None
