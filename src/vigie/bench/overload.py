"""`vigie bench overload`: a server offered `factor` times the rate it sustains, for `seconds`.

First the sustainable rate is measured (clients that wait for each answer, as many as the
ingest benchmark uses); then client processes *offer* `factor` times that rate on a fixed
schedule, whatever the answers, as a flood of senders would (open loop, no retries). Meanwhile
a separate probe asks `/healthz` and the dashboard's sign-in page twice a second, and the
server's resident memory is sampled.

The figures say whether the server sheds the excess the way the issue asks: the answers it
refuses are 429 or 503, each with `Retry-After`; the probes stay fast; memory stays bounded;
and every event acknowledged (200) is in the log afterwards, once, so nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Self

import httpx
from rich.console import Console

from vigie.bench.clients import WRITE_KEY, template_batch
from vigie.bench.ingest import (
    _client,
    _free_port,
    _quantile,
    _stored,
    _wait_healthy,
)

_MARK = b"@@BATCH@@"
PROBES = ("/healthz", "/login")
"""What stays responsive: the health check, and a dashboard page (its sign-in form)."""


def _config(path: Path, *, max_in_flight: int, max_queued: int, max_lag: int) -> Path:
    path.write_text(
        f"sources:\n  - {{name: bench, write_key: {WRITE_KEY}}}\n"
        f"ingest:\n  max_in_flight: {max_in_flight}\n  max_queued_batches: {max_queued}\n"
        f"  max_processor_lag: {max_lag}\n"
    )
    return path


def _flood(
    worker: int,
    port: int,
    rate: float,
    seconds: float,
    batch: int,
    connections: int,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Offer `rate` requests per second for `seconds`, on schedule, whatever the answers."""
    asyncio.run(_offer(worker, port, rate, seconds, batch, connections, out))


async def _offer(
    worker: int,
    port: int,
    rate: float,
    seconds: float,
    batch: int,
    connections: int,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    template = template_batch(batch)
    statuses: Counter[int] = Counter()
    missing_retry_after = 0
    accepted = 0
    latencies: list[float] = []
    not_sent = 0
    in_flight = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=timeout, auth=(WRITE_KEY, "")
    ) as client:

        async def send(n: int) -> None:
            nonlocal accepted, missing_retry_after, in_flight
            body = template.replace(_MARK, f"o{worker}n{n}".encode())
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/v1/batch", content=body, headers={"content-type": "application/json"}
                )
            except httpx.HTTPError:
                statuses[0] += 1
            else:
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    accepted += int(response.json()["accepted"])
                    latencies.append(time.perf_counter() - started)
                elif response.status_code in (429, 503) and not response.headers.get("retry-after"):
                    missing_retry_after += 1
            finally:
                in_flight -= 1

        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while n < due:
                n += 1
                if in_flight >= connections:
                    not_sent += 1  # every connection is waiting on the server: counted, dropped
                    continue
                in_flight += 1
                task = asyncio.create_task(send(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(min(0.005, 1 / rate))
        if tasks:
            await asyncio.gather(*tasks)
    out.put(
        {
            "statuses": dict(statuses),
            "accepted": accepted,
            "latencies": latencies,
            "missing_retry_after": missing_retry_after,
            "offered": n,
            "not_sent": not_sent,
        }
    )


class _Every:
    """Calls `sample` every `interval` seconds on a thread of its own, while in its `with`."""

    interval = 0.5

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        raise NotImplementedError


class _Probe(_Every):
    """Asks each of `PROBES` twice a second on its own connection; keeps the latencies."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.latencies: dict[str, list[float]] = {path: [] for path in PROBES}
        self.failures: Counter[str] = Counter()

    def sample(self) -> None:
        for path in PROBES:
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = 0
            if status == 200:
                self.latencies[path].append(time.perf_counter() - started)
            else:
                self.failures[path] += 1


class _Memory(_Every):
    """Samples a process's resident memory (VmRSS) every 0.2 s."""

    interval = 0.2

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.samples: list[int] = []

    def rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def sample(self) -> None:
        self.samples.append(self.rss())


def _ms(values: list[float], q: float) -> float | None:
    return round(_quantile(sorted(values), q) * 1000, 1) if values else None


def run_overload_bench(
    *,
    seconds: float,
    factor: float,
    calibrate: float,
    clients: int,
    connections: int,
    batch: int,
    max_in_flight: int,
    max_queued: int,
    max_lag: int,
    db_url: str | None,
    console: Console,
    workers: int = 0,
    processors: str = "server",
) -> dict[str, Any]:
    """Measure the sustainable rate, then offer `factor` times it for `seconds`; returns the
    figures (also printed). Raises when an acknowledged event is missing from the log."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        url = db_url or f"sqlite:///{tmp}/bench.db"
        config = _config(
            Path(tmp) / "vigie.yaml",
            max_in_flight=max_in_flight,
            max_queued=max_queued,
            max_lag=max_lag,
        )
        port = _free_port()
        shared = ["--db", url, "--config", str(config)]
        role = ["--role", "ingest"] if workers else ["--processors", processors]
        server = subprocess.Popen(
            [sys.executable, "-m", "vigie", "serve", *shared, *role, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        helpers = [
            subprocess.Popen(
                [sys.executable, "-m", "vigie", "worker", *shared],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            _wait_healthy(port, server)
            memory = _Memory(server.pid)
            rss_start = memory.rss()
            console.print(f"sustainable rate: {clients} x 4 waiting clients for {calibrate:g} s")
            queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            procs = [
                mp.Process(target=_client, args=(w, port, 4, calibrate, batch, queue))
                for w in range(clients)
            ]
            started = time.perf_counter()
            for proc in procs:
                proc.start()
            calibration = [queue.get() for _ in procs]
            sustained = sum(r["accepted"] for r in calibration) / (time.perf_counter() - started)
            for proc in procs:
                proc.join()
            offered_rate = factor * sustained
            request_rate = offered_rate / batch
            console.print(
                f"overload: {offered_rate:,.0f} events/s offered ({factor:g} x "
                f"{sustained:,.0f}) for {seconds:g} s by {clients} processes"
            )
            procs = [
                mp.Process(
                    target=_flood,
                    args=(w, port, request_rate / clients, seconds, batch, connections, queue),
                )
                for w in range(clients)
            ]
            with memory, _Probe(port) as probe:
                for proc in procs:
                    proc.start()
                results = [queue.get() for _ in procs]
                for proc in procs:
                    proc.join()
        finally:
            for process in (server, *helpers):
                process.terminate()
            for process in (server, *helpers):
                process.wait(timeout=60)
        calibrated = sum(r["accepted"] for r in calibration)
        accepted = sum(r["accepted"] for r in results)
        stored = _stored(url, None)
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update({int(k): v for k, v in result["statuses"].items()})
    latencies = [x for r in results for x in r["latencies"]]
    shed = statuses[429] + statuses[503]
    figures = {
        "configuration": {
            "workers": workers,
            "max_in_flight": max_in_flight,
            "processors": "worker" if workers else processors,
        },
        "sustainable_events_per_s": round(sustained),
        "offered_events_per_s": round(offered_rate),
        "seconds": seconds,
        "requests_offered": sum(r["offered"] for r in results),
        "requests_not_sent_all_connections_busy": sum(r["not_sent"] for r in results),
        "answers": {str(k): v for k, v in sorted(statuses.items())},
        "shed_share": round(shed / max(1, sum(statuses.values())), 3),
        "shed_without_retry_after": sum(r["missing_retry_after"] for r in results),
        "server_errors": sum(v for k, v in statuses.items() if k >= 500 and k != 503),
        "accepted_events_per_s": round(accepted / seconds),
        "accepted_p50_ms": _ms(latencies, 0.5),
        "accepted_p99_ms": _ms(latencies, 0.99),
        "probes": {
            path: {
                "p50_ms": _ms(probe.latencies[path], 0.5),
                "p99_ms": _ms(probe.latencies[path], 0.99),
                "max_ms": _ms(probe.latencies[path], 1.0),
                "failed": probe.failures[path],
            }
            for path in PROBES
        },
        "rss_mb_start": round(rss_start / 2**20),
        "rss_mb_max": round(max(memory.samples, default=0) / 2**20),
        "acknowledged_events": calibrated + accepted,
        "stored_events": stored,
        "lost": calibrated + accepted - stored,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    console.print(figures)
    if stored != calibrated + accepted:
        raise RuntimeError(f"{calibrated + accepted} events acknowledged, {stored} in the log")
    return figures
