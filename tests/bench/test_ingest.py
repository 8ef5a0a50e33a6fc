"""`vigie bench ingest` waits for its workers by polling the store, and stops on one that died;
its ingest nodes keep every event they acknowledge."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import NATS_URL, port_open, require_service
from vigie.bench.ingest import _process_named, _wait_workers, run_ingest_bench
from vigie.log.leases import leases
from vigie.log.nats import parse_nats_url
from vigie.store import connect, upgrade
from vigie.system import PROCESSORS_LEASE, PROJECTIONS_SHARE, WORKERS


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_worker_that_exits_at_start_stops_the_wait(tmp_path: Path) -> None:
    """A worker gone before it took its share fails the bench at once, naming it."""
    url = f"sqlite:///{tmp_path}/bench.db"
    upgrade(connect(url))
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(RuntimeError, match="worker exited at start"):
        _wait_workers(url, [dead])


def test_the_wait_ends_once_every_share_and_worker_holds_a_lease(tmp_path: Path) -> None:
    """Two live member leases and a holder for both shares: the clients may start."""
    url = f"sqlite:///{tmp_path}/bench.db"
    engine = connect(url)
    upgrade(engine)
    until = int((time.time() + 600) * 1e6)
    with engine.begin() as conn:
        conn.execute(
            leases.insert(),
            [
                {"name": name, "holder": holder, "expires_at_us": until}
                for name, holder in (
                    (f"{WORKERS}:member:a", "a"),
                    (f"{WORKERS}:member:b", "b"),
                    (PROCESSORS_LEASE, "a"),
                    (PROJECTIONS_SHARE, "b"),
                )
            ],
        )
    workers = [_sleeper(), _sleeper()]
    try:
        _wait_workers(url, workers)
        assert all(worker.poll() is None for worker in workers)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def test_two_ingest_nodes_without_workers_keep_every_acknowledged_event() -> None:
    """Prebuilt clients over two `--role ingest` nodes on NATS and no worker: every event
    acknowledged is in the stream (the run checks the count), and the clients' CPU, the
    nodes' and the local nats-server's are reported per event."""
    parsed = parse_nats_url(NATS_URL)
    host, _, port = parsed.servers.split("://", 1)[1].partition(":")
    if not port_open(host, int(port or 4222)):
        require_service("NATS JetStream", f"nothing listens on {host}:{port}")
    figures = run_ingest_bench(
        seconds=1.0,
        clients=1,
        connections=2,
        batch=50,
        db_url=None,
        console=Console(file=io.StringIO()),
        workers=0,
        log_url=NATS_URL,
        ingest_nodes=2,
        prebuilt_requests=True,
    )
    assert figures["configuration"] == {
        "workers": 0,
        "log": "nats",
        "processors": "none",
        "ingest_nodes": 2,
        "clients": "prebuilt",
    }
    assert figures["events"] > 0
    assert figures["errors"] == 0
    assert figures["client_cpu_us_per_event"] is not None
    assert figures["server_cpu_us_per_event"] > 0
    if _process_named("nats-server") is not None:
        assert figures["nats_server_cpu_us_per_event"] is not None
        assert figures["server_side_cpu_us_per_event"] > figures["cpu_us_per_event_drained"]
