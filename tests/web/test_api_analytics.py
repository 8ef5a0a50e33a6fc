"""The analytics REST API on a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from tests.conftest import WRITE_KEY, VigieAuth, free_port, make_settings, user_token
from vigie.analytics import AnalyticsConfig
from vigie.analytics.campaigns import Campaign, Schedule
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.config import Config, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

T = TypeVar("T")
DAY = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)  # 12:00 in Brussels
CONFIG = Config(
    sources=[Source(name="web", write_key=WRITE_KEY)],
    analytics=AnalyticsConfig(
        timezone="Europe/Brussels",
        funnels=[
            Funnel(
                name="buy",
                steps=[FunnelStep(page="/deal"), FunnelStep(event="Order Completed")],
            )
        ],
        campaigns=[
            Campaign(
                name="lunch",
                utm_campaign="lunch-deal",
                schedule=Schedule(start="12:00", end="13:00", timezone="Europe/Brussels"),
            )
        ],
    ),
)


def _page(n: int, visitor: str, path: str, at: datetime, query: str = "") -> dict[str, Any]:
    url = f"https://shop.example.be{path}{query}"
    return {
        "type": "page",
        "messageId": f"p{n}",
        "anonymousId": visitor,
        "timestamp": at.isoformat(),
        "properties": {"path": path, "url": url},
    }


def _messages() -> list[dict[str, Any]]:
    ad = "?utm_campaign=lunch-deal&utm_source=facebook"
    out = [
        _page(1, "v1", "/deal", DAY, ad),
        _page(2, "v1", "/menu", DAY + timedelta(minutes=2)),
        _page(3, "v1", "/deal", DAY + timedelta(minutes=3)),
        _page(4, "v1", "/menu", DAY + timedelta(hours=2)),
        {
            "type": "identify",
            "messageId": "i1",
            "anonymousId": "v1",
            "userId": "ana",
            "timestamp": (DAY + timedelta(hours=2, minutes=1)).isoformat(),
        },
        {
            "type": "track",
            "messageId": "t1",
            "anonymousId": "v1",
            "userId": "ana",
            "event": "Order Completed",
            "timestamp": (DAY + timedelta(minutes=20)).isoformat(),
        },
        _page(5, "v2", "/deal", DAY - timedelta(days=1, minutes=-5)),
    ]
    return out


def eventually(probe: Callable[[], T | None], what: str) -> T:
    """Poll until `probe` returns something: the processor runs in the background."""
    deadline = time.monotonic() + 30
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)
    return value


def test_journey_funnel_slots_and_rebuild_after_restart(db_url: str) -> None:
    """Posted events show in the journey, funnel and slots, and survive a restart unchanged."""
    reports = []
    for run in range(2):
        app = create_app(build_system(make_settings(db_url, CONFIG)))
        with (
            BackgroundServer(app, port=free_port()) as server,
            httpx.Client(
                base_url=server.url,
                timeout=30,
                auth=VigieAuth(
                    WRITE_KEY,
                    user_token(app.state.system, username=f"analyst{run}", role="marketing"),
                ),
            ) as client,
        ):
            if run == 0:
                response = client.post("/v1/batch", json={"batch": _messages()})
                assert response.status_code == 200, response.text

            def funnel() -> dict[str, Any] | None:
                report: dict[str, Any] = client.get("/api/funnels/buy").json()
                return report if report["entered"] == 2 else None

            reports.append(eventually(funnel, "the funnel"))
            journey = client.get("/api/visitors/v1/journey").json()
            assert [len(s["steps"]) for s in journey["sessions"]] == [4, 1]
            first = journey["sessions"][0]
            assert (first["entry_page"], first["exit_page"], first["campaign"]) == (
                "/deal",
                "/deal",
                "lunch",
            )
            assert journey["revisited_pages"] == ["/deal", "/menu"]
            assert journey["profile_id"] == "ana"
            profile = client.get("/api/profiles/ana/journey").json()
            assert profile["visitor_ids"] == ["ana", "v1"]
            assert profile["merges"][0]["reason"] == "identify"
            slots = client.get("/api/campaigns/lunch/slots").json()
            assert slots["day"] == "2026-05-05"
            assert slots["figures"]["campaign_visitors"] == 1
            assert slots["other_days_mean"]["visitors"] == 1.0
            friction = client.get("/api/friction", params={"campaign": "lunch"}).json()
            assert friction["steps"][0]["name"] == "Order Completed"
            missing = client.get("/api/funnels/nope")
            assert missing.status_code == 404
            assert "not configured" in missing.text and "pas configuré" in missing.text
            listed = client.get("/api/funnels").json()["funnels"]
            assert listed[0]["converted"] == 1
    assert reports[0] == reports[1]
    assert [s["visitors"] for s in reports[0]["steps"]] == [2, 1]
