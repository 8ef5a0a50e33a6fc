"""`GET /api/dead-letters` on a live server, the dead-letter alert, and the processors'
progress on `/metrics` (issue 14)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import LiveServer
from vigie.events import Event


def _page(message_id: str, at: datetime) -> Event:
    return Event(message_id=message_id, type="page", source="web", anonymous_id=message_id,
                 timestamp=at, received_at=at, context={"page": {"path": "/lunch"}})  # fmt: skip


def _until(fetch: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = fetch()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_poison_event_is_listed_alerted_and_counted(live_server: LiveServer) -> None:
    """An event appended without the door that fails the analytics processor is listed with
    its reason, raises the `dead-letter` alert, and shows on /metrics; the processor goes on."""
    system = live_server.system
    system.runner.backoff_seconds = 0.0
    now = system.clock.now()
    system.sql_log.append([_page("poison", datetime.max.replace(tzinfo=UTC)), _page("ok", now)])
    system.runner.notify()
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as client:
        assert httpx.get(f"{live_server.url}/api/dead-letters").status_code == 401

        def listed() -> list[dict[str, Any]]:
            body = client.get("/api/dead-letters", params={"status": "open"}).json()
            return [d for d in body["dead_letters"] if d["processor"] == "analytics"]

        letters = _until(listed)
        assert len(letters) == 1
        letter = letters[0]
        assert letter["offset"] == 1 and letter["message_id"] == "poison"
        assert letter["error"].startswith("OverflowError") and letter["attempts"] >= 1
        assert letter["event"]["message_id"] == "poison" and letter["resolved_at"] is None
        body = client.get("/api/dead-letters").json()
        assert body["open"] == {"analytics": 1}

        alerts = client.get("/api/alerts", params={"rule": "dead-letter"}).json()["alerts"]
        assert [(a["status"], a["labels"]["processor"]) for a in alerts] == [
            ("firing", "analytics")
        ]
        assert "analytics" in alerts[0]["annotations"]["summary_fr"]

        def caught_up() -> str | None:
            text = client.get("/metrics").text
            return text if 'vigie_processor_lag_events{processor="analytics"} 0.0' in text else None

        metrics = _until(caught_up)
        assert metrics is not None
        assert 'vigie_dead_letters_open{processor="analytics"} 1.0' in metrics
        assert 'vigie_dead_letters_total{processor="analytics"} 1.0' in metrics
        assert 'vigie_processed_events_total{processor="rules"} 2.0' in metrics
        assert 'vigie_processed_events_total{processor="analytics"} 1.0' in metrics
        assert 'vigie_processor_lag_seconds{processor="crm"} 0.0' in metrics
