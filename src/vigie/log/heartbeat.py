"""The event loop's heartbeat, which the processors' thread reads to give way to requests.

CPython runs one thread at a time. The server's event loop takes the interpreter back for
each socket it serves (uvloop acquires it per callback), and each time it waits for the
thread that holds it to reach the switch interval: against a processors thread busy with a
backlog, the loop had a few per cent of the interpreter under an ingest flood (`py-spy
--gil`: 38 samples in 900 against the processors' 515), and every request waited, the
dashboard's and the health check's too (issue 17). A beat that comes late says the loop is
kept waiting; the processors then pause after their batch for as long as it took (at most
`MAX_PAUSE_SECONDS`): the loop runs alone meanwhile, and the processors keep at least half
of the interpreter, so a backlog still drains.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

BEAT_SECONDS = 0.01
LATE_SECONDS = 0.025
"""A beat this much overdue means requests are waiting for the interpreter."""
MAX_PAUSE_SECONDS = 0.1


class Heartbeat:
    """Beats on an event loop while `run` runs; other threads ask whether it is late."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: float | None = None

    async def run(self) -> None:
        """Beat every `BEAT_SECONDS` until cancelled."""
        try:
            while True:
                self.last = self.clock()
                await asyncio.sleep(BEAT_SECONDS)
        finally:
            self.last = None

    def late(self) -> float:
        """How long the next beat is overdue, in seconds (0 when no loop beats)."""
        if self.last is None:
            return 0.0
        return max(0.0, self.clock() - self.last - BEAT_SECONDS)

    def give_way(self, worked: float, pause: Callable[[float], object]) -> float:
        """After `worked` seconds of work on another thread: when the loop is late, `pause`
        for as long (at most `MAX_PAUSE_SECONDS`); returns the pause asked for, or 0."""
        if self.late() <= LATE_SECONDS:
            return 0.0
        seconds = min(worked, MAX_PAUSE_SECONDS)
        pause(seconds)
        return seconds
