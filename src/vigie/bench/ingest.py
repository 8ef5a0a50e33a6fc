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
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console

from vigie.bench.clients import WRITE_KEY, prebuilt_client, python_client, template_batch
from vigie.events.event import encode_event
from vigie.events.segment import Envelope, convert_messages
from vigie.store import connect, upgrade
from vigie.store.engine import sqlite_pragmas
from vigie.types import to_us


def _client(
    worker: int,
    port: int,
    connections: int,
    seconds: float,
    batch: int,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """A `python_client` on one port that starts at once (`vigie bench overload`)."""
    python_client(worker, [port], connections, seconds, batch, _NoBarrier(), out)


class _NoBarrier:
    """A start that waits for nobody."""

    def wait(self) -> None:
        return None


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
    ingest_nodes: int = 0,
    prebuilt_requests: bool = False,
) -> dict[str, Any]:
    """Run both measurements and return the figures (also printed as a table).

    With `workers`, the server runs `--role ingest` and that many `vigie worker` processes
    run the processors (two share them, a third stands by); with `log_url` (nats://…) the
    events go to a JetStream stream of the run's own, removed afterwards. With `processors`
    "worker", the server runs them in a `vigie worker` child of its own (counted with it).
    With `ingest_nodes` N >= 1, N `vigie serve --role ingest` processes on ports of their
    own take the clients' connections in turn, beside `workers` workers (0: none, the
    ingest-only capacity; the log is still counted afterwards, every acknowledged event in
    it). With `prebuilt_requests`, the clients build every request before the window
    (`vigie.bench.clients.prebuilt_client`), so that the server side gets the cores.
    """
    if ingest_nodes < 0 or workers < 0:
        raise ValueError("--ingest-nodes and --workers count processes: 0 or more")
    nodes = max(1, ingest_nodes)
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        url = db_url or f"sqlite:///{tmp}/bench.db"
        log = _bench_log(log_url)
        shared = ["--db", url, *(["--log", log] if log else [])]
        ceiling_seconds = min(seconds, 6.0) / 2
        # The ceiling is measured before and after the HTTP run and averaged, so that a change
        # of load on a shared machine weighs on both figures alike.
        console.print("ceiling: the same rows inserted straight into SQLite, no HTTP (1/2)")
        raw_before = ceiling(Path(tmp) / "ceiling-1.db", batch, ceiling_seconds)
        env = dict(os.environ, VIGIE_WRITE_KEY=WRITE_KEY)
        ingest_only = bool(workers or ingest_nodes)
        role = ["--role", "ingest"] if ingest_only else ["--processors", processors]
        ports: list[int] = []
        servers: list[subprocess.Popen[bytes]] = []
        helpers: list[subprocess.Popen[bytes]] = []
        try:
            # One after the other: the first makes the store's tables and the stream.
            for _ in range(nodes):
                port = _free_port()
                servers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "vigie",
                            "serve",
                            *shared,
                            *role,
                            *["--port", str(port)],
                        ],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                )
                ports.append(port)
                _wait_healthy(port, servers[-1])
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
            kind = "prebuilt-request" if prebuilt_requests else "python"
            console.print(
                f"ingest: {clients} {kind} client processes x {connections} connections over "
                f"{nodes} node(s), {batch}-event batches, {seconds:g} s, store "
                f"{url.split('://')[0]}, log {'nats' if log else 'sql'}, {workers} worker(s)"
            )
            queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            start = mp.Barrier(clients + 1)
            target = (
                partial(prebuilt_client, clients=clients) if prebuilt_requests else python_client
            )
            procs = [
                mp.Process(
                    target=target, args=(w, ports, connections, seconds, batch, start, queue)
                )
                for w in range(clients)
            ]
            for proc in procs:
                proc.start()
            node_pids = [server.pid for server in servers]
            pids = [
                *node_pids,
                *(child for pid in node_pids for child in _children(pid)),
                *(helper.pid for helper in helpers),
            ]
            nats_pid = _process_named("nats-server") if log else None
            # The clients build their requests first; the window opens when all are ready.
            start.wait(timeout=STARTUP_SECONDS)
            nodes_before = _total_cpu(node_pids)
            all_before = _total_cpu(pids)
            nats_before = _cpu_seconds(nats_pid) if nats_pid else None
            results = [queue.get() for _ in procs]
            nodes_after = _total_cpu(node_pids)
            all_after = _total_cpu(pids)
            nats_after = _cpu_seconds(nats_pid) if nats_pid else None
            for proc in procs:
                proc.join()
            # The processors may still be behind when the clients stop: their remaining work
            # belongs to the same events (`cpu_us_per_event_drained`).
            drain_seconds = _wait_idle(pids)
            all_drained = _total_cpu(pids) - all_before
            nats_drained = _cpu_seconds(nats_pid) if nats_pid else None
        finally:
            for process in (*servers, *helpers):
                process.terminate()
            for process in (*servers, *helpers):
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
    elapsed = max(r["seconds"] for r in results)
    rate = accepted / elapsed

    def per_event(cpu_seconds: float | None) -> float | None:
        return (
            round(cpu_seconds / accepted * 1e6, 2) if cpu_seconds is not None and accepted else None
        )

    nats_window = per_event(
        nats_after - nats_before if nats_before is not None and nats_after is not None else None
    )
    nats_total = per_event(
        nats_drained - nats_before if nats_before is not None and nats_drained is not None else None
    )
    server_side = per_event(all_drained)
    if server_side is not None and nats_total is not None:
        server_side = round(server_side + nats_total, 2)
    cpus = os.cpu_count() or 1
    figures = {
        "configuration": {
            "workers": workers,
            "log": "nats" if log else "sql",
            "processors": "worker" if workers else ("none" if ingest_only else processors),
            "ingest_nodes": nodes,
            "clients": "prebuilt" if prebuilt_requests else "python",
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
        "server_cpu_us_per_event": per_event(nodes_after - nodes_before),
        "cpu_us_per_event": per_event(all_after - all_before),
        "cpu_us_per_event_drained": per_event(all_drained),
        "client_cpu_us_per_event": per_event(sum(r["cpu_seconds"] for r in results)),
        "nats_server_cpu_us_per_event": nats_window,
        "nats_server_cpu_us_per_event_drained": nats_total,
        "server_side_cpu_us_per_event": server_side,
        "inferred_events_per_s_clients_elsewhere": (
            round(cpus * 1e6 / server_side) if server_side else None
        ),
        "prebuilt_exhausted": sum(r["exhausted"] for r in results),
        "drain_seconds": round(drain_seconds, 1),
        "cpus": cpus,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    console.print(figures)
    if nats_pid:
        console.print(
            f"nats-server (pid {nats_pid}) is the machine's shared system service: its CPU "
            "counts whatever else uses it meanwhile."
        )
    if server_side:
        console.print(
            f"inferred, not measured: {cpus} cores / {server_side:g} µs of server-side CPU per "
            f"event (ingest nodes, workers{', nats-server' if nats_pid else ''}) = "
            f"{figures['inferred_events_per_s_clients_elsewhere']:,} events/s with the clients "
            "on other machines"
            + ("" if log else f"; the SQLite commit caps it near the ceiling, {raw_rate:,.0f}")
        )
    return figures


def _process_named(name: str) -> int | None:
    """The pid of a process whose command name is `name` (the local `nats-server`), if any."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                return int(entry.name)
        except OSError:
            continue
    return None


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
