"""Group commit: appends from many concurrent requests share one transaction.

Each HTTP request still gets its answer only after its events are committed; sharing the
commit (and its fsync) between requests is what lets a single SQLite writer keep up.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from vigie.log.eventlog import AppendJob, AppendResult, ServedLog

logger = logging.getLogger(__name__)

_Item = tuple[AppendJob, "Future[AppendResult]"]


class GroupCommitter:
    """A writer thread that drains queued appends and commits them together."""

    def __init__(
        self,
        log: ServedLog,
        *,
        max_jobs: int = 64,
        on_commit: Callable[[Sequence[AppendResult]], None] | None = None,
    ) -> None:
        self._log = log
        self._max_jobs = max_jobs
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigie-log-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def queued(self) -> int:
        """How many appends wait for the writer (approximate, as the queue moves)."""
        return self._queue.qsize()

    def submit(self, job: AppendJob) -> Future[AppendResult]:
        """Queue `job`; the future resolves once it is committed.

        The job is prepared (guarded, encoded: `ServedLog.prepare`) here, on the sender's
        thread, so that the one writer thread spends its turn writing, and a request's
        events are readied while SQLite, without the GIL, commits the group before them.
        """
        future: Future[AppendResult] = Future()
        try:
            job = self._log.prepare(job)
        except Exception as exc:
            future.set_exception(exc)
            return future
        self._queue.put((job, future))
        return future

    async def append(self, job: AppendJob) -> AppendResult:
        """Queue `job` and wait, without blocking the event loop, until it is committed (a
        job whose preparing may wait on I/O, a new person's key, is prepared in a thread)."""
        if self._log.prepare_may_block:
            job = await asyncio.to_thread(self._log.prepare, job)
        return await asyncio.wrap_future(self.submit(job))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stopping = False
            while len(group) < self._max_jobs:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[_Item]) -> None:
        try:
            results = self._log.append_many([job for job, _ in group])
        except Exception:
            if len(group) == 1:
                logger.exception("appending a batch to the event log failed")
                group[0][1].set_exception(_current_exception())
                return
            # One failing batch must not fail the others: commit them one by one.
            for item in group:
                self._commit([item])
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)
        if self._on_commit is not None:
            try:
                self._on_commit(results)
            except Exception:
                logger.exception("on_commit callback failed")


def _current_exception() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    assert exc is not None
    return exc
