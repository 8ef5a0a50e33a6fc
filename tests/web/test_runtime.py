"""What the server's runtime builds from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import make_settings
from vigie.events import Event
from vigie.log.columnar import ColumnarCopy
from vigie.settings import build_settings
from vigie.store import connect, upgrade
from vigie.web import Runtime
from vigie.web import runtime as runtime_module


def test_the_log_columnar_copy_sits_next_to_the_sqlite_file(tmp_path: Path) -> None:
    """A SQLite server keeps its columnar copy in `<file>-columns`, or where configured."""
    runtime = Runtime(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    assert runtime.columns is not None
    assert runtime.columns.folder == tmp_path / "vigie.db-columns"
    runtime.engine.dispose()
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db",
        environ={"VIGIE_COLUMNS_DIR": str(tmp_path / "copy"), "VIGIE_WRITE_KEY": "k" * 24},
    )
    assert settings.columns_dir == str(tmp_path / "copy")
    runtime = Runtime(settings)
    assert runtime.columns is not None and runtime.columns.folder == tmp_path / "copy"
    runtime.engine.dispose()


def test_postgresql_has_a_columnar_copy_only_when_configured(tmp_path: Path) -> None:
    """PostgreSQL has no file to sit next to: no copy unless a folder is set."""
    url = "postgresql://postgres@127.0.0.1:5432/unused"
    runtime = Runtime(make_settings(url))
    assert runtime.columns is None
    runtime.engine.dispose()
    settings = make_settings(url)
    settings.columns_dir = str(tmp_path)
    runtime = Runtime(settings)
    assert runtime.columns is not None and runtime.columns.folder == tmp_path
    runtime.engine.dispose()


def _viewed(ids: Iterable[int]) -> list[Event]:
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    return [
        Event(message_id=str(i), type="track", source="web", event="Viewed", anonymous_id="a",
              timestamp=at, received_at=at)
        for i in ids
    ]  # fmt: skip


def test_the_server_writes_segments_as_the_log_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime's background task copies each completed range of the log to Parquet."""
    monkeypatch.setattr(runtime_module, "COLUMNS_SECONDS", 0.01)
    runtime = Runtime(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(runtime.engine)
    columns = runtime.columns
    assert columns is not None
    columns.segment_offsets = 5

    async def scenario() -> int:
        task = asyncio.create_task(runtime._copy_columns(columns))
        runtime.sql_log.append(_viewed(range(12)))
        for _ in range(1000):
            if columns.covered() == 10:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.stop()
        return columns.covered()

    assert asyncio.run(scenario()) == 10
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    assert [(s.first, s.last) for s in ColumnarCopy(engine, columns.folder).segments()] == [
        (1, 5),
        (6, 10),
    ]
    engine.dispose()


def test_stopping_waits_for_a_segment_being_written(tmp_path: Path) -> None:
    """The copy runs in a worker process: cancelling its task does not stop a catch-up under
    way, so `stop` waits for it and leaves no worker behind nor a half-written segment."""
    runtime = Runtime(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(runtime.engine)
    columns = runtime.columns
    assert columns is not None
    columns.segment_offsets = 10_000
    for start in range(0, 40_000, 10_000):
        runtime.sql_log.append(_viewed(range(start, start + 10_000)))

    async def scenario() -> int:
        runtime._columns_task = asyncio.create_task(runtime._copy_columns(columns))
        for _ in range(3000):  # the folder appears with the first segment's file
            if columns.folder.exists():
                break
            await asyncio.sleep(0.01)
        workers = set(mp.active_children()) - before
        await runtime.stop()
        return workers

    before = set(mp.active_children())
    workers = asyncio.run(scenario())
    assert len(workers) == 1
    assert not any(worker.is_alive() for worker in workers)
    assert not [p.name for p in columns.folder.iterdir() if not p.name.endswith(".parquet")]
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    segments = ColumnarCopy(engine, columns.folder).segments()
    engine.dispose()
    assert [(s.first, s.last) for s in segments] == [
        (1, 10_000), (10_001, 20_000), (20_001, 30_000), (30_001, 40_000)
    ]  # fmt: skip


def test_the_copy_starts_another_worker_when_its_worker_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed (out of memory, by hand) does not end the copy: the next round starts
    another one, and the segments go on."""
    monkeypatch.setattr(runtime_module, "COLUMNS_SECONDS", 0.01)
    runtime = Runtime(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(runtime.engine)
    columns = runtime.columns
    assert columns is not None
    columns.segment_offsets = 5
    before = set(mp.active_children())

    async def covered(offset: int) -> bool:
        for _ in range(3000):
            if columns.covered() == offset:
                return True
            await asyncio.sleep(0.01)
        return False

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(runtime._copy_columns(columns))
        runtime.sql_log.append(_viewed(range(6)))
        first = await covered(5)
        for worker in set(mp.active_children()) - before:
            worker.kill()
        runtime.sql_log.append(_viewed(range(6, 12)))
        second = await covered(10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.stop()
        return first, second

    assert asyncio.run(scenario()) == (True, True)
