"""Acting on an alert from the Alerts page in a real browser (Debian's chromium driven by
Playwright), in French: acknowledge it, then silence it; and times in the viewer's zone."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.web.conftest import PASSWORD, PROBE, Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _settle, browser
from vigie.auth.audit import list_audit
from vigie.auth.users import create_user

__all__ = ["browser"]
pytestmark = pytest.mark.browser


def _firing_alert(dashboard: Dashboard) -> Any:
    """Post a probe and wait until the rule it trips has stored its firing alert."""
    httpx.post(
        dashboard.url + "/v1/track",
        json={"event": PROBE, "anonymousId": "visitor-ack"},
        auth=(dashboard.write_key, ""),
    ).raise_for_status()
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        firing = dashboard.system.alerts.list(status="firing", rule="probe-seen")
        if firing:
            return firing[0]
        time.sleep(0.1)
    raise AssertionError("the probe raised no alert")


def test_acknowledge_and_silence_from_the_alerts_page(dashboard: Dashboard, browser: Any) -> None:
    """Ana, in French, in a browser set to UTC, sees the alert's time in her Brussels zone,
    acknowledges it and silences it from the page; both are stored under her name and
    audited, the silence is listed, and the page shows no error."""
    from playwright.sync_api import expect

    system = dashboard.system
    create_user(
        engine=system.engine,
        username="ana",
        password=PASSWORD,
        role="manager",
        display_name="Ana Peeters",
        now=system.clock.now(),
    )
    alert = _firing_alert(dashboard)
    context = browser.new_context(
        locale="fr-BE", timezone_id="UTC", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    page.goto(dashboard.url + "/login?next=/alerts")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(dashboard.url + "/alerts")
    _settle(page, "fr")
    expect(page.locator("#time-zone")).to_have_text("Heures : Europe/Brussels")
    item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
    started = (alert.fired_at or alert.starts_at).astimezone(ZoneInfo("Europe/Brussels"))
    expect(item).to_contain_text(f"{started:%d/%m/%Y %H:%M:%S}")

    item.locator('[data-action="ack"]').click()
    expect(item.locator('[data-fact="ack"]')).to_contain_text(
        "prise en charge par ana", timeout=WAIT_MS
    )
    expect(item.locator('[data-action="ack"]')).to_have_count(0)

    form = item.locator('form[data-form="silence"]')
    form.locator('select[name="hours"]').select_option("4")
    form.locator('input[name="comment"]').fill("sonde de test")
    form.locator('button[type="submit"]').click()
    expect(item.locator(".badge.silenced")).to_have_text("en silence", timeout=WAIT_MS)
    listed = page.locator("#silences li[data-silence]")
    expect(listed).to_contain_text('alertname="probe-seen"', timeout=WAIT_MS)
    expect(listed).to_contain_text("sonde de test")
    context.close()

    handling = system.triage.handling([alert.id])[alert.id]
    assert handling.acknowledged_by == "ana"
    (silence,) = system.silences.list(state="active")
    assert (silence.created_by, silence.comment) == ("ana", "sonde de test")
    assert system.silences.silencing(alert) == [silence.id]
    hours = (silence.ends_at - silence.starts_at).total_seconds() / 3600
    assert 3.9 < hours < 4.1
    actions = {line.action for line in list_audit(engine=system.engine, actor="ana")}
    assert {"alert.ack", "silence.create"} <= actions
    assert problems.found == []


def test_a_joined_incident_shows_as_one_alert(dashboard: Dashboard, browser: Any) -> None:
    """Issue 15: an incident that re-fired three times is one alert on the Alerts page, in
    English, with when it started, the re-fires it joined and when it resolved."""
    from datetime import timedelta

    from playwright.sync_api import expect

    from vigie.rules.alerts import Alert

    now = dashboard.system.clock.now()
    alert = Alert(
        id=f"flapping-{time.time_ns()}", fingerprint=f"fp-{time.time_ns()}", rule="probe-seen",
        status="resolved", labels={"alertname": "probe-seen"}, starts_at=now - timedelta(hours=1),
        fired_at=now - timedelta(hours=1), ends_at=now - timedelta(minutes=5),
        updated_at=now - timedelta(minutes=5), values={"value": 3, "refires": 3},
    )  # fmt: skip
    dashboard.system.alerts.save([alert])
    context = browser.new_context(locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    page.goto(dashboard.url + "/login?next=/alerts")
    page.fill("#username", "lea")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(dashboard.url + "/alerts")
    _settle(page, "en")
    item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
    expect(item).to_have_count(1, timeout=WAIT_MS)
    expect(item.locator("[data-refires]")).to_have_text(" · re-fires joined: 3")
    expect(item).to_contain_text("resolved")
    expect(item.locator("[data-clear-since]")).to_have_count(0)
    context.close()
    assert problems.found == []
