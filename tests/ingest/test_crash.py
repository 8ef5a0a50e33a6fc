"""A server killed with SIGKILL mid-stream loses no batch it acknowledged with a 200."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.conftest import WRITE_KEY, free_port
from vigie.store import connect
from vigie.store.schema import events

BATCH = 50


STARTUP_CPU_S = 90.0
"""CPU seconds a start-up may use: the interpreter and its imports, the migrations, catching up
with the log take a few seconds of CPU; past this the start-up is broken, however loaded the
machine is (a loaded machine stretches the wall time, not the CPU time)."""
STALL_S = 60.0
"""Wall seconds a starting server may go without using any CPU: one that waits that long on
nothing is hung."""
WALL_S = 600.0
"""The last resort: no start-up is waited for longer, whatever else it does."""


def _start(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start `vigie serve` and wait until it answers /healthz (it does once its start-up is
    complete), for as long as it makes progress: a busy machine (other test sessions) can
    stretch a start-up that takes seconds to minutes of wall time. It fails on a server that
    exits, burns more than `STARTUP_CPU_S` of CPU, or uses none for `STALL_S` seconds, with
    the server's output and where its threads stood (faulthandler, on SIGABRT)."""
    env = dict(os.environ, VIGIE_WRITE_KEY=WRITE_KEY, PYTHONFAULTHANDLER="1")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigie", "serve", "--db", db_url, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = progressed = time.monotonic()
    used = _cpu_seconds(proc.pid)
    problem = None
    while problem is None:
        if proc.poll() is not None:
            raise AssertionError(f"vigie serve exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        now = time.monotonic()
        if now - progressed >= 1:  # reading /proc once a second is enough
            cpu = _cpu_seconds(proc.pid)
            if cpu > used:
                used, progressed = cpu, now
        if used > STARTUP_CPU_S:
            problem = f"used {used:.1f} s of CPU (more than {STARTUP_CPU_S:g})"
        elif now - progressed > STALL_S:
            problem = f"used no CPU for {now - progressed:.0f} s (hung, at {used:.1f} s of CPU)"
        elif now - started > WALL_S:
            problem = f"was not up after {now - started:.0f} s ({used:.1f} s of CPU)"
    proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to the log
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    raise AssertionError(
        f"vigie serve did not become healthy: it {problem}; load {os.getloadavg()}; "
        f"its output:\n{log.read_text()}"
    )


def _cpu_seconds(pid: int) -> float:
    """CPU seconds used by `pid` and its live descendants (a start-up may wait on a child)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        todo += _children(current)
    return total


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, NotADirectoryError):
            continue
        if stat.rsplit(")", 1)[1].split()[1] == str(pid):
            found.append(int(entry.name))
    return found


def _stream(port: int, acknowledged: list[str], stop: threading.Event, worker: int) -> None:
    """Post batches until the server dies; record the message ids of each batch answered 200."""
    n = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(WRITE_KEY, ""), timeout=10) as c:
        while not stop.is_set():
            n += 1
            ids = [f"w{worker}-b{n}-m{i}" for i in range(BATCH)]
            batch = [
                {"type": "track", "event": "Crash Test", "anonymousId": "a", "messageId": mid}
                for mid in ids
            ]
            try:
                response = c.post("/v1/batch", json={"batch": batch})
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acknowledged.extend(ids)


def test_kill_9_keeps_every_acknowledged_batch(db_url: str, tmp_path: Path) -> None:
    """Every batch answered 200 before a SIGKILL is in the log after a restart on the same store."""
    port = free_port()
    server_log = tmp_path / "server.log"
    proc = _start(db_url, port, server_log)
    acknowledged: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_stream, args=(port, acknowledged, stop, w)) for w in range(3)
    ]
    try:
        for thread in threads:
            thread.start()
        while len(acknowledged) < 20 * BATCH and proc.poll() is None:
            time.sleep(0.01)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 20 * BATCH
    # Its worker process (the log's columnar copy, next to a SQLite file) does not outlive it.
    assert workers or not db_url.startswith("sqlite"), "the server had no worker process"
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]

    proc = _start(db_url, port, server_log)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    engine = connect(db_url)
    try:
        with engine.connect() as conn:
            stored = {row[0] for row in conn.execute(sa.select(events.c.message_id))}
            offsets = [row[0] for row in conn.execute(sa.select(events.c.log_offset))]
    finally:
        engine.dispose()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    assert len(offsets) == len(set(offsets)) == len(stored)
