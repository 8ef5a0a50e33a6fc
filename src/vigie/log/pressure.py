"""Back-pressure: when the writer's queue or the processors' lag passes its bound, ingestion
asks clients to retry later instead of letting latency and memory grow without end.

Read per request from memory only (the writer's queue length, the highest offset committed,
each processor's position), so that checking costs nothing when all is well.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendResult, EventLog
from vigie.log.runner import ProcessorRunner


class StoredPositions:
    """The slowest position among processors that another process runs (`vigie serve
    --processors worker`), as their saved checkpoints say; refreshed by a timer (`refresh`)
    so that a request only reads memory."""

    def __init__(self, log: EventLog, names: Sequence[str]) -> None:
        self.log = log
        self.names = list(names)
        self.positions: dict[str, int] = {}
        """Each processor's checkpoint when last read (none before the first `refresh`)."""

    @property
    def slowest(self) -> int | None:
        """The lowest checkpoint when last read."""
        return min(self.positions.values()) if self.positions else None

    def refresh(self) -> None:
        """Read every processor's checkpoint again."""
        self.positions = {name: self.log.checkpoint(name) for name in self.names}


class Backpressure:
    """Says why ingestion should back off right now, or nothing."""

    def __init__(
        self,
        *,
        committer: GroupCommitter,
        runner: ProcessorRunner | None,
        max_queued: int,
        max_lag: int,
        stored: StoredPositions | None = None,
    ) -> None:
        self.committer = committer
        self.runner = runner
        self.stored = stored
        self.max_queued = max_queued
        self.max_lag = max_lag
        self._last_offset = -1

    def committed(self, results: Sequence[AppendResult]) -> None:
        """Remember the highest offset committed (the writer's `on_commit`)."""
        for result in results:
            if result.offsets:
                self._last_offset = max(self._last_offset, result.offsets[-1])

    def lag(self) -> int:
        """Events committed that the slowest processor has not processed yet (by their saved
        checkpoints when `stored`: they run in another process)."""
        if self._last_offset < 0:
            return 0
        if self.stored is not None:
            if self.stored.slowest is None:
                return 0
            slowest = self.stored.slowest
        elif self.runner is None or not self.runner.processors:
            return 0
        else:
            slowest = min(self.runner.position(p.name) for p in self.runner.processors)
        return max(0, self._last_offset - slowest + 1)

    def reason(self) -> str | None:
        """Why clients should retry later, or None when ingestion keeps up."""
        queued = self.committer.queued()
        if queued >= self.max_queued:
            return f"{queued} batches are waiting to be written (bound {self.max_queued})"
        if self.max_lag:
            behind = self.lag()
            if behind > self.max_lag:
                return f"processors are {behind} events behind (bound {self.max_lag})"
        return None
