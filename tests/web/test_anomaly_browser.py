"""An anomaly alert explained on the Alerts page in a real browser (Debian's chromium driven
by Playwright), in English and French: observed against expected, the normal band, the
seasonality used, since when, and a small inline plot of the recent windows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import (
    SHOTS,
    WAIT_MS,
    Problems,
    _settle,
    _sign_in,
    _untranslated,
    browser,
    choose_french,
)
from vigie.rules.alerts import Alert, fingerprint

__all__ = ["browser"]
pytestmark = pytest.mark.browser


def _anomaly(dashboard: Dashboard) -> Alert:
    """A firing anomaly alert as the anomaly rule stores it, with 12 windows of history."""
    now = dashboard.system.clock.now().replace(microsecond=0)
    history = [
        {
            "at": (now - timedelta(minutes=15 * (12 - i))).isoformat(),
            "observed": 40.0 + (i % 3),
            "expected": 41.0,
            "low": 30.0,
            "high": 52.0,
        }
        for i in range(12)
    ]
    fp = fingerprint("orders-odd", {})
    alert = Alert(
        id=f"{fp}-1",
        fingerprint=fp,
        rule="orders-odd",
        status="firing",
        labels={"alertname": "orders-odd", "severity": "warning"},
        annotations={"summary": "orders at 3", "summary_en": "orders at 3"},
        starts_at=now,
        fired_at=now,
        updated_at=now,
        values={
            "metric": "orders",
            "window": {"start": (now - timedelta(minutes=15)).isoformat(), "end": now.isoformat()},
            "value": 3.0,
            "expected": 41.5,
            "band": [30.25, 52.75],
            "seasonality": "daily",
            "timezone": "Europe/Paris",
            "abnormal_since": now.isoformat(),
            "p_value": 2.5e-9,
            "unchanged": {"samples": 12, "since": (now - timedelta(hours=3)).isoformat()},
            "history": history,
        },
    )
    dashboard.system.alerts.save([alert])
    return alert


def test_an_anomaly_alert_is_explained_with_a_plot(dashboard: Dashboard, browser: Any) -> None:
    """Ada opens an anomaly alert's details: she reads the observed and expected values, the
    normal band, the seasonality and the zone whose local time it follows, since when, for how
    many samples the value has not changed (a stuck source), and sees the plot (band,
    expected, observed, now) in English and in French, with no untranslated text and no
    error."""
    from playwright.sync_api import expect

    alert = _anomaly(dashboard)
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    dash = "\N{EN DASH}"
    texts = {
        "en": (
            "Expected", "41.5", "Normal band", f"30.25 {dash} 52.75",
            "daily, in Europe/Paris local time", "Abnormal since", "Value unchanged",
            "12 samples in a row, since", "the source may be stuck",
        ),
        "fr": (
            "Attendu", "41,5", "Plage normale", f"30,25 {dash} 52,75",
            "journalière, à l'heure locale de Europe/Paris", "Anormal", "Valeur inchangée",
            "12 mesures de suite, depuis", "la source est peut-être bloquée",
        ),
    }  # fmt: skip
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        page.goto(dashboard.url + "/alerts")
        _settle(page, language)
        item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
        item.locator("details > summary").click()
        facts = item.locator(".evidence dl.facts")
        for text in texts[language]:
            expect(facts).to_contain_text(text, timeout=WAIT_MS)
        plot = item.locator('svg[data-plot="anomaly"]')
        expect(plot).to_be_visible()
        observed = plot.locator('polyline[data-series="observed"]').get_attribute("points")
        assert observed is not None and len(observed.split()) == 13  # 12 past windows and now
        expect(plot.locator('[data-series="band"]')).to_have_count(1)
        expect(plot.locator('[data-series="now"]')).to_have_count(1)
        label = plot.get_attribute("aria-label") or ""
        assert ("observed 3 against 41.5" if language == "en" else "observé 3 pour 41,5") in label
        assert _untranslated(page) == [], language
        SHOTS.mkdir(parents=True, exist_ok=True)
        item.screenshot(path=str(SHOTS / f"anomaly-alert-{language}.png"))
    context.close()
    assert problems.found == []
