"""An experiment on what cannot be split (issue 21): a shop's display alternates between two
aisles by one-hour block. Over a live server: the assignment API answers the aisle of the
current block for any visitor; pick-up counts sent per block through `/v1/batch` give a
complete, significant verdict in units per block; the Experiments page shows it in Chromium,
in English and French."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import WRITE_KEY, free_port, make_settings
from tests.web.conftest import CONFIG, PASSWORD, Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _sign_in, browser
from tests.web.test_ui import eventually, signed_in
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.experiments.blocks import block_at, variant_of_block
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

__all__ = ["browser"]

HOURS = 40
STARTS = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)


@pytest.fixture(scope="module")
def served(dashboard_db: str) -> Iterator[Dashboard]:
    """The dashboard's configuration with a display experiment that started 40 hours ago."""
    config = copy.deepcopy(CONFIG)
    config["experiments"] = [
        {
            "name": "display-aisle",
            "description": "The summer display in aisle 4 or in aisle 12",
            "variants": [{"name": "aisle-4"}, {"name": "aisle-12"}],
            "metric": "Product Picked Up",
            "baseline": 20,
            "mde": 5,
            "blocks": {
                "length": "1h",
                "starts_at": STARTS.isoformat(),
                "where": {"site": "shop-brussels"},
                "value": "count",
                "sd": 5,
            },
        }
    ]
    app = create_app(
        build_system(make_settings(dashboard_db, parse_config(yaml.safe_dump(config))))
    )
    with BackgroundServer(app, port=free_port()) as server:
        system: System = app.state.system
        create_user(
            engine=system.engine,
            username="ada",
            password=PASSWORD,
            role="admin",
            now=system.clock.now(),
        )
        yield Dashboard(url=server.url, write_key=WRITE_KEY, system=system)


def _send_counts(served: Dashboard) -> None:
    """One count of pick-ups per hour: about 20 with the display in aisle 4, 30 in aisle 12
    (a spread of ±3), and a much busier shop elsewhere that must not count."""
    experiment = served.system.experiments.experiments["display-aisle"]
    batch: list[dict[str, Any]] = []
    for hour in range(HOURS):
        base = 30 if variant_of_block(experiment, hour) == "aisle-12" else 20
        at = (STARTS + timedelta(hours=hour, minutes=10)).isoformat()
        for site, count in (("shop-brussels", base + (hour * 5 % 7) - 3), ("shop-gent", 500)):
            batch.append({"type": "track", "event": "Product Picked Up", "anonymousId": "rfid",
                          "messageId": f"{site}-{hour}", "timestamp": at,
                          "properties": {"site": site, "count": count}})  # fmt: skip
    response = httpx.post(
        served.url + "/v1/batch", json={"batch": batch}, auth=(served.write_key, ""), timeout=30
    )
    assert response.status_code == 200, response.text


def test_a_display_alternating_by_hour_gets_a_verdict(served: Dashboard, browser: Any) -> None:
    """The assignment is the current block's aisle whoever asks; after 40 blocks the verdict
    is complete and significant, about +10 pick-ups per block; the page shows it in both
    languages without error."""
    from playwright.sync_api import expect

    _send_counts(served)
    experiment = served.system.experiments.experiments["display-aisle"]
    with signed_in(served) as client:
        answers = [
            client.get("/api/experiments/display-aisle/assignment", params={"unit": unit}).json()
            for unit in ("visitor-1", "visitor-2")
        ]
        now = block_at(experiment, datetime.now(UTC))
        assert now is not None
        assert {a["variant"] for a in answers} == {now.variant}
        assert answers[0]["block_ends_at"] == now.ends_at.isoformat()

        def complete() -> dict[str, Any] | None:
            body: dict[str, Any] = client.get("/api/experiments/display-aisle").json()
            return body if body["verdict"]["status"] == "complete" else None

        verdict = eventually(complete, "a complete verdict")["verdict"]
    assert verdict["design"] == "time_blocks"
    (comparison,) = verdict["comparisons"]
    assert comparison["significant"] and 8 < comparison["lift"] < 12
    assert "per 1h block" in verdict["sentence"]["en"]

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, served)
    for language, words in (("en", "per 1h block"), ("fr", "par bloc de 1h")):
        if language == "fr":
            page.select_option("#language", "fr")
            page.click("form[action='/language'] button")
            page.wait_for_selector('html[lang="fr"]')
        page.goto(served.url + "/experiments")
        card = page.locator('[data-experiment="display-aisle"]')
        expect(card).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
        expect(card.locator("[data-verdict]")).to_contain_text(words)
        row = card.locator('tr[data-variant="aisle-12"]')
        expect(row.locator("td").first).to_have_text(str(verdict["planned_per_arm"]))
    context.close()
    assert problems.found == []
