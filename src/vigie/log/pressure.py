"""Back-pressure: when the writer's queue or the processors' lag passes its bound, ingestion
asks clients to retry later instead of letting latency and memory grow without end.

Read per request from memory only (the writer's queue length, the highest offset committed,
each processor's position), so that checking costs nothing when all is well.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendResult
from vigie.log.runner import ProcessorRunner


class Backpressure:
    """Says why ingestion should back off right now, or nothing."""

    def __init__(
        self,
        *,
        committer: GroupCommitter,
        runner: ProcessorRunner | None,
        max_queued: int,
        max_lag: int,
    ) -> None:
        self.committer = committer
        self.runner = runner
        self.max_queued = max_queued
        self.max_lag = max_lag
        self._last_offset = -1

    def committed(self, results: Sequence[AppendResult]) -> None:
        """Remember the highest offset committed (the writer's `on_commit`)."""
        for result in results:
            if result.offsets:
                self._last_offset = max(self._last_offset, result.offsets[-1])

    def lag(self) -> int:
        """Events committed that the slowest processor has not processed yet."""
        if self.runner is None or self._last_offset < 0 or not self.runner.processors:
            return 0
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
