"""Transactions on the SQLite engine: reads never hold the write lock, writes take it up front
(issue 16: the log writer waited on `BEGIN IMMEDIATE` behind readers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from vigie.events import Event
from vigie.log.sql import SqlEventLog
from vigie.store import connect, upgrade


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[sa.Engine, Path]]:
    path = tmp_path / "vigie.db"
    engine = connect(f"sqlite:///{path}")
    upgrade(engine)
    try:
        yield engine, path
    finally:
        engine.dispose()


def _write_lock_free(path: Path) -> bool:
    """Whether another connection can take the write lock right now, without waiting."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


def _event(message_id: str) -> Event:
    now = datetime.now(UTC)
    return Event(
        message_id=message_id,
        type="track",
        event="Clicked",
        anonymous_id="anon-1",
        timestamp=now,
        received_at=now,
        source="web",
    )


def test_a_read_on_connect_leaves_the_write_lock_free(
    sqlite_file: tuple[sa.Engine, Path],
) -> None:
    """A read transaction begun by a statement on `engine.connect()` and held open does not
    hold SQLite's write lock: the log appends and commits meanwhile, and the reader keeps its
    snapshot until it ends."""
    engine, path = sqlite_file
    log = SqlEventLog(engine)
    log.append([_event("m-1")])
    with engine.connect() as reader:
        before = reader.exec_driver_sql("SELECT COUNT(*) FROM events").scalar()
        assert reader.in_transaction()
        assert _write_lock_free(path)
        result = log.append([_event("m-2")])
        assert result.accepted == 1
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM events").scalar() == before == 1
    with engine.connect() as reader:
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM events").scalar() == 2


def test_begin_takes_the_write_lock_before_its_first_write(
    sqlite_file: tuple[sa.Engine, Path],
) -> None:
    """`engine.begin()` (how Vigie writes) holds the write lock from its first statement, even a
    read, so that its later write never fails on a snapshot another writer moved past."""
    engine, path = sqlite_file
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT COUNT(*) FROM events").scalar()
        assert not _write_lock_free(path)
    assert _write_lock_free(path)


def test_an_explicit_option_overrides_either_default(
    sqlite_file: tuple[sa.Engine, Path],
) -> None:
    """`sqlite_immediate=True` makes a read on `connect()` take the lock, and
    `sqlite_immediate=False` lets `begin()` defer it."""
    engine, path = sqlite_file
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        conn.exec_driver_sql("SELECT 1").scalar()
        assert not _write_lock_free(path)
    with engine.connect().execution_options(sqlite_immediate=False) as conn, conn.begin():
        conn.exec_driver_sql("SELECT 1").scalar()
        assert _write_lock_free(path)
