"""The Shop and City pages in a real browser (Debian's chromium), in English and French:
the aisles' heat map, occupancy, a display's advice and its one-click move, the zones by
density with the street people are sent to."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port, make_settings
from tests.sensors.conftest import SENSORS
from tests.web.conftest import PASSWORD, Dashboard
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
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser
__all__ = ["browser"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server with the test shop and zones, readings already in, and ada (admin)."""
    folder = tmp_path_factory.mktemp("sensors-browser")
    config = parse_config(yaml.safe_dump({"sensors": copy.deepcopy(SENSORS)}))
    app = create_app(build_system(make_settings(f"sqlite:///{folder}/vigie.db", config)))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        create_user(engine=system.engine, username="ada", password=PASSWORD, role="admin",
                    display_name="Ada", now=system.clock.now())  # fmt: skip
        now = datetime.now(UTC).isoformat()
        reads = [{"epc": f"urn:epc:id:sgtin:1.21.{i}", "time": now, "aisle": "aisle-21"}
                 for i in range(60)] + [{"epc": f"urn:epc:id:sgtin:1.4.{i}", "time": now}
                                        for i in range(4)]  # fmt: skip
        posts = [
            ("rfid", {"reads": reads}, ("reader-4", "key-reader-4")),
            ("doors", {"in": 10, "out": 1}, ("door", "key-door")),
            (
                "crowd",
                {"peopleCount": 97, "source": "camera:rue-neuve.mp4"},
                ("cam-neuve", "key-cam-1"),
            ),
            ("crowd", {"peopleCount": 30}, ("cam-monnaie", "key-cam-2")),
            ("crowd", {"peopleCount": 12}, ("cam-fripiers", "key-cam-3")),
        ]
        for kind, body, auth in posts:
            httpx.post(
                f"{server.url}/v1/sensors/{kind}", content=json.dumps(body), auth=auth
            ).raise_for_status()
        yield Dashboard(url=server.url, write_key="", system=system)


def test_the_shop_and_city_pages_in_both_languages(shop: Dashboard, browser: Any) -> None:
    """Both pages render in English then French with no console error, failed request or
    untranslated message; the hottest aisle is aisle 21, the entry signal says slow, the
    advice names aisle 21, and rue-neuve is congested with people sent to fripiers, counted
    by a camera's footage."""
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, shop)
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        page.goto(shop.url + "/shop")
        _settle(page, language)
        expect(page.locator('[data-aisle="aisle-21"][data-heat="1.00"]')).to_be_visible()
        expect(page.locator('#occupancy [data-signal="slow"]')).to_be_visible()
        expect(
            page.locator('[data-display="promo"] [data-recommendation="aisle-21"]')
        ).to_be_visible()
        assert _untranslated(page) == [], f"shop in {language}"
        page.screenshot(path=str(SHOTS / f"shop-{language}.png"), full_page=True)
        page.goto(shop.url + "/city")
        _settle(page, language)
        row = page.locator('tr[data-zone="rue-neuve"][data-congested="true"]')
        expect(row).to_contain_text("fripiers", timeout=WAIT_MS)
        expect(row.locator('[data-source="camera:rue-neuve.mp4"]')).to_be_visible()
        header = {"en": "Counted by", "fr": "Compté par"}[language]
        expect(page.locator("#zones th", has_text=header)).to_be_visible()
        assert _untranslated(page) == [], f"city in {language}"
        page.screenshot(path=str(SHOTS / f"city-{language}.png"), full_page=True)
    context.close()
    assert problems.found == []


def test_one_click_moves_the_display_where_the_advice_says(shop: Dashboard, browser: Any) -> None:
    """The Move button, preset to the recommended aisle, moves the display there and the
    page shows it standing in aisle 21, with the move in its history."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, shop)
    page.goto(shop.url + "/shop")
    _settle(page, "en")
    page.locator('[data-display="promo"] form[data-form="move"] button').click()
    expect(page.locator('[data-display="promo"]')).to_have_attribute(
        "data-aisle", "aisle-21", timeout=WAIT_MS
    )
    expect(page.locator('[data-display="promo"] .feed li')).to_contain_text("ada")
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "shop-moved.png"), full_page=True)
    context.close()
    assert problems.found == []
