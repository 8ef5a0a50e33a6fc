"""What the composition root builds from settings, and a system run without HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import make_settings
from vigie.config import parse_config
from vigie.events import Event
from vigie.log.columnar import ColumnarCopy, ColumnarWorker
from vigie.log.eventlog import AppendJob
from vigie.log.leases import live_holders
from vigie.settings import build_settings
from vigie.store import connect, upgrade
from vigie.system import System, build_system


def test_the_log_columnar_copy_sits_next_to_the_sqlite_file(tmp_path: Path) -> None:
    """A SQLite server keeps its columnar copy in `<file>-columns`, or where configured."""
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    assert system.columns is not None
    assert system.columns.folder == tmp_path / "vigie.db-columns"
    system.engine.dispose()
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db",
        environ={"VIGIE_COLUMNS_DIR": str(tmp_path / "copy"), "VIGIE_WRITE_KEY": "k" * 24},
    )
    assert settings.columns_dir == str(tmp_path / "copy")
    system = build_system(settings)
    assert system.columns is not None and system.columns.folder == tmp_path / "copy"
    system.engine.dispose()


def test_postgresql_has_a_columnar_copy_only_when_configured(tmp_path: Path) -> None:
    """PostgreSQL has no file to sit next to: no copy unless a folder is set."""
    url = "postgresql://postgres@127.0.0.1:5432/unused"
    system = build_system(make_settings(url))
    assert system.columns is None
    system.engine.dispose()
    settings = make_settings(url)
    settings.columns_dir = str(tmp_path)
    system = build_system(settings)
    assert system.columns is not None and system.columns.folder == tmp_path
    system.engine.dispose()


def _viewed(ids: Iterable[int]) -> list[Event]:
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    return [
        Event(message_id=str(i), type="track", source="web", event="Viewed", anonymous_id="a",
              timestamp=at, received_at=at)
        for i in ids
    ]  # fmt: skip


def test_the_server_writes_segments_as_the_log_grows(tmp_path: Path) -> None:
    """The columnar worker copies each completed range of the log to Parquet."""
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(system.engine)
    columns = system.columns
    assert columns is not None
    columns.segment_offsets = 5

    async def scenario() -> int:
        worker = ColumnarWorker(columns, seconds=0.01)
        await worker.start()
        system.sql_log.append(_viewed(range(12)))
        for _ in range(1000):
            if columns.covered() == 10:
                break
            await asyncio.sleep(0.01)
        await worker.stop()
        await system.stop()
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
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(system.engine)
    columns = system.columns
    assert columns is not None
    columns.segment_offsets = 10_000
    for start in range(0, 40_000, 10_000):
        system.sql_log.append(_viewed(range(start, start + 10_000)))

    async def scenario() -> int:
        worker = ColumnarWorker(columns)
        await worker.start()
        for _ in range(3000):  # the folder appears with the first segment's file
            if columns.folder.exists():
                break
            await asyncio.sleep(0.01)
        workers = set(mp.active_children()) - before
        await worker.stop()
        await system.stop()
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


def test_the_copy_starts_another_worker_when_its_worker_dies(tmp_path: Path) -> None:
    """A worker killed (out of memory, by hand) does not end the copy: the next round starts
    another one, and the segments go on."""
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    upgrade(system.engine)
    columns = system.columns
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
        copier = ColumnarWorker(columns, seconds=0.01)
        await copier.start()
        system.sql_log.append(_viewed(range(6)))
        first = await covered(5)
        for worker in set(mp.active_children()) - before:
            worker.kill()
        system.sql_log.append(_viewed(range(6, 12)))
        second = await covered(10)
        await copier.stop()
        await system.stop()
        return first, second

    assert asyncio.run(scenario()) == (True, True)


def test_a_system_runs_without_http(tmp_path: Path) -> None:
    """The composition root builds a worker with no web layer: started, it migrates the
    store, its processors consume what is appended, and stopping releases everything."""
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    assert system.services.names[0] == "store"
    assert system.services.names.index("log-writer") < system.services.names.index("processors")

    async def scenario(system: System) -> int:
        await system.start()
        try:
            result = await system.committer.append(
                AppendJob(events=_viewed(range(3)), source="web", endpoint="test")
            )
            await system.runner.wait_for("analytics", max(result.offsets), timeout=20)
            return system.analytics.events_seen
        finally:
            await system.stop()

    assert asyncio.run(scenario(system)) == 3


def test_ingest_and_api_nodes_run_no_processors_and_a_worker_serves_no_live_feed(
    tmp_path: Path,
) -> None:
    """`--role ingest|api` leaves the processors to workers (an API node keeps its own KPI
    and analytics views); a worker has no live feed."""
    names = {}
    for role in ("all", "ingest", "api", "worker"):
        system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"), role=role)
        names[role] = set(system.services.names)
        system.engine.dispose()
    assert {"processors", "rules-tick", "playbook-timer", "live-feed"} <= names["all"]
    for role in ("ingest", "api"):
        assert "log-writer" in names[role] and "live-feed" in names[role]
        assert not {"processors", "rules-tick", "playbook-timer", "alerts"} & names[role]
    assert {"views", "view-processors", "kpi-tick"} <= names["api"]
    assert not {"views", "view-processors"} & names["ingest"]
    assert {"processors", "rules-tick", "playbook-timer"} <= names["worker"]
    assert "live-feed" not in names["worker"]


def test_every_node_says_it_is_alive_as_a_sender_of_notifications(tmp_path: Path) -> None:
    """An API node and a worker on one store each hold a sender membership while they run
    (so that neither one's recovery takes back what the other is sending), the worker under
    the holder id of its worker membership; stopping gives both up."""
    url = f"sqlite:///{tmp_path}/vigie.db"
    api = build_system(make_settings(url), role="api")
    worker = build_system(make_settings(url), role="worker")
    holders = {api.dispatcher.holder, worker.dispatcher.holder}

    async def scenario() -> tuple[set[str], set[str], set[str]]:
        await api.start()
        await worker.start()
        try:
            alive = live_holders(api.engine, holders)
            workers = set(worker.processing.status().workers)
        finally:
            await worker.stop()
            await api.stop()
        return alive, workers, live_holders(api.engine, holders)

    alive, workers, after = asyncio.run(scenario())
    assert alive == holders
    assert workers == {worker.dispatcher.holder}
    assert after == set()


def test_anomaly_rules_follow_the_sites_time_zone(tmp_path: Path) -> None:
    """Issue 15: the composition root gives the alerting engine the site's time zone
    (`analytics.timezone`), which an anomaly rule naming none follows; one naming its own
    keeps it."""
    config = parse_config(
        "analytics: {timezone: Europe/Paris}\n"
        "metrics:\n  - {name: visitors, kind: count, window: 10m}\n"
        "rules:\n  - {name: odd, kind: anomaly, metric: visitors}\n"
        "  - {name: odd-ny, kind: anomaly, metric: visitors, timezone: America/New_York}\n"
    )
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db", config))
    try:
        watches = system.alerting.anomalies
        assert watches["odd"].timezone == "Europe/Paris"
        assert watches["odd-ny"].timezone == "America/New_York"
    finally:
        system.engine.dispose()
