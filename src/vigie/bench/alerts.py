"""`vigie bench alerts`: from the HTTP request carrying a triggering event to the alert
firing and visible on the SSE stream, while background load flows through the API.

A server runs in a subprocess with the 20 metrics of `vigie bench kpi` plus a probe
metric and rule. A load process posts `rate` events per second; every `interval` the
probe posts one "Probe" event with a fresh id, which fires a threshold rule for that id.
The baseline, in the same run, is the HTTP round trip of those probe requests (the time
until the event is committed and acknowledged).
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
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


def _load(port: int, rate: float, seconds: float, batch: int, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = 0
    n = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        due = started + sent / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        now = datetime.now(UTC).isoformat()
        messages = []
        for _ in range(batch):
            n += 1
            messages.append(
                {
                    "type": "track",
                    "messageId": f"load-{os.getpid()}-{n}",
                    "anonymousId": f"v{n % 50_000}",
                    "event": NAMES[n % len(NAMES)],
                    "timestamp": now,
                    "properties": {"campaign": f"c{n % 1000}", "amount": n % 100},
                }
            )
        conn.request(
            "POST",
            "/v1/batch",
            body=json.dumps({"batch": messages}),
            headers={"Content-Type": "application/json", "Authorization": AUTH},
        )
        conn.getresponse().read()
        sent += batch
    out.put(sent / (time.monotonic() - started))


class _Stream:
    """Reads the SSE stream, noting when each probe's alert arrives as firing."""

    def __init__(self, url: str) -> None:
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self.client = httpx.Client(timeout=None)
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not become healthy within 60 s")


def run_alerts_bench(
    *,
    seconds: float,
    rate: int,
    interval: float,
    clients: int = 2,
    db_url: str | None,
    console: Console,
) -> dict[str, Any]:
    """Run the load and the probes; returns the figures (milliseconds)."""
    from vigie.bench.ingest import _free_port

    with tempfile.TemporaryDirectory(prefix="vigie-bench-alerts-") as tmp:
        config = Path(tmp) / "vigie.yaml"
        _config(config)
        url = db_url or f"sqlite:///{tmp}/bench.db"
        port = _free_port()
        env = dict(os.environ, VIGIE_SQLITE_SYNCHRONOUS="NORMAL")
        server = subprocess.Popen(
            [sys.executable, "-m", "vigie", "serve", "--db", url, "--config", str(config),
             "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(port, server)
            stream = _Stream(base)
            if not stream.ready.wait(30):
                raise RuntimeError("the SSE stream did not open")
            console.print(
                f"alerts: {rate} events/s of load for {seconds:g} s, a probe every "
                f"{interval * 1000:g} ms, store {url.split('://')[0]}"
            )
            results: mp.Queue[float] = mp.Queue()
            loads = [
                mp.Process(target=_load, args=(port, rate / clients, seconds, 100, results))
                for _ in range(clients)
            ]
            for load in loads:
                load.start()
            sent: dict[str, float] = {}
            acked: list[float] = []
            with httpx.Client(base_url=base, headers={"Authorization": AUTH}) as client:
                time.sleep(min(1.0, seconds / 5))
                deadline = time.monotonic() + seconds - 1
                n = 0
                while time.monotonic() < deadline:
                    n += 1
                    probe = f"p{n}"
                    body = {
                        "batch": [
                            {
                                "type": "track",
                                "messageId": f"probe-{n}",
                                "anonymousId": "prober",
                                "event": "Probe",
                                "timestamp": datetime.now(UTC).isoformat(),
                                "properties": {"probe": probe},
                            }
                        ]
                    }
                    started = time.perf_counter()
                    sent[probe] = started
                    client.post("/v1/batch", json=body)
                    acked.append(time.perf_counter() - started)
                    time.sleep(interval)
            load_rate = sum(results.get(timeout=60) for _ in loads)
            for load in loads:
                load.join()
            time.sleep(1.0)
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies = sorted(stream.seen[p] - t for p, t in sent.items() if p in stream.seen)
    missing = len(sent) - len(latencies)
    acked.sort()
    figures = {
        "p50_ms": round(_quantile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "baseline_ack_p50_ms": round(_quantile(acked, 0.5) * 1000, 2),
        "baseline_ack_p99_ms": round(_quantile(acked, 0.99) * 1000, 2),
        "probes": len(sent),
        "missing": missing,
        "load_events_per_s": round(load_rate),
    }
    console.print(figures)
    return figures
