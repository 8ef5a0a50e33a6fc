"""`vigie bench alerts`: from the HTTP request carrying a triggering event to the alert
firing and visible on the SSE stream, while background load flows through the API.

A server runs in a subprocess with the 20 metrics of `vigie bench kpi` plus a probe
metric and rule. Load processes post `rate` events per second to `/v1/batch` over
keep-alive connections, each request sent at a random (Poisson) time, from bodies encoded
once (only the message ids and the timestamp are patched in), so that the generator costs
little CPU next to the server. Every `interval` the probe posts one "Probe" event with a
fresh id, which fires a threshold rule for that id; the latency runs from sending that
request to the alert arriving as `firing` on `/api/alerts/stream`. The baseline, in the
same run, is the HTTP round trip of those probe requests (the time until the event is
committed and acknowledged). The figures say the rate the load reached, and whether that
was the target.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from vigie.bench.kpi import NAMES, bench_metrics

WRITE_KEY = "bench-alerts-write-key-0123456789"
AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def _config(path: Path) -> None:
    metrics = [
        {k: v for k, v in msgspec_to_dict(m).items() if v not in (None, [], {})}
        for m in bench_metrics()
    ]
    metrics.append(
        {"name": "probe", "kind": "count", "where": {"event": "Probe"}, "by": ["probe"],
         "window": "1m"}
    )  # fmt: skip
    rules = [{"name": "probe-fired", "kind": "threshold", "metric": "probe", "op": ">=",
              "value": 1}]  # fmt: skip
    config = {
        "sources": [{"name": "bench", "write_key": WRITE_KEY}],
        "metrics": metrics,
        "rules": rules,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def msgspec_to_dict(value: Any) -> dict[str, Any]:
    """A Struct as plain builtins (for writing the YAML config)."""
    import msgspec

    result: dict[str, Any] = msgspec.to_builtins(value)
    return result


_ID_MARK = b"@@ID@@"
_TS_MARK = b"@@TIMESTAMP@@"
# A fixed-width timestamp, so that patching it in never changes a body's length.
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def load_bodies(batch: int, count: int) -> list[bytes]:
    """`count` request bodies of `batch` track events each, encoded once.

    Message n of the run has visitor `v{n % 50000}`, campaign `c{n % 1000}`, event name
    `NAMES[n % 10]` and amount `n % 100`; the bodies cycle, so `count * batch` should be a
    multiple of 50,000 to keep every visitor. Each body carries `@@ID@@` (in every message
    id) and `@@TIMESTAMP@@` (in every timestamp), patched per request by `LoadRequests`.
    """
    bodies: list[bytes] = []
    n = 0
    for _ in range(count):
        messages: list[dict[str, Any]] = []
        for i in range(batch):
            messages.append(
                {
                    "type": "track",
                    "messageId": f"@@ID@@-{i}",
                    "anonymousId": f"v{n % 50_000}",
                    "event": NAMES[n % len(NAMES)],
                    "timestamp": "@@TIMESTAMP@@",
                    "properties": {"campaign": f"c{n % 1000}", "amount": n % 100},
                }
            )
            n += 1
        bodies.append(json.dumps({"batch": messages}, separators=(",", ":")).encode())
    return bodies


class LoadRequests:
    """Whole HTTP requests for `/v1/batch` from pre-encoded bodies: per request only a unique
    id and the current time are patched in (fixed width, so Content-Length stays right)."""

    def __init__(self, bodies: list[bytes], *, prefix: str, shuffle: float = 0.0) -> None:
        self.prefix = prefix
        self.shuffle = shuffle  # event times stray up to this many seconds into the past
        self._rng = random.Random(7)
        self.bodies = bodies
        self.heads = [
            (
                "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {AUTH}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self._patch(body, 0, ''.ljust(32)))}\r\n\r\n"
            ).encode()
            for body in bodies
        ]
        self.sent = 0

    def _patch(self, body: bytes, n: int, timestamp: str) -> bytes:
        ident = f"{self.prefix}{n:012d}".encode()
        return body.replace(_ID_MARK, ident).replace(_TS_MARK, timestamp.encode())

    def next(self) -> bytes:
        """The next request: the next body, a fresh id, the time now."""
        index = self.sent % len(self.bodies)
        self.sent += 1
        now = datetime.now(UTC)
        if self.shuffle:
            now -= timedelta(seconds=self._rng.uniform(0, self.shuffle))
        stamp = now.strftime(_TS_FORMAT)
        return self.heads[index] + self._patch(self.bodies[index], self.sent, stamp)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP response off a keep-alive connection; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    port: int,
    requests: LoadRequests,
    per_second: float,
    deadline: float,
    tally: list[int],
    rng: random.Random,
) -> None:
    """One keep-alive connection sending requests at random (Poisson) times averaging
    `per_second`, as independent clients would; at once when it has fallen behind."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = time.monotonic()
    try:
        while True:
            due += rng.expovariate(per_second)
            now = time.monotonic()
            if due >= deadline:
                return
            if due > now:
                await asyncio.sleep(due - now)
            writer.write(requests.next())
            if await _read_response(reader) == 200:
                tally[0] += 1
            else:
                tally[1] += 1
    finally:
        writer.close()


def _load(
    port: int,
    rate: float,
    seconds: float,
    batch: int,
    connections: int,
    out: Any,
    shuffle: float = 0.0,
) -> None:
    """A load process: `connections` connections sharing `rate` events per second, their
    event times shuffled up to `shuffle` seconds into the past."""
    bodies = load_bodies(batch, max(1, 50_000 // batch))
    tally = [0, 0]  # requests answered 200, requests answered otherwise

    async def run() -> float:
        requests = LoadRequests(bodies, prefix=f"L{os.getpid()}-", shuffle=shuffle)
        started = time.monotonic()
        deadline = started + seconds
        per_connection = rate / batch / connections
        # Seeded afresh each run: the achieved rate varies around the target (about ±2 % over
        # 20 s), and is reported.
        await asyncio.gather(
            *(
                _connection(port, requests, per_connection, deadline, tally, random.Random())
                for _ in range(connections)
            )
        )
        return time.monotonic() - started

    cpu = time.process_time()
    elapsed = asyncio.run(run())
    out.put(
        {
            "events": tally[0] * batch,
            "errors": tally[1],
            "seconds": elapsed,
            "cpu_seconds": time.process_time() - cpu,
        }
    )


def _reader_token(db_url: str) -> str:
    """An API token of a read-only user, created in the benchmark's store for the SSE reader."""
    from datetime import UTC, datetime

    from vigie.auth.tokens import issue_token
    from vigie.auth.users import create_user
    from vigie.store import connect

    engine = connect(db_url)
    try:
        now = datetime.now(UTC)
        user = create_user(
            engine=engine, username="bench-reader", password="bench-password-123",
            role="read-only", now=now,
        )  # fmt: skip
        return issue_token(engine=engine, user_id=user.id, name="bench", now=now).token
    finally:
        engine.dispose()


class _Stream:
    """Reads the SSE stream, noting when each probe's alert arrives as firing."""

    def __init__(self, url: str, token: str) -> None:
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self.client = httpx.Client(timeout=None, headers={"Authorization": f"Bearer {token}"})
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            with self.client.stream("GET", url + "/api/alerts/stream") as response:
                for line in response.iter_lines():
                    self.ready.set()
                    if line.startswith("data: "):
                        alert = json.loads(line[6:])
                        if alert["status"] == "firing" and "probe" in alert["labels"]:
                            self.seen.setdefault(alert["labels"]["probe"], time.perf_counter())
        except httpx.HTTPError:
            return


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    # `--processors worker` starts a worker process first: seconds more on a loaded machine.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not become healthy within 180 s")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, None where there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process and its children (the columnar copy's worker)
    have used so far, where /proc tells it."""
    fields = _stat(pid)
    if fields is None:
        return None
    # utime and stime, then those of the children it has waited for.
    ticks = sum(int(x) for x in fields[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat(entry.name)) and child[1] == str(pid):
            ticks += round((_cpu_seconds(int(entry.name)) or 0.0) * os.sysconf("SC_CLK_TCK"))
    return ticks / os.sysconf("SC_CLK_TCK")


def _probe_body(n: int) -> bytes:
    return json.dumps(
        {
            "batch": [
                {
                    "type": "track",
                    "messageId": f"probe-{n}",
                    "anonymousId": "prober",
                    "event": "Probe",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "properties": {"probe": f"p{n}"},
                }
            ]
        }
    ).encode()


def run_alerts_bench(
    *,
    seconds: float,
    rate: int,
    interval: float,
    clients: int = 2,
    connections: int = 4,
    batch: int = 100,
    synchronous: str = "NORMAL",
    shuffle: float = 0.0,
    processors: str = "server",
    db_url: str | None,
    console: Console,
) -> dict[str, Any]:
    """Run the load and the probes, in order and, with `shuffle`, again on a fresh server
    with the load's event times shuffled up to `shuffle` seconds into the past; returns the
    figures (milliseconds; the shuffled run's under `shuffled`).

    `synchronous` is SQLite's mode for the server's store: NORMAL (WAL: durable against a
    process crash, not a power cut; the default here) or FULL (the server's default).
    """
    options: dict[str, Any] = {
        "seconds": seconds, "rate": rate, "interval": interval, "clients": clients,
        "connections": connections, "batch": batch, "synchronous": synchronous,
        "db_url": db_url, "console": console, "processors": processors,
    }  # fmt: skip
    figures = _run_alerts(**options, shuffle=0.0)
    if shuffle:
        if db_url is not None:
            console.print("[yellow]--shuffle with --db: the shuffled run reuses the store[/yellow]")
        figures["shuffle_s"] = shuffle
        figures["shuffled"] = _run_alerts(**options, shuffle=shuffle)
    return figures


def _run_alerts(
    *,
    seconds: float,
    rate: int,
    interval: float,
    clients: int,
    connections: int,
    batch: int,
    synchronous: str,
    shuffle: float,
    processors: str,
    db_url: str | None,
    console: Console,
) -> dict[str, Any]:
    """One run of the load and the probes on a fresh server."""
    from vigie.bench.ingest import _free_port

    with tempfile.TemporaryDirectory(prefix="vigie-bench-alerts-") as tmp:
        config = Path(tmp) / "vigie.yaml"
        _config(config)
        url = db_url or f"sqlite:///{tmp}/bench.db"
        port = _free_port()
        env = dict(os.environ, VIGIE_SQLITE_SYNCHRONOUS=synchronous)
        server = subprocess.Popen(
            [sys.executable, "-m", "vigie", "serve", "--db", url, "--config", str(config),
             "--port", str(port), "--processors", processors],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(port, server)
            stream = _Stream(base, _reader_token(url))
            if not stream.ready.wait(30):
                raise RuntimeError("the SSE stream did not open")
            store = url.split("://")[0]
            console.print(
                f"alerts: {rate} events/s of load for {seconds:g} s from {clients} process(es) x "
                f"{connections} connection(s), batches of {batch}, a probe every "
                f"{interval * 1000:g} ms, store {store}"
                + (f", event times shuffled within {shuffle:g} s" if shuffle else "")
                + (f" (synchronous={synchronous})" if store.startswith("sqlite") else "")
            )
            results: mp.Queue[dict[str, float]] = mp.Queue()
            loads = [
                mp.Process(
                    target=_load,
                    args=(port, rate / clients, seconds, batch, connections, results, shuffle),
                )
                for _ in range(clients)
            ]
            server_cpu = _cpu_seconds(server.pid)
            load_started = time.monotonic()
            for load in loads:
                load.start()
            sent: dict[str, float] = {}
            acked: list[float] = []
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Content-Type": "application/json", "Authorization": AUTH}
            time.sleep(min(1.0, seconds / 5))
            deadline = time.monotonic() + seconds - 1
            n = 0
            while time.monotonic() < deadline:
                n += 1
                body = _probe_body(n)
                started = time.perf_counter()
                sent[f"p{n}"] = started
                probe.request("POST", "/v1/batch", body=body, headers=headers)
                probe.getresponse().read()
                acked.append(time.perf_counter() - started)
                time.sleep(interval)
            probe.close()
            reports = [results.get(timeout=60) for _ in loads]
            server_seconds = time.monotonic() - load_started
            server_cpu_end = _cpu_seconds(server.pid)
            for load in loads:
                load.join()
            time.sleep(1.0)
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies = sorted(stream.seen[p] - t for p, t in sent.items() if p in stream.seen)
    missing = len(sent) - len(latencies)
    acked.sort()
    load_rate = sum(r["events"] / r["seconds"] for r in reports)
    figures = {
        "p50_ms": round(_quantile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "baseline_ack_p50_ms": round(_quantile(acked, 0.5) * 1000, 2),
        "baseline_ack_p99_ms": round(_quantile(acked, 0.99) * 1000, 2),
        "probes": len(sent),
        "missing": missing,
        "load_events_per_s": round(load_rate),
        "target_events_per_s": rate,
        "target_reached": load_rate >= 0.95 * rate,
        "load_errors": int(sum(r["errors"] for r in reports)),
        "load_cpu_s_per_s": round(sum(r["cpu_seconds"] / r["seconds"] for r in reports), 3),
        "server_cpu_s_per_s": (
            round((server_cpu_end - server_cpu) / server_seconds, 3)
            if server_cpu is not None and server_cpu_end is not None
            else None
        ),
        "store": store if not store.startswith("sqlite") else f"sqlite synchronous={synchronous}",
        "processors": processors,
    }
    if not figures["target_reached"]:
        console.print(
            f"[yellow]the load reached {load_rate:,.0f} events/s, short of the "
            f"{rate:,} events/s target[/yellow]"
        )
    console.print(figures)
    return figures
