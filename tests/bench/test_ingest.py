"""`vigie bench ingest` waits for its workers by polling the store, and stops on one that died."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigie.bench.ingest import _wait_workers
from vigie.log.leases import leases
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
