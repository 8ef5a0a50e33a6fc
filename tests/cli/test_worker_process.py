"""`vigie serve --processors worker`: the processors in a `vigie worker` child the server
starts, wakes after each commit, restarts when it dies and stops with it (SQLite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port
from tests.test_worker import BATCH, CAMPAIGNS, CONFIG, PROCESSORS, _orders, _outcome, _wait
from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.log.sql import SqlEventLog
from vigie.store import connect, upgrade


def _children(pid: int) -> list[int]:
    """The processes `pid` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@dataclass
class Served:
    """A `vigie serve --processors worker` subprocess and what a test needs of it."""

    proc: subprocess.Popen[bytes]
    url: str
    db_url: str
    headers: dict[str, str]

    def worker_pid(self) -> int | None:
        children = _children(self.proc.pid)
        return children[0] if len(children) == 1 else None

    def post(self, client: httpx.Client, batch: list[dict[str, Any]]) -> int:
        answer = client.post(f"{self.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
        assert answer.status_code == 200, answer.text
        return int(answer.json()["accepted"])

    def spring(self, client: httpx.Client) -> float | None:
        kpis = client.get(f"{self.url}/api/kpis?metric=orders", headers=self.headers).json()
        values = [k["value"] for k in kpis["kpis"] if "spring" in str(k)]
        return values[0] if values else None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`vigie serve --processors worker` on a fresh SQLite store with an admin's token."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG)
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    engine = connect(db_url)
    upgrade(engine)
    now = datetime.now(UTC)
    user = create_user(
        engine=engine, username="admin", password="correct horse battery", role="admin", now=now
    )
    token = issue_token(engine=engine, user_id=user.id, name="test", now=now).token
    engine.dispose()
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    command = ["serve", "--db", db_url, "--config", str(config), "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigie", *command, "--processors", "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait("the server", healthy)
        yield Served(proc, url, db_url, {"Authorization": f"Bearer {token}"})
    finally:
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for child in children:
            assert not Path(f"/proc/{child}").exists() or _zombie(child), "worker outlived serve"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _caught_up(db_url: str) -> bool:
    log = SqlEventLog(connect(db_url))
    try:
        last = log.last_offset()
        return all(log.checkpoint(name) > last for name in PROCESSORS)
    finally:
        log.engine.dispose()


def test_serve_with_a_worker_process_shows_the_kpis_and_streams_the_alert_it_fires(
    served: Served,
) -> None:
    """The child worker processes what the server ingests: the dashboard's KPI counts every
    order, and the alert the worker stores reaches the server's SSE stream."""
    child = served.worker_pid()
    assert child is not None
    # The store's URL (it may hold a password) is not on the child's command line.
    assert served.db_url not in Path(f"/proc/{child}/cmdline").read_text()
    orders = [e for e in _orders() if e["properties"]["campaign"] == "spring"][:320]
    with httpx.Client(timeout=60) as client:
        with client.stream(
            "GET", f"{served.url}/api/alerts/stream", headers=served.headers
        ) as stream:
            lines = stream.iter_lines()
            for start in range(0, len(orders), BATCH):
                served.post(client, orders[start : start + BATCH])
            alert = next(
                message
                for line in lines
                if line.startswith("data:")
                and (message := json.loads(line[5:]))["status"] == "firing"
            )
        assert alert["rule"] == "busy-campaign"
        assert alert["labels"]["campaign"] == "spring"
        assert _wait("the KPI", lambda: served.spring(client) == len(orders), seconds=60)


def test_a_killed_worker_process_is_restarted_and_nothing_is_lost_or_counted_twice(
    served: Served,
) -> None:
    """kill -9 of the child mid-stream: serve starts another, which takes over from the
    checkpoints; every order is in the CRM once, every alert fired once, the KPI exact."""
    events = _orders()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    first = served.worker_pid()
    assert first is not None
    accepted = 0
    with httpx.Client(timeout=60) as client:
        for number, batch in enumerate(batches):
            accepted += served.post(client, batch)
            if number == len(batches) // 2:
                os.kill(first, signal.SIGKILL)
        second = _wait("a new worker", lambda: (pid := served.worker_pid()) != first and pid)
        _wait("the new worker to catch up", lambda: _caught_up(served.db_url))
        assert _wait("the KPI", lambda: served.spring(client) == 700, seconds=60)
    assert accepted == len(events)
    assert second != first
    engine = connect(served.db_url)
    try:
        orders, groups, fired = _outcome(engine)
    finally:
        engine.dispose()
    assert orders == len(events)
    campaigns = {c for _, group in groups for c in CAMPAIGNS if f"'{c}'" in group}
    assert len(groups) == 2 and campaigns == {"spring", "summer"}
    assert set(fired.values()) == {1}
