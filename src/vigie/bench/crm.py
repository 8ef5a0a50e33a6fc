"""`vigie bench crm`: what "one truth" costs a CRM write.

Each write through the API is a CRM event appended to the log, applied by the CRM processor,
then answered. Measured in one run against one server: single writes from one client, the
same from `clients` concurrent clients (they share the log's group commit and the
projection's transaction), and batches of `batch` records (`POST /api/interactions/batch`).
Beside them, the baseline writes the same records straight into the CRM table, one
transaction each, without HTTP, the log or the processor. The server runs in this process and
the clients in others, so this process's CPU time per write is the server's: a figure that
holds on a busy machine, where rates move with the load. The mean group size says how many
concurrent single writes shared each log append and projection transaction.

A client is one keep-alive connection that sends its writes one after another. By default
it is the standard library's `http.client`, which spends about a third of httpx's CPU per
request: on a machine of two cores, eight httpx clients took a third of the CPU the server
needed, and real integrations run on other machines. `client="httpx"` measures as before;
the clients' own CPU per write is reported either way.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from rich.console import Console

from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.config import Config, Source
from vigie.crm.tables import interactions
from vigie.settings import Settings
from vigie.store import connect, upgrade
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


def _body(n: int) -> dict[str, Any]:
    return {
        "kind": "call",
        "direction": "outbound",
        "subject": f"Appel de suivi {n}",
        "summary": "Le client souhaite une démonstration du terminal de paiement.",
        "sentiment": 0.4,
    }


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94]


CLIENTS = ("stdlib", "httpx")
"""The HTTP clients the bench can write with."""


def _single_writes(
    client: str, url: str, headers: dict[str, str], first: int, count: int
) -> tuple[list[float], float]:
    """`count` sequential POSTs from one client on one connection; the latency of each and
    the client's CPU seconds."""
    cpu = time.process_time()
    latencies = []
    if client == "httpx":
        with httpx.Client(base_url=url, headers=headers, timeout=60) as session:
            for n in range(first, first + count):
                t0 = time.perf_counter()
                session.post("/api/interactions", json=_body(n)).raise_for_status()
                latencies.append(time.perf_counter() - t0)
        return latencies, time.process_time() - cpu
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    sent = {**headers, "Content-Type": "application/json"}
    try:
        for n in range(first, first + count):
            t0 = time.perf_counter()
            connection.request("POST", "/api/interactions", json.dumps(_body(n)), sent)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 201:
                raise RuntimeError(f"POST /api/interactions: {answer.status} {body[:200]!r}")
            latencies.append(time.perf_counter() - t0)
    finally:
        connection.close()
    return latencies, time.process_time() - cpu


def run_crm_bench(
    *,
    writes: int,
    clients: int = 8,
    batch: int = 1000,
    batches: int = 5,
    db_url: str | None,
    port: int,
    console: Console,
    client: str = "stdlib",
) -> dict[str, Any]:
    """Time `writes` API writes from one client and from `clients`, `batches` batches of
    `batch` records, and `writes` direct inserts; return the named figures. `client` is the
    HTTP client the writers use (one of `CLIENTS`)."""
    if client not in CLIENTS:
        raise ValueError(f"client {client!r}: use one of {', '.join(CLIENTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            db_url=url, config=Config(sources=[Source(name="bench", write_key="bench-key-0123456")])
        )
        app = create_app(build_system(settings))
        with BackgroundServer(app, port=port) as server:
            system = app.state.system
            writer = system.crm.writer
            now = datetime.now(UTC)
            user = create_user(
                engine=system.engine,
                username="bench",
                password="bench-password-123",
                role="admin",
                now=now,
            )
            token = issue_token(engine=system.engine, user_id=user.id, name="bench", now=now)
            headers = {"Authorization": f"Bearer {token.token}"}
            # The clients run in processes of their own: in the server's process their HTTP
            # work would compete with the server for the interpreter lock and hide its scaling.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(clients, mp_context=spawn) as pool:
                kinds, urls, auth = [client] * clients, [server.url] * clients, [headers] * clients
                warm = range(-clients, 0)
                list(pool.map(_single_writes, kinds, urls, auth, warm, [1] * clients))
                started, cpu = time.perf_counter(), time.process_time()
                latencies, single_client_cpu = pool.submit(
                    _single_writes, client, server.url, headers, 0, writes
                ).result()
                single_seconds = time.perf_counter() - started
                single_cpu = time.process_time() - cpu
                share = max(writes // clients, 1)
                groups = writer.groups
                started, cpu = time.perf_counter(), time.process_time()
                firsts = [writes + k * share for k in range(clients)]
                runs = list(pool.map(_single_writes, kinds, urls, auth, firsts, [share] * clients))
                concurrent_seconds = time.perf_counter() - started
                concurrent_cpu = time.process_time() - cpu
                concurrent_groups = writer.groups - groups
            concurrent = [t for run, _ in runs for t in run]
            concurrent_client_cpu = sum(spent for _, spent in runs)
            with httpx.Client(base_url=server.url, headers=headers, timeout=300) as session:
                batch_seconds = []
                for b in range(batches):
                    records = [_body(10_000_000 + b * batch + n) for n in range(batch)]
                    t0 = time.perf_counter()
                    session.post(
                        "/api/interactions/batch", json={"records": records}
                    ).raise_for_status()
                    batch_seconds.append(time.perf_counter() - t0)
        baseline_url = db_url or f"sqlite:///{Path(tmp) / 'baseline.db'}"
        engine = connect(baseline_url)
        upgrade(engine)
        started = time.perf_counter()
        for n in range(writes):
            at = datetime.now(UTC)
            with engine.begin() as conn:
                conn.execute(
                    interactions.insert().values(
                        id=f"base_{n}",
                        version=n + 1,
                        created_at=at,
                        updated_at=at,
                        occurred_at=at,
                        properties={},
                        **{k: v for k, v in _body(n).items()},
                    )
                )
        direct_seconds = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(sa.delete(interactions).where(interactions.c.id.like("base_%")))
        engine.dispose()
    p50, p95 = _quantiles(latencies)
    c50, c95 = _quantiles(concurrent)
    single = writes / single_seconds
    together = len(concurrent) / concurrent_seconds
    batched = batch * batches / sum(batch_seconds)
    direct = writes / direct_seconds
    figures = {
        "writes": writes,
        "clients": clients,
        "client": client,
        "batch": batch,
        "batches": batches,
        "api_writes_per_s": round(single, 1),
        "api_p50_ms": round(p50 * 1000, 2),
        "api_p95_ms": round(p95 * 1000, 2),
        "concurrent_writes_per_s": round(together, 1),
        "concurrent_p50_ms": round(c50 * 1000, 2),
        "concurrent_p95_ms": round(c95 * 1000, 2),
        "concurrent_speedup": round(together / single, 2),
        "server_cpu_ms_per_write": round(single_cpu * 1000 / writes, 2),
        "concurrent_server_cpu_ms_per_write": round(concurrent_cpu * 1000 / len(concurrent), 2),
        "client_cpu_ms_per_write": round(single_client_cpu * 1000 / writes, 2),
        "concurrent_client_cpu_ms_per_write": round(
            concurrent_client_cpu * 1000 / len(concurrent), 2
        ),
        "concurrent_groups": concurrent_groups,
        "concurrent_mean_group": round(len(concurrent) / max(concurrent_groups, 1), 2),
        "batch_records_per_s": round(batched, 1),
        "batch_seconds_max": round(max(batch_seconds), 3),
        "direct_inserts_per_s": round(direct, 1),
        "batch_vs_direct": round(batched / direct, 2),
        "db": "postgresql" if url.startswith("postgres") else "sqlite",
    }
    console.print(
        f"API single writes, 1 client: {figures['api_writes_per_s']}/s "
        f"(p50 {figures['api_p50_ms']} ms, p95 {figures['api_p95_ms']} ms); "
        f"{clients} clients: {figures['concurrent_writes_per_s']}/s "
        f"(x{figures['concurrent_speedup']}, {figures['concurrent_mean_group']} writes per "
        "group on average); server CPU per write "
        f"{figures['server_cpu_ms_per_write']} / "
        f"{figures['concurrent_server_cpu_ms_per_write']} ms, client ({client}) "
        f"{figures['client_cpu_ms_per_write']} / "
        f"{figures['concurrent_client_cpu_ms_per_write']} ms; "
        f"batches of {batch}: "
        f"{figures['batch_records_per_s']} records/s; direct table inserts: "
        f"{figures['direct_inserts_per_s']}/s (batch/direct {figures['batch_vs_direct']})"
    )
    return figures
