"""`vigie bench live`: how long an event takes to reach an open dashboard.

Each event is posted to `/v1/track` while a client follows `/api/live` (the stream the pages
use). Measured side by side for every event: the ingest acknowledgement (the baseline: the
event is committed to the log) and the arrival of the event on the live stream.
"""

from __future__ import annotations

import json
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

WRITE_KEY = "bench-live-write-key-0123456789"


def _follow(url: str, token: str, arrived: queue.Queue[tuple[str, float]], ready: threading.Event,
            stop: threading.Event) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", url + "/api/live", headers=headers) as stream,
    ):
        for line in stream.iter_lines():
            if stop.is_set():
                return
            if not line.startswith("data: "):
                continue
            ready.set()
            for event in json.loads(line[len("data: ") :]).get("events", []):
                if event.get("anonymous_id"):
                    arrived.put((event["anonymous_id"], time.perf_counter()))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_live_bench(
    *, events: int, db_url: str | None, console: Console, timeout: float = 5.0
) -> dict[str, Any]:
    """Post `events` events one by one and time their acknowledgement and live arrival."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-live-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'vigie.db'}"
        config = Config(sources=[Source(name="bench", write_key=WRITE_KEY)])
        app = create_app(build_system(Settings(db_url=url, config=config)))
        with BackgroundServer(app, port=_free_port()) as server:
            system = app.state.system
            now = system.clock.now()
            user = create_user(
                engine=system.engine,
                username="bench",
                password="bench-password-123",
                role="admin",
                now=now,
            )
            token = issue_token(engine=system.engine, user_id=user.id, name="bench", now=now)
            arrived: queue.Queue[tuple[str, float]] = queue.Queue()
            ready, stop = threading.Event(), threading.Event()
            follower = threading.Thread(
                target=_follow, args=(server.url, token.token, arrived, ready, stop), daemon=True
            )
            follower.start()
            if not ready.wait(timeout=30):
                raise RuntimeError("the live stream did not start")
            acks: list[float] = []
            lives: list[float] = []
            missed = 0
            with httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=30) as client:
                for i in range(events):
                    visitor = f"bench-{i}"
                    started = time.perf_counter()
                    response = client.post(
                        "/v1/track", json={"event": "Bench Event", "anonymousId": visitor}
                    )
                    response.raise_for_status()
                    acks.append(time.perf_counter() - started)
                    deadline = started + timeout
                    while True:
                        try:
                            who, at = arrived.get(timeout=max(0.0, deadline - time.perf_counter()))
                        except queue.Empty:
                            missed += 1
                            break
                        if who == visitor:
                            lives.append(at - started)
                            break
            stop.set()
    figures = {
        "events": events,
        "missed": missed,
        "ack_ms_p50": round(statistics.median(acks) * 1000, 2),
        "ack_ms_p95": round(_percentile(acks, 0.95) * 1000, 2),
        "live_ms_p50": round(statistics.median(lives) * 1000, 2) if lives else None,
        "live_ms_p95": round(_percentile(lives, 0.95) * 1000, 2) if lives else None,
        "live_ms_max": round(max(lives) * 1000, 2) if lives else None,
    }
    table = Table(title=f"{events} events, one at a time")
    for column in ("", "p50 ms", "p95 ms"):
        table.add_column(column)
    table.add_row(
        "ingest acknowledged (baseline)", str(figures["ack_ms_p50"]), str(figures["ack_ms_p95"])
    )
    table.add_row(
        "shown on the live stream", str(figures["live_ms_p50"]), str(figures["live_ms_p95"])
    )
    console.print(table)
    if missed:
        console.print(f"[red]{missed} events did not reach the stream within {timeout} s[/red]")
    return figures


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
