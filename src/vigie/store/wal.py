"""Checkpoints of SQLite's write-ahead log, taken off the commit path.

Left to itself SQLite checkpoints inside the commit that makes the WAL pass its size limit:
that commit copies megabytes back to the database file and syncs it before it returns, so
every request waiting on it is held 50-100 ms (`vigie bench alerts` at 10,000 events/s saw
one such commit every two or three seconds). A passive checkpoint from another connection
copies the same pages while writers go on appending; run often enough, it keeps the WAL
under the limit, so commits never have to checkpoint themselves (the limit stays as the
safety net).
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0


class WalCheckpointer:
    """A thread running `PRAGMA wal_checkpoint(PASSIVE)` every `seconds` on a SQLite store."""

    def __init__(self, engine: sa.Engine, *, seconds: float = CHECKPOINT_SECONDS) -> None:
        self.engine = engine
        self.seconds = seconds
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigie-wal", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint under way, if any)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, frames in the WAL, frames checkpointed)."""
        # A raw connection in autocommit: a checkpoint cannot run inside a transaction.
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            busy, frames, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        self.checkpoints += 1
        return int(busy), int(frames), int(copied)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.checkpoint()
            except Exception:
                logger.exception("checkpointing the SQLite write-ahead log failed; will retry")
