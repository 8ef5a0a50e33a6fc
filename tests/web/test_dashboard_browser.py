"""The dashboard in a real browser (Debian's chromium driven by Playwright): every page in
English and French without console errors, failed requests or untranslated messages, and a
posted event showing on the open page without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_service
from tests.web.conftest import PASSWORD, PROBE, Dashboard
from vigie.web.i18n import catalog

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).parents[2] / "test-output" / "screenshots"
PAGES = {"overview": "/", "alerts": "/alerts", "web": "/web", "customers": "/customers",
         "schedules": "/schedules", "actions": "/actions",
         "experiments": "/experiments", "chat": "/chat", "review": "/review"}  # fmt: skip
WAIT_MS = 15_000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@dataclass
class Problems:
    """What went wrong in the page: console errors, uncaught exceptions, failed requests."""

    found: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.found.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.found.append(f"exception: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.found.append(f"{r.status} {r.url}"))
        # A request cut short because the page navigated away (its live stream, a fetch in
        # flight) is not a failure; anything else is.
        page.on(
            "requestfailed",
            lambda r: (
                r.failure != "net::ERR_ABORTED" and self.found.append(f"{r.url}: {r.failure}")
            ),
        )


def _sign_in(page: Any, dashboard: Dashboard, username: str = "ada") -> None:
    """Sign in with the keyboard only."""
    page.goto(dashboard.url + "/")
    page.wait_for_url("**/login?next=/")
    page.focus("#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(dashboard.url + "/")


def choose_french(page: Any) -> None:
    """Switch the dashboard to French with the keyboard, from the language menu."""
    page.select_option("#language", "fr")
    page.focus("#language")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector('html[lang="fr"]')
    # The French page must finish loading: a navigation started before its load event (a
    # test's next `goto`) was seen aborted (net::ERR_ABORTED) under load.
    page.wait_for_load_state("load")


def _settle(page: Any, language: str) -> None:
    """Wait until the live stream is up and no section still says it is loading."""
    page.wait_for_selector('#live-status[data-state="live"]', timeout=WAIT_MS)
    loading = catalog(language)["common.loading"]
    page.wait_for_function(
        "text => !document.querySelector('main').innerText.includes(text)",
        arg=loading,
        timeout=WAIT_MS,
    )


def _untranslated(page: Any) -> list[str]:
    text = page.inner_text("body")
    return sorted(key for key in catalog("en") if key in text)


def test_every_page_in_both_languages(dashboard: Dashboard, browser: Any) -> None:
    """Each page renders in English then French (chosen with the keyboard in the header):
    no console error, no failed request, no message id left untranslated, and no sideways
    scrolling on a tablet."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    httpx.post(
        dashboard.url + "/v1/page",
        json={"anonymousId": "visitor-shot", "name": "Start", "properties": {"path": "/start"}},
        auth=(dashboard.write_key, ""),
    ).raise_for_status()
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        for name, path in PAGES.items():
            page.goto(dashboard.url + path)
            _settle(page, language)
            assert page.get_attribute("html", "lang") == language
            assert page.get_attribute(f'nav a[href="{path}"]', "aria-current") == "page"
            assert _untranslated(page) == [], f"{name} in {language}"
            page.screenshot(path=str(SHOTS / f"{name}-{language}.png"), full_page=True)
    page.set_viewport_size({"width": 820, "height": 1180})
    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        _settle(page, "fr")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} scrolls sideways on a tablet: {width}"
    page.screenshot(path=str(SHOTS / "schedules-fr-tablet.png"), full_page=True)
    context.close()
    assert problems.found == []


def test_a_posted_event_shows_on_the_open_page(dashboard: Dashboard, browser: Any) -> None:
    """An event posted to the API moves the live counter, its activity tile and the KPI tile,
    and the alert it fires appears in the feed, all without reloading the page; the Alerts
    page then shows the playbook run that alert started."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "lea")
    _settle(page, "en")
    page.evaluate("window.vigieNotReloaded = true")
    total = page.inner_text("#live-total")
    assert page.locator("#firing li[data-alert]").count() == 0
    httpx.post(
        dashboard.url + "/v1/track",
        json={"event": PROBE, "anonymousId": "visitor-live"},
        auth=(dashboard.write_key, ""),
    ).raise_for_status()
    expect(page.locator("#live-total")).not_to_have_text(total, timeout=WAIT_MS)
    expect(page.locator(f'#activity [data-label="{PROBE}"] .big')).to_have_text(
        "1", timeout=WAIT_MS
    )
    expect(page.locator("#event-feed li").first).to_contain_text("visitor-live", timeout=WAIT_MS)
    expect(page.locator('#kpis [data-kpi="probes"]')).to_have_class(
        "tile breached", timeout=WAIT_MS
    )
    expect(page.locator("#firing li[data-alert]")).to_contain_text("probe-seen", timeout=WAIT_MS)
    expect(page.locator("#firing-count")).to_have_text("1", timeout=WAIT_MS)
    assert page.evaluate("window.vigieNotReloaded") is True
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview-live.png"), full_page=True)
    page.goto(dashboard.url + "/alerts")
    _settle(page, "en")
    alert = page.locator("#alert-feed li.alert.firing", has_text="probe-seen").first
    alert.locator("summary").click()
    expect(alert.locator("[data-run]")).to_contain_text("probe-response", timeout=WAIT_MS)
    page.screenshot(path=str(SHOTS / "alerts-live.png"), full_page=True)
    context.close()
    assert problems.found == []
