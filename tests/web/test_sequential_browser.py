"""A sequential rule's alert on the Alerts page, in a real browser (Debian's chromium driven
by Playwright), in English and in French: the server's own tick fires it during a silence,
and the page shows which test fired, when the change began and how unlikely it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import WRITE_KEY, free_port, make_settings
from tests.web.conftest import PASSWORD, Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _settle, browser
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

__all__ = ["browser"]
pytestmark = pytest.mark.browser

CONFIG = {
    "sources": [{"name": "web", "write_key": WRITE_KEY}],
    "alerting": {"tick": "200ms"},
    "rules": [
        {
            "name": "orders-stopped",
            "kind": "sequential",
            "where": {"event": "Order Completed"},
            "expected_rate": 50,
            "direction": "down",
            "false_alarms": "1/month",
        }
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server whose only rule expects 50 orders a second, and an admin, ada."""
    folder: Path = tmp_path_factory.mktemp("sequential")
    config = parse_config(yaml.safe_dump(CONFIG), origin="sequential test config")
    app = create_app(build_system(make_settings(f"sqlite:///{folder}/vigie.db", config)))
    with BackgroundServer(app, port=free_port()) as running:
        system: System = app.state.system
        create_user(
            engine=system.engine,
            username="ada",
            password=PASSWORD,
            role="admin",
            display_name="Ada",
            now=system.clock.now(),
        )
        yield Dashboard(url=running.url, write_key=WRITE_KEY, system=system)


def _firing(server: Dashboard) -> Any:
    """Send a few orders, then wait (silence) until the rule's tick stores its alert."""
    httpx.post(
        server.url + "/v1/batch",
        json={
            "batch": [
                {"type": "track", "event": "Order Completed", "anonymousId": f"o{i}"}
                for i in range(5)
            ]
        },
        auth=(server.write_key, ""),
    ).raise_for_status()
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        firing = server.system.alerts.list(status="firing", rule="orders-stopped")
        if firing:
            return firing[0]
        time.sleep(0.1)
    raise AssertionError("the silence raised no alert")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Sequential test", "improbable silence", "Change began", "Expected / observed"]),
        ("fr", ["Test séquentiel", "silence improbable", "Début du changement", "attendus"]),
    ],
)
def test_the_alert_shows_its_sequential_evidence(
    server: Dashboard, browser: Any, language: str, words: list[str]
) -> None:
    """The firing alert's evidence names the test, the change's start, expected vs observed
    events and their probability, in the viewer's language, with no error on the page."""
    from playwright.sync_api import expect

    alert = _firing(server)
    assert alert.values["test"] == "silence"
    context = browser.new_context(locale="en-GB" if language == "en" else "fr-BE")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    page.goto(server.url + "/login?next=/alerts")
    page.fill("#username", "ada")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(server.url + "/alerts")
    if page.get_attribute("html", "lang") != language:
        page.select_option("#language", language)
        page.wait_for_selector(f'html[lang="{language}"]')
    _settle(page, language)
    item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
    item.locator("summary").first.click()
    evidence = item.locator(".evidence")
    for word in words:
        expect(evidence).to_contain_text(word, timeout=WAIT_MS)
    expect(evidence).to_contain_text("10^-")  # the probability, a power of ten
    context.close()
    assert problems.found == []
