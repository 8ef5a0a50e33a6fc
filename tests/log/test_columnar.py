"""The log's columnar copy: Parquet segments equal to the log, crash-safe, rebuilt when lost."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.columnar import COLUMNS, ColumnarCopy, read_columns
from vigie.store import connect, upgrade
from vigie.types import to_us

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _append(engine: sa.Engine, count: int, *, start: int = 0) -> list[Event]:
    events = [
        Event(
            message_id=f"m{i}",
            type="identify" if i % 7 == 0 else "track",
            source="web" if i % 3 else "shop",
            event=None if i % 7 == 0 else f"E{i % 4}",
            # The first rows have no user id: a column NULL at first must still read as text.
            anonymous_id=None if i % 5 == 0 else f"a{i % 6}",
            user_id=f"u{i % 3}" if i >= 40 else None,
            timestamp=T0 + timedelta(seconds=i),
            received_at=T0 + timedelta(seconds=i, milliseconds=5),
        )
        for i in range(start, start + count)
    ]
    SqlEventLog(engine).append(events)
    return events


def _expected(events: list[Event]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "log_offset": [e.offset for e in events],
            "source": [e.source for e in events],
            "type": [e.type for e in events],
            "event": [e.event for e in events],
            "anonymous_id": [e.anonymous_id for e in events],
            "user_id": [e.user_id for e in events],
            "timestamp_us": [to_us(e.timestamp) for e in events],
            "received_at_us": [to_us(e.received_at) for e in events],
        },
        schema=COLUMNS,
    )


def _everything(copy: ColumnarCopy) -> pl.DataFrame:
    chain = copy.segments()
    tail = read_columns(copy.engine, after=chain[-1].last if chain else 0)
    return pl.concat([copy.scan(chain).collect(), tail])


def test_read_columns_equals_the_appended_events(engine: sa.Engine) -> None:
    """The columns read without bodies are those of the events appended, in log order."""
    events = _append(engine, 120)
    assert read_columns(engine).equals(_expected(events))
    assert read_columns(engine, after=30, through=45).equals(_expected(events[30:45]))
    only = read_columns(engine, columns=["log_offset"], type="track", events=["E1", "E2"])
    assert only.get_column("log_offset").to_list() == [
        e.offset for e in events if e.type == "track" and e.event in ("E1", "E2")
    ]
    assert read_columns(engine, events=[]).height == 0


def test_read_columns_from_an_in_memory_database() -> None:
    """An in-memory SQLite database, which ADBC cannot open, is read through a cursor."""
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    upgrade(engine)
    events = _append(engine, 50)
    assert read_columns(engine).equals(_expected(events))
    assert ColumnarCopy.for_store(engine) is None


def test_segments_cover_only_committed_ranges(engine: sa.Engine, tmp_path: Path) -> None:
    """Catch-up writes each range of offsets once it is complete, and the rest waits."""
    copy = ColumnarCopy(engine, tmp_path / "columns", segment_offsets=40)
    assert copy.catch_up() == 0 and copy.segments() == []
    events = _append(engine, 100)
    assert copy.catch_up() == 2
    assert [(s.first, s.last) for s in copy.segments()] == [(1, 40), (41, 80)]
    assert copy.catch_up() == 0
    events += _append(engine, 30, start=100)
    assert copy.catch_up() == 1 and copy.covered() == 120
    assert _everything(copy).equals(_expected(events))


def test_a_crash_before_the_rename_loses_and_repeats_nothing(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment written but not yet recorded is ignored, then written again."""
    events = _append(engine, 90)
    copy = ColumnarCopy(engine, tmp_path, segment_offsets=30)
    real_replace = os.replace

    def crash(source: str, target: str | Path) -> None:
        if Path(target).name.startswith("00000000000000000031-00000000000000000060-"):
            raise OSError("power cut")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        copy.catch_up()
    # What a killed process leaves: a whole file under a temporary name, never recorded.
    leftover = tmp_path / ".writing-killed"
    leftover.write_bytes(copy.segments()[0].path.read_bytes())
    assert copy.covered() == 30
    assert _everything(copy).equals(_expected(events))
    monkeypatch.setattr(os, "replace", real_replace)
    assert copy.catch_up() == 2 and copy.covered() == 90
    assert _everything(copy).equals(_expected(events))
    assert leftover.exists()
    os.utime(leftover, (0, 0))
    copy.catch_up()
    assert not leftover.exists()


def test_a_lost_segment_is_read_from_the_log_and_written_again(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """With a segment gone, readers use the log past the gap; catch-up fills it."""
    events = _append(engine, 100)
    copy = ColumnarCopy(engine, tmp_path, segment_offsets=25)
    copy.catch_up()
    copy.segments()[1].path.unlink()
    assert copy.covered() == 25
    assert _everything(copy).equals(_expected(events))
    assert copy.catch_up() == 3 and copy.covered() == 100
    assert _everything(copy).equals(_expected(events))


def test_a_new_segment_size_supersedes_the_old_segments(engine: sa.Engine, tmp_path: Path) -> None:
    """Segments of another size past a gap are replaced, never read twice."""
    events = _append(engine, 100)
    old = ColumnarCopy(engine, tmp_path, segment_offsets=20)
    old.catch_up()
    old.segments()[1].path.unlink()
    copy = ColumnarCopy(engine, tmp_path, segment_offsets=30)
    copy.catch_up()
    # 41-60 and 61-80 are superseded; 81-100 still follows the new chain and is kept.
    chain = [(s.first, s.last) for s in copy.segments()]
    assert chain == [(1, 20), (21, 50), (51, 80), (81, 100)]
    assert len(list(tmp_path.glob("*.parquet"))) == 4
    assert _everything(copy).equals(_expected(events))


def test_a_copy_of_another_log_is_not_used(tmp_path: Path) -> None:
    """A database started again next to its old copy is read from the log, then recopied."""
    first = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(first)
    _append(first, 60)
    ColumnarCopy(first, tmp_path / "columns", segment_offsets=20).catch_up()
    first.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"vigie.db{suffix}").unlink(missing_ok=True)
    again = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(again)
    events = _append(again, 50, start=1000)
    copy = ColumnarCopy(again, tmp_path / "columns", segment_offsets=20)
    assert copy.segments() == []
    assert _everything(copy).equals(_expected(events))
    assert copy.catch_up() == 2
    assert [(s.first, s.last) for s in copy.segments()] == [(1, 20), (21, 40)]
    assert len(list((tmp_path / "columns").glob("*.parquet"))) == 2
    assert _everything(copy).equals(_expected(events))
    again.dispose()


def test_the_copy_lives_next_to_a_sqlite_file_or_where_configured(tmp_path: Path) -> None:
    """`vigie.db` keeps its copy in `vigie.db-columns`; PostgreSQL needs a folder set."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    copy = ColumnarCopy.for_store(engine)
    assert copy is not None and copy.folder == tmp_path / "vigie.db-columns"
    configured = ColumnarCopy.for_store(engine, tmp_path / "elsewhere")
    assert configured is not None and configured.folder == tmp_path / "elsewhere"
    postgres = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1/nowhere")
    assert ColumnarCopy.for_store(postgres) is None
    assert ColumnarCopy.for_store(postgres, tmp_path / "pg") is not None


def test_reading_columns_leaves_the_servers_connections_working(tmp_path: Path) -> None:
    """Reading a SQLite log mid-traffic keeps its write-ahead log for the other connections.

    Regression: read through a second SQLite library (the ADBC driver's), closing its
    connection dropped the process's locks and deleted the WAL under the open connections,
    and a later reader failed with "disk I/O error" or missed committed events.
    """
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    events = _append(engine, 30)
    with engine.connect() as held:
        read_columns(engine)
        events += _append(engine, 30, start=30)
        assert held.exec_driver_sql("SELECT COUNT(*) FROM events").scalar() == 60
        other = sqlite3.connect(tmp_path / "vigie.db")
        try:
            assert other.execute("SELECT COUNT(*) FROM events").fetchone() == (60,)
        finally:
            other.close()
        assert read_columns(engine).equals(_expected(events))
    engine.dispose()
