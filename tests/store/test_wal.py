"""Checkpoints of SQLite's write-ahead log taken by a thread of their own."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from vigie.store import connect, upgrade
from vigie.store.wal import WalCheckpointer


def _write(engine: sa.Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.exec_driver_sql("INSERT INTO t (v) VALUES (?)", [("x" * 100,)] * rows)


def test_a_passive_checkpoint_copies_the_whole_wal_back(tmp_path: Path) -> None:
    """With no reader in the way, a checkpoint copies every committed page into the database
    file, and the data reads back unchanged."""
    engine = connect(f"sqlite:///{tmp_path}/wal.db")
    try:
        _write(engine, 500)
        busy, frames, copied = WalCheckpointer(engine).checkpoint()
        assert busy == 0 and frames > 0 and copied == frames
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 500
    finally:
        engine.dispose()


def test_the_thread_checkpoints_until_stopped(tmp_path: Path) -> None:
    """Started, the checkpointer keeps checkpointing while the store is written; stopped, it
    stops."""
    engine = connect(f"sqlite:///{tmp_path}/wal.db")
    upgrade(engine)
    checkpointer = WalCheckpointer(engine, seconds=0.01)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 30  # generous: the machine may be busy
        while checkpointer.checkpoints < 3 and time.monotonic() < deadline:
            _write(engine, 10)
            time.sleep(0.01)
    finally:
        checkpointer.stop()
        engine.dispose()
    assert checkpointer.checkpoints >= 3
    done = checkpointer.checkpoints
    time.sleep(0.05)
    assert checkpointer.checkpoints == done
