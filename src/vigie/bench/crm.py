"""`vigie bench crm`: what "one truth" costs a CRM write.

Each write through the API is a CRM event appended to the log, applied by the CRM processor,
then answered. Beside it, the baseline writes the same records straight into the CRM table,
one transaction each, without HTTP, the log or the processor.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def run_crm_bench(
    *, writes: int, db_url: str | None, port: int, console: Console
) -> dict[str, Any]:
    """Time `writes` API writes and as many direct inserts; return the named figures."""
    with tempfile.TemporaryDirectory() as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            db_url=url, config=Config(sources=[Source(name="bench", write_key="bench-key-0123456")])
        )
        app = create_app(build_system(settings))
        latencies: list[float] = []
        with BackgroundServer(app, port=port) as server:
            system = app.state.system
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
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
                client.post("/api/interactions", json=_body(-1)).raise_for_status()
                started = time.perf_counter()
                for n in range(writes):
                    t0 = time.perf_counter()
                    client.post("/api/interactions", json=_body(n)).raise_for_status()
                    latencies.append(time.perf_counter() - t0)
                api_seconds = time.perf_counter() - started
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
    figures = {
        "writes": writes,
        "api_writes_per_s": round(writes / api_seconds, 1),
        "api_p50_ms": round(p50 * 1000, 2),
        "api_p95_ms": round(p95 * 1000, 2),
        "direct_inserts_per_s": round(writes / direct_seconds, 1),
        "db": "postgresql" if url.startswith("postgres") else "sqlite",
    }
    console.print(
        f"API writes (log + projection + read-back): {figures['api_writes_per_s']}/s, "
        f"p50 {figures['api_p50_ms']} ms, p95 {figures['api_p95_ms']} ms; "
        f"direct table inserts: {figures['direct_inserts_per_s']}/s"
    )
    return figures
