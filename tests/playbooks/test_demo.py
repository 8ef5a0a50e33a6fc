"""The demo scenario of vigie.example.yaml on a live server: a conversion drop at 17:30
opens chat invitations, flags the page, holds the manager's message until morning and
sends the urgent one to the person on duty; an SLA alert moves two agents."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import free_port, make_settings, user_token
from vigie.clock import ManualClock
from vigie.config import load_config
from vigie.events import Event
from vigie.playbooks import PlaybookTrigger
from vigie.playbooks.outputs import agent_queue_assignments
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

BRUSSELS = ZoneInfo("Europe/Brussels")
AT = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
EXAMPLE = Path(__file__).resolve().parents[2] / "vigie.example.yaml"


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> Iterator[tuple[str, System, ManualClock]]:
    """A live server on the example configuration, its clock at Tuesday 17:30 in Brussels."""
    config = load_config(EXAMPLE)
    config.actions.smtp = None
    config.actions.broadcast_dir = str(tmp_path / "broadcasts")
    clock = ManualClock(AT)
    app = create_app(build_system(make_settings(db_url, config), clock=clock))
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="manager", role="admin")
        AUTH["Authorization"] = f"Bearer {token}"
        yield server.url, app.state.system, clock


def _page(visitor: str, path: str, at: datetime, n: int) -> Event:
    return Event(
        message_id=f"{visitor}-{n}",
        type="page",
        source="website",
        timestamp=at,
        received_at=at,
        anonymous_id=visitor,
        properties={"path": path},
        context={"page": {"path": path}},
    )


AUTH: dict[str, str] = {}


def _get(url: str, **params: Any) -> Any:
    response = httpx.get(url, params=params, headers=AUTH, timeout=30)
    response.raise_for_status()
    return response.json()


def _wait_for_delivery(url: str, *, recipient: str, count: int) -> list[Any]:
    """Delivered notifications, once the System's timer has delivered `count` of them."""
    deadline = time.monotonic() + 30
    while True:
        found: list[Any] = _get(
            url + "/api/notifications", recipient=recipient, status="delivered"
        )["notifications"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _scrape_until(url: str, *lines: str) -> str:
    """The /metrics text once it holds every one of `lines`, or the last scrape after 30 s:
    its gauges are read from the store at scrape time, and a scrape that cannot read it
    (seen under load, beside the System's timer) leaves them out rather than fail."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(url + "/metrics", timeout=30).text
        if all(line in text for line in lines) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_conversion_drop_at_half_past_five(demo: tuple[str, System, ManualClock]) -> None:
    """Visitors on /lunch now are invited to chat, the page is flagged, Marie's message waits
    for the morning and the urgent one goes to Tom, on duty and at the chat console."""
    url, system, clock = demo
    system.log.append(
        [
            _page("v1", "/lunch", AT - timedelta(minutes=2), 1),
            _page("v2", "/lunch", AT - timedelta(minutes=3), 1),
            _page("v2", "/menu", AT - timedelta(minutes=1), 2),
            _page("v3", "/lunch", AT - timedelta(minutes=40), 1),
        ]
    )
    # Live presence: v1 has the widget open on /lunch/, v2 on /menu, v3 has left.
    hub = system.chat.hub
    now = clock.now()
    on_lunch = hub.connect_visitor(
        anonymous_id="v1",
        source="website",
        page="/lunch/?utm_campaign=lunch",
        language="fr",
        now=now,
    )
    on_menu = hub.connect_visitor(
        anonymous_id="v2", source="website", page="/menu", language="fr", now=now
    )
    hub.connect_agent("tom")
    trigger = PlaybookTrigger(
        rule="checkout-conversion-drop",
        status="firing",
        fingerprint="lunch-drop",
        at=AT,
        labels={"page": "/lunch", "campaign": "lunch"},
        values={"conversion_rate": 0.004},
    )
    (run,) = system.playbooks.handle(trigger)
    assert run.status == "succeeded", run.steps
    assert run.steps[0].result["delivered"] == 1 and run.steps[0].result["agents"] == ["tom"]
    deadline = time.monotonic() + 30
    while on_lunch.outbox.empty() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(on_lunch.outbox.get_nowait() or "{}")["type"] == "invitation"
    assert on_menu.outbox.empty()

    runs = _get(url + "/api/playbook-runs")["runs"]
    assert [r["playbook"] for r in runs] == ["conversion-drop"]
    assert [s["status"] for s in runs[0]["steps"]] == ["succeeded"] * 5

    notes = _get(url + "/api/notifications", recipient="marie")["notifications"]
    by_subject = {n["subject"].split(":")[0]: n for n in notes}
    held = by_subject["Conversion drop on /lunch / Chute de conversion"]
    assert held["status"] == "held" and held["recipient"] == "marie"
    assert held["hold_until"].startswith("2026-11-25T07:30:00"), "08:30 in Brussels"
    urgent = by_subject["URGENT"]
    assert (urgent["status"], urgent["recipient"], urgent["intended_for"]) == (
        "delivered",
        "tom",
        "marie",
    )
    assert [a["decision"] for a in urgent["audit"]] == ["received", "rerouted", "delivered"]

    clock.set(datetime(2026, 11, 25, 8, 30, tzinfo=BRUSSELS))
    delivered = _wait_for_delivery(url, recipient="marie", count=2)
    assert {n["recipient"] for n in delivered} == {"marie", "tom"}
    marie = next(n for n in delivered if n["recipient"] == "marie")
    assert marie["delivered_at"].startswith("2026-11-25T07:30:00")

    metrics = _scrape_until(
        url,
        'vigie_playbook_runs{status="succeeded"} 1.0',
        'vigie_notifications{status="delivered"} 2.0',
    )
    assert 'vigie_playbook_runs{status="succeeded"} 1.0' in metrics
    assert 'vigie_notifications{status="delivered"} 2.0' in metrics

    with system.engine.connect() as conn:
        flags = conn.exec_driver_sql("SELECT page, evidence FROM page_flags").all()
    assert flags[0][0] == "/lunch" and "0.004" in flags[0][1]


def _run_sla_playbook(url: str, system: System, fingerprint: str) -> dict[str, Any]:
    trigger = PlaybookTrigger(
        rule="support-first-response-sla", status="firing", fingerprint=fingerprint, at=AT
    )
    (run_id,) = system.playbooks.enqueue(trigger)
    deadline = time.monotonic() + 30
    while (run := _get(f"{url}/api/playbook-runs/{run_id}"))["status"] == "running":
        assert time.monotonic() < deadline, "the timer did not run the enqueued playbook"
        time.sleep(0.1)
    return run


def test_sla_alert_moves_two_agents(demo: tuple[str, System, ManualClock]) -> None:
    """The support SLA alert, enqueued as a log processor would, is run by the System's
    timer and moves both sales agents to the support queue during their working hours."""
    url, system, clock = demo
    clock.set(datetime(2026, 11, 25, 11, 0, tzinfo=BRUSSELS))
    run = _run_sla_playbook(url, system, "sla")
    assert run["status"] == "succeeded", run["steps"]
    with system.engine.connect() as conn:
        rows = conn.execute(sa.select(agent_queue_assignments)).all()
    assert sorted((r.agent, r.queue) for r in rows) == [("julie", "support"), ("karim", "support")]


def test_sla_alert_moves_nobody_off_duty(demo: tuple[str, System, ManualClock]) -> None:
    """At 17:30, after the company policy's 17:00, the same playbook moves nobody and its
    step says the sales agents are not at work (issue 24: nobody off duty is moved)."""
    url, system, _clock = demo
    run = _run_sla_playbook(url, system, "sla-evening")
    assert run["status"] == "failed"
    assert "are at work" in str(run["steps"])
    with system.engine.connect() as conn:
        assert conn.execute(sa.select(agent_queue_assignments)).all() == []


def test_manual_run_over_http_with_dry_run(demo: tuple[str, System, ManualClock]) -> None:
    """POST /api/playbooks/NAME/run?dry_run=true plans without recording a run."""
    url, _runtime, _clock = demo
    response = httpx.post(
        url + "/api/playbooks/conversion-drop/run",
        params={"dry_run": "true"},
        json={"page": "/lunch"},
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert steps[0]["params"]["page"] == "/lunch"
    assert steps[-1]["outcome"] == "skip"
    tell = next(s for s in steps if s["name"] == "tell-the-manager")
    assert tell["reason"].startswith("hold -> marie at 2026-11-25T07:30:00"), tell
    assert _get(url + "/api/playbook-runs")["runs"] == []
    missing = httpx.post(url + "/api/playbooks/nope/run", headers=AUTH, timeout=30)
    assert missing.status_code == 404
    assert httpx.post(url + "/api/playbooks/conversion-drop/run", timeout=30).status_code == 401
