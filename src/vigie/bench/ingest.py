"""`vigie bench ingest`: events/s through HTTP into the log, beside the raw SQLite insert rate.

The server runs in its own process, the clients in others (they share the machine's cores,
as they would in production on one box). The ceiling is the same rows inserted straight into
a SQLite file with the same schema and pragmas, without HTTP, JSON or validation.

CPU is counted twice: over the clients' window, and until the server and workers are idle
again, since the processors may still be catching up when the clients stop; their remaining
work belongs to the same events.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console

from vigie.events.event import encode_event
from vigie.events.segment import Envelope, convert_messages
from vigie.store import connect, upgrade
from vigie.store.engine import sqlite_pragmas
from vigie.types import to_us

WRITE_KEY = "bench-write-key-0123456789"
_MARK = b"@@BATCH@@"


def template_batch(size: int) -> bytes:
    """A realistic mixed batch; `@@BATCH@@` in each messageId is replaced per request."""
    messages: list[dict[str, Any]] = []
    now = datetime.now(UTC).isoformat()
    for i in range(size):
        anon = f"anon-{i % 97}"
        kind = ("track", "page", "track", "identify")[i % 4]
        message: dict[str, Any] = {
            "type": kind,
            "messageId": f"@@BATCH@@-{i}",
            "anonymousId": anon,
            "timestamp": now,
            "context": {
                "ip": "203.0.113.7",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
                "page": {"path": "/lunch-deal", "url": "https://shop.example.be/lunch-deal"},
                "campaign": {"name": "lunch-deal", "source": "facebook", "medium": "paid_social"},
            },
        }
        if kind == "track":
            message["event"] = "Product Added" if i % 8 else "Order Completed"
            message["properties"] = {"product_id": f"sku-{i % 13}", "price": 9.5, "quantity": 1}
        elif kind == "page":
            message["name"] = "Lunch deal"
            message["properties"] = {"path": "/lunch-deal", "title": "Lunch deal"}
        else:
            message["userId"] = f"user-{i}"
            message["traits"] = {"email": f"user-{i}@example.be", "plan": "pro"}
        messages.append(message)
    return json.dumps({"batch": messages, "sentAt": now}).encode()


def _client(
    worker: int,
    port: int,
    connections: int,
    seconds: float,
    batch: int,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    template = template_batch(batch)
    latencies: list[float] = []
    accepted = 0
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    import base64

    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()

    def run(conn_no: int) -> None:
        nonlocal accepted, errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = template.replace(_MARK, f"w{worker}c{conn_no}n{n}".encode())
            started = time.perf_counter()
            conn.request(
                "POST",
                "/v1/batch",
                body=body,
                headers={"Content-Type": "application/json", "Authorization": auth},
            )
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                if response.status == 200:
                    accepted += json.loads(payload)["accepted"]
                    latencies.append(elapsed)
                else:
                    errors += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put({"accepted": accepted, "errors": errors, "latencies": latencies})


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STARTUP_SECONDS = 300.0
"""How long the server and the workers may take to start: on a shared, loaded machine three
processes importing Vigie at once took over 30 s."""
IDLE_CPU_SHARE = 0.05
"""Below this share of a core over a second, the processes are idle: the processors caught up."""


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited at start")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the benchmark server did not become healthy within {STARTUP_SECONDS:g} s")


def _wait_workers(url: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Poll the store until `workers` have announced themselves and every share of the
    processors has a holder, so that the clients do not start against processors still
    importing (with none, the events wait and back-pressure answers 503)."""
    if not workers:
        return
    from vigie.log.leases import leases
    from vigie.system import PROCESSORS_LEASE, PROJECTIONS_SHARE, WORKERS

    members = f"{WORKERS}:member:"
    engine = connect(url)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for worker in workers:
                if worker.poll() is not None:
                    raise RuntimeError(f"a benchmark worker exited at start: {_last_words(worker)}")
            now = int(time.time() * 1e6)
            try:
                with engine.connect() as conn:
                    held = {
                        str(name)
                        for (name,) in conn.execute(
                            sa.select(leases.c.name).where(leases.c.expires_at_us >= now)
                        )
                    }
            except sa.exc.OperationalError:  # the server is still creating the tables
                held = set()
            alive = sum(name.startswith(members) for name in held)
            if alive >= len(workers) and {PROCESSORS_LEASE, PROJECTIONS_SHARE} <= held:
                return
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise RuntimeError(
        f"the {len(workers)} benchmark workers did not take the processors within "
        f"{STARTUP_SECONDS:g} s"
    )


def _last_words(process: subprocess.Popen[bytes]) -> str:
    """The end of what a process wrote to the file its standard error went to."""
    stderr = process.stderr
    name = getattr(stderr, "name", None)
    if not isinstance(name, str):
        return "(no output kept)"
    return Path(name).read_text(errors="replace")[-2000:]


def _wait_idle(pids: list[int], *, bound: float = 180.0) -> float:
    """Wait until `pids` together use less than `IDLE_CPU_SHARE` of a core over a second
    (the processors have caught up with the log), at most `bound` seconds; returns the wait."""
    started = time.monotonic()
    before = _total_cpu(pids)
    while time.monotonic() - started < bound:
        time.sleep(1.0)
        now = _total_cpu(pids)
        if now - before < IDLE_CPU_SHARE:
            break
        before = now
    return time.monotonic() - started


def _total_cpu(pids: list[int]) -> float:
    return sum(_cpu_seconds(pid) or 0.0 for pid in pids)


def ceiling(db_path: Path, batch: int, seconds: float) -> float:
    """Rows/s inserting the same rows straight into SQLite (same schema and pragmas)."""
    engine = connect(f"sqlite:///{db_path}")
    upgrade(engine)
    engine.dispose()
    envelope_body = template_batch(batch)
    raw = json.loads(envelope_body)
    now = datetime.now(UTC)
    envelope = Envelope(
        messages=[json.dumps(m).encode() for m in raw["batch"]],
        sent_at=None,
        context={},
        write_key=None,
    )
    events, _ = convert_messages(envelope, source="bench", received_at=now)
    rows = [
        (
            None,
            e.source,
            e.message_id,
            e.type,
            e.event,
            e.anonymous_id,
            e.user_id,
            to_us(e.timestamp),
            to_us(e.received_at),
            encode_event(e),
        )
        for e in events
    ]
    conn = sqlite3.connect(db_path, isolation_level=None)
    for pragma in sqlite_pragmas("FULL"):
        conn.execute(pragma)
    sql = (
        "INSERT INTO events (log_offset, source, message_id, type, event, anonymous_id, user_id,"
        " timestamp_us, received_at_us, body) VALUES (?,?,?,?,?,?,?,?,?,?)"
    )
    inserted = 0
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        n += 1
        suffix = f"-{n}"
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, [(r[0], r[1], r[2] + suffix, *r[3:]) for r in rows])
        conn.execute("COMMIT")
        inserted += len(rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return inserted / elapsed


def run_ingest_bench(
    *,
    seconds: float,
    clients: int,
    connections: int,
    batch: int,
    db_url: str | None,
    console: Console,
    workers: int = 0,
    log_url: str | None = None,
    processors: str = "server",
) -> dict[str, Any]:
    """Run both measurements and return the figures (also printed as a table).

    With `workers`, the server runs `--role ingest` and that many `vigie worker` processes
    run the processors (two share them, a third stands by); with `log_url` (nats://…) the
    events go to a JetStream stream of the run's own, removed afterwards. With `processors`
    "worker", the server runs them in a `vigie worker` child of its own (counted with it).
    """
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        url = db_url or f"sqlite:///{tmp}/bench.db"
        log = _bench_log(log_url)
        shared = ["--db", url, *(["--log", log] if log else [])]
        ceiling_seconds = min(seconds, 6.0) / 2
        # The ceiling is measured before and after the HTTP run and averaged, so that a change
        # of load on a shared machine weighs on both figures alike.
        console.print("ceiling: the same rows inserted straight into SQLite, no HTTP (1/2)")
        raw_before = ceiling(Path(tmp) / "ceiling-1.db", batch, ceiling_seconds)
        port = _free_port()
        env = dict(os.environ, VIGIE_WRITE_KEY=WRITE_KEY)
        role = ["--role", "ingest"] if workers else ["--processors", processors]
        server = subprocess.Popen(
            [sys.executable, "-m", "vigie", "serve", *shared, *role, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        helpers: list[subprocess.Popen[bytes]] = []
        try:
            _wait_healthy(port, server)
            # Started once the server is up (the store's tables made); a worker that exits
            # at start leaves its last words in the run's directory for the error.
            helpers += [
                subprocess.Popen(
                    [sys.executable, "-m", "vigie", "worker", *shared],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(Path(tmp) / f"worker-{n}.log").open("wb"),
                )
                for n in range(workers)
            ]
            _wait_workers(url, helpers)
            console.print(
                f"ingest: {clients} client processes x {connections} connections, "
                f"{batch}-event batches, {seconds:g} s, store {url.split('://')[0]}"
            )
            queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            procs = [
                mp.Process(target=_client, args=(w, port, connections, seconds, batch, queue))
                for w in range(clients)
            ]
            pids = [server.pid, *_children(server.pid), *(helper.pid for helper in helpers)]
            cpu_before = _cpu_seconds(server.pid)
            all_before = _total_cpu(pids)
            started = time.perf_counter()
            for proc in procs:
                proc.start()
            results = [queue.get() for _ in procs]
            elapsed = time.perf_counter() - started
            cpu_after = _cpu_seconds(server.pid)
            all_after = _total_cpu(pids)
            for proc in procs:
                proc.join()
            # The processors may still be behind when the clients stop: their remaining work
            # belongs to the same events (`cpu_us_per_event_drained`).
            drain_seconds = _wait_idle(pids)
            all_drained = _total_cpu(pids) - all_before
        finally:
            for process in (server, *helpers):
                process.terminate()
            for process in (server, *helpers):
                process.wait(timeout=30)
        accepted = sum(r["accepted"] for r in results)
        errors = sum(r["errors"] for r in results)
        latencies = sorted(x for r in results for x in r["latencies"])
        stored = _stored(url, log)
        if stored != accepted:
            raise RuntimeError(f"{accepted} events acknowledged but {stored} in the log")
        console.print("ceiling: the same rows inserted straight into SQLite, no HTTP (2/2)")
        raw_after = ceiling(Path(tmp) / "ceiling-2.db", batch, ceiling_seconds)
    raw_rate = (raw_before + raw_after) / 2
    rate = accepted / elapsed
    figures = {
        "configuration": {
            "workers": workers,
            "log": "nats" if log else "sql",
            "processors": "worker" if workers else processors,
        },
        "events_per_s": round(rate),
        "p50_ms": round(_quantile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
        "ceiling_events_per_s": round(raw_rate),
        "ratio": round(rate / raw_rate, 3),
        "batches": len(latencies),
        "errors": errors,
        "events": accepted,
        "ceiling_before_after": [round(raw_before), round(raw_after)],
        "server_cpu_us_per_event": (
            round((cpu_after - cpu_before) / accepted * 1e6, 1)
            if cpu_before is not None and cpu_after is not None and accepted
            else None
        ),
        "cpu_us_per_event": round((all_after - all_before) / accepted * 1e6, 1)
        if accepted
        else None,
        "cpu_us_per_event_drained": round(all_drained / accepted * 1e6, 1) if accepted else None,
        "drain_seconds": round(drain_seconds, 1),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    console.print(figures)
    return figures


def _bench_log(log_url: str | None) -> str | None:
    """The run's own stream on the NATS server of `log_url` (cut into the partitions it
    names), or None for the SQL log."""
    if not log_url:
        return None
    from vigie.log.nats import parse_nats_url

    options = parse_nats_url(log_url)
    name = f"BENCH{os.getpid()}{int(time.time())}"
    partitions = ""
    if options.partitions > 1:
        partitions = f"&partitions={options.partitions}&key={options.partition_key}"
    return f"{options.servers}?stream={name}&prefix=vigiebench.{name.lower()}{partitions}"


def _stored(url: str, log: str | None) -> int:
    """How many events the log holds (the run's stream is removed once counted)."""
    engine = connect(url)
    try:
        if log is None:
            with engine.connect() as conn:
                return int(conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one())
        from vigie.log.nats import NatsEventLog
        from vigie.log.sql import SqlEventLog

        stream = NatsEventLog.from_url(log, rejects=SqlEventLog(engine))
        try:
            return stream.count()
        finally:
            stream.delete_stream()
            stream.close()
    finally:
        engine.dispose()


def _children(pid: int) -> list[int]:
    """The processes `pid` started (the processors' worker of `--processors worker`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[
                1
            ] == str(pid):
                found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc on Linux.

    Server CPU per event is the figure that stays comparable when the machine is shared.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return (
        statistics.quantiles(sorted_values, n=100, method="inclusive")[int(q * 100) - 1]
        if q < 1
        else sorted_values[-1]
    )
