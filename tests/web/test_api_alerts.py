"""End to end on a live server: events posted over HTTP raise an alert, resolve it, stream
it over SSE and post it to an Alertmanager-format webhook; a backtest agrees."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, VigieAuth, free_port, make_settings, user_token
from tests.rules.receiver import Receiver
from vigie.config import Config, Source, parse_config
from vigie.log import SqlEventLog
from vigie.rules.backtest import log_events, replay
from vigie.store import connect
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

RULES = """
metrics:
  - name: orders
    kind: count
    where: {event: Order Completed}
    by: [campaign]
    window: 1m
    lateness: 5m
rules:
  - name: order-rush
    kind: threshold
    metric: orders
    op: ">="
    value: 3
    resolve_after: 0s  # a quiet minute resolves it: these tests follow the resolution
    severity: critical
    labels: {team: sales}
    summary:
      en: "{value} orders in a minute for {campaign}"
      fr: "{value} commandes en une minute pour {campaign}"
    playbook: call-the-kitchen
playbooks:
  - name: call-the-kitchen
    steps:
      - {action: page.flag, params: {page: /kitchen, reason: order rush}}
"""


def _config(hook: str) -> Config:
    text = RULES + f"alerting:\n  allow_private_networks: true\n  webhooks:\n    - url: {hook}\n"
    config = parse_config(text)
    config.sources = [Source(name="web", write_key=WRITE_KEY)]
    return config


def _order(n: int, at: datetime) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"order-{n}",
        "anonymousId": f"visitor-{n}",
        "event": "Order Completed",
        "timestamp": at.isoformat(),
        "properties": {"campaign": "lunch-deal", "revenue": 12.5},
    }


class SseReader:
    """Reads `/api/alerts/stream` in a thread, keeping each alert event."""

    def __init__(self, url: str, *, until: int, token: str) -> None:
        self.until = until
        self.alerts: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.client = httpx.Client(timeout=None, headers={"Authorization": f"Bearer {token}"})

    def _run(self, url: str) -> None:
        try:
            with self.client.stream("GET", url + "/api/alerts/stream") as response:
                for line in response.iter_lines():
                    self.ready.set()
                    if line.startswith("data: "):
                        self.alerts.append(json.loads(line[6:]))
                        if len(self.alerts) >= self.until:
                            return
        except httpx.HTTPError:
            pass

    def __enter__(self) -> SseReader:
        self.thread.start()
        assert self.ready.wait(20), "the SSE stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _auth(app: Any, username: str = "reader") -> VigieAuth:
    """Write key on /v1, a read-only user's token on /api (once the server has started)."""
    return VigieAuth(WRITE_KEY, user_token(app.state.system, username=username, role="read-only"))


def _wait(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver for the webhook."""
    with Receiver() as r:
        yield r


def test_alert_fires_resolves_streams_and_posts(db_url: str, receiver: Receiver) -> None:
    """Three orders in a minute fire the rule; a quiet minute resolves it, everywhere."""
    app = create_app(build_system(make_settings(db_url, _config(receiver.url))))
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    with (
        BackgroundServer(app, port=free_port()) as server,
        httpx.Client(base_url=server.url, auth=_auth(app)) as client,
        SseReader(
            server.url,
            until=2,
            token=user_token(app.state.system, username="sse", role="read-only"),
        ) as sse,
    ):
        batch = [_order(n, base + timedelta(seconds=n)) for n in range(3)]
        assert client.post("/v1/batch", json={"batch": batch}).status_code == 200
        firing = _wait(
            lambda: client.get("/api/alerts", params={"status": "firing"}).json()["alerts"]
        )
        assert len(firing) == 1
        alert = firing[0]
        assert alert["rule"] == "order-rush"
        assert alert["labels"]["campaign"] == "lunch-deal"
        assert alert["values"]["value"] == 3
        assert alert["annotations"]["summary_fr"] == "3.0 commandes en une minute pour lunch-deal"
        assert alert["playbook"] == "call-the-kitchen"
        assert sorted(alert["values"]["events"]) == [1, 2, 3]
        kpis = client.get("/api/kpis", params={"metric": "orders"}).json()["kpis"]
        assert [(k["group"], k["value"]) for k in kpis] == [("lunch-deal", 3.0)]

        later = [_order(9, base + timedelta(minutes=2))]
        assert client.post("/v1/batch", json={"batch": later}).status_code == 200
        resolved = _wait(
            lambda: client.get("/api/alerts", params={"status": "resolved"}).json()["alerts"]
        )
        assert [a["fingerprint"] for a in resolved] == [alert["fingerprint"]]
        assert _wait(lambda: len(sse.alerts) >= 2)
        assert [a["status"] for a in sse.alerts] == ["firing", "resolved"]

    bodies = receiver.wait_for(2)
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    first = bodies[0]
    assert first["version"] == "4"
    assert first["groupLabels"] == {"alertname": "order-rush"}
    assert first["commonLabels"]["severity"] == "critical"
    assert first["alerts"][0]["labels"]["campaign"] == "lunch-deal"
    assert first["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert bodies[1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"

    engine = connect(db_url)
    try:
        config = _config(receiver.url)
        changes = replay(config.metrics, config.rules, log_events(SqlEventLog(engine)))
    finally:
        engine.dispose()
    assert [(a.fingerprint, a.status) for a in changes] == [
        (alert["fingerprint"], "firing"),
        (alert["fingerprint"], "resolved"),
    ]


def test_firing_alert_survives_a_restart(db_url: str, receiver: Receiver) -> None:
    """An alert firing when the server stops is still firing, not raised again, after a restart."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    for round_no in range(2):
        app = create_app(build_system(make_settings(db_url, _config(receiver.url))))
        with (
            BackgroundServer(app, port=free_port()) as server,
            httpx.Client(base_url=server.url, auth=_auth(app, f"reader{round_no}")) as client,
        ):
            if round_no == 0:
                batch = [_order(n, base + timedelta(seconds=n)) for n in range(3)]
                client.post("/v1/batch", json={"batch": batch})
            else:
                client.post("/v1/batch", json={"batch": [_order(7, base + timedelta(seconds=30))]})
            firing = _wait(
                lambda: client.get("/api/alerts", params={"status": "firing"}).json()["alerts"]
            )
            assert len(firing) == 1
            if round_no == 1:
                time.sleep(0.2)
                every = client.get("/api/alerts").json()["alerts"]
                assert len(every) == 1
                assert every[0]["values"]["value"] == 4
