"""Issue 14 end to end on a live server: shuffled sign-ups all count and a too-late one is
shown on /api/kpis and /metrics; a conversion that stays at 0 % does not "recover"."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import WRITE_KEY, VigieAuth, free_port, make_settings, user_token
from vigie.config import Config, Source, parse_config
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

CONFIG = """
metrics:
  - name: signups
    kind: count
    where: {event: Newsletter Signed Up}
    by: [campaign]
    window: 1h
    slide: 1m
  - name: conversion
    title: {en: Conversion, fr: Conversion}
    kind: ratio
    numerator: {where: {event: Order Completed}}
    denominator: {where: {event: Checkout Started}}
    by: [campaign]
    window: 10m
rules:
  - name: conversion-drop
    kind: change
    metric: conversion
    drop: 0.3
    resolve_after: 0s  # at once: the test is about what recovers, not when
"""


def _config() -> Config:
    config = parse_config(CONFIG)
    config.sources = [Source(name="web", write_key=WRITE_KEY)]
    return config


def _event(name: str, n: int, at: datetime, campaign: str = "lunch") -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"{name}-{n}",
        "anonymousId": f"visitor-{n}",
        "event": name,
        "timestamp": at.isoformat(),
        "properties": {"campaign": campaign},
    }


def _wait(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return predicate()


def _kpi(client: httpx.Client, metric: str) -> dict[str, Any]:
    data = client.get("/api/kpis", params={"metric": metric}).json()
    rows = {row["group"]: row for row in data["kpis"]}
    return {"rows": rows, "late": data["late"].get(metric, 0)}


def test_shuffled_events_count_and_late_ones_are_shown(db_url: str) -> None:
    """Ten sign-ups sent one by one in shuffled order within five minutes count ten; one a
    day older than the newest is counted late, beside the value and on /metrics."""
    app = create_app(build_system(make_settings(db_url, _config())))
    base = datetime.now(UTC) - timedelta(minutes=10)
    moments = [base + timedelta(seconds=30 * n) for n in range(10)]
    random.Random(14).shuffle(moments)
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="reader", role="read-only")
        with httpx.Client(base_url=server.url, auth=VigieAuth(WRITE_KEY, token)) as client:
            for n, at in enumerate(moments):
                event = _event("Newsletter Signed Up", n, at)
                assert client.post("/v1/batch", json={"batch": [event]}).status_code == 200
            counted = _wait(
                lambda: _kpi(client, "signups")["rows"].get("lunch", {}).get("value") == 10
            )
            assert counted, _kpi(client, "signups")
            stale = _event("Newsletter Signed Up", 99, base - timedelta(days=1))
            assert client.post("/v1/batch", json={"batch": [stale]}).status_code == 200
            assert _wait(lambda: _kpi(client, "signups")["late"] == 1)
            row = _kpi(client, "signups")["rows"]["lunch"]
            assert (row["value"], row["late"]) == (10, 1)
            metrics = client.get("/metrics").text
            assert 'vigie_kpi_late_events_total{metric="signups"} 1.0' in metrics
            assert 'vigie_kpi_late_events_total{metric="conversion"} 0.0' in metrics


def test_conversion_staying_at_zero_does_not_recover(db_url: str) -> None:
    """The false recovery of issue 14: conversion falls from 36 % to 0 % and stays there
    for three windows (the previous window becomes 0 % as well); the alert keeps firing,
    and resolves only back at 34 %, saying so."""
    app = create_app(build_system(make_settings(db_url, _config())))
    now = datetime.now(UTC)
    base = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
    base -= timedelta(minutes=60)
    counter = iter(range(1_000_000))

    def window(number: int, checkouts: int, orders: int) -> list[dict[str, Any]]:
        start = base + timedelta(minutes=10 * number)
        batch = []
        for i in range(checkouts):
            at = start + timedelta(seconds=i)
            batch.append(_event("Checkout Started", next(counter), at))
            if i < orders:
                batch.append(_event("Order Completed", next(counter), at))
        return batch

    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="reader", role="read-only")
        with httpx.Client(base_url=server.url, auth=VigieAuth(WRITE_KEY, token)) as client:

            def alerts(status: str) -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = client.get(
                    "/api/alerts", params={"status": status}
                ).json()["alerts"]
                return found

            def post(number: int, checkouts: int, orders: int, value: float) -> None:
                batch = window(number, checkouts, orders)
                assert client.post("/v1/batch", json={"batch": batch}).status_code == 200
                shown = _wait(
                    lambda: (
                        _kpi(client, "conversion")["rows"].get("lunch", {}).get("value") == value
                    )
                )
                assert shown, _kpi(client, "conversion")

            post(0, 25, 9, 0.36)
            post(1, 25, 0, 0.0)
            firing = _wait(lambda: alerts("firing"))
            assert len(firing) == 1
            for number in (2, 3, 4):
                post(number, 25, 0, 0.0)
                time.sleep(1.5)  # a tick or two of the live server
                assert alerts("resolved") == []
            (alert,) = alerts("firing")
            assert alert["values"]["reference"] == 0.36
            assert alert["values"]["reference_now"] == 0.0
            post(5, 50, 17, 0.34)
            resolved = _wait(lambda: alerts("resolved"))
            assert len(resolved) == 1
            assert resolved[0]["annotations"]["resolution_en"] == (
                "Conversion back to 34 % (fired at 0 %, reference 36 %)"
            )
            assert alerts("firing") == []
