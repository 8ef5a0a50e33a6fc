"""Experiments end to end on a live server (issue 21): visitors are assigned by the API,
their exposures and orders arrive through Segment's `/v1/batch`, and the verdict appears
once the planned sample is reached, on the API and on the Experiments page in Chromium, in
English and French."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _sign_in, browser
from tests.web.test_ui import eventually, signed_in
from vigie.web.i18n import catalog

__all__ = ["browser"]


def _batch(dashboard: Dashboard, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), 200):
        response = httpx.post(
            dashboard.url + "/v1/batch",
            json={"batch": messages[start : start + 200]},
            auth=(dashboard.write_key, ""),
            timeout=30,
        )
        assert response.status_code == 200, response.text


def _run_experiment(dashboard: Dashboard) -> dict[str, Any]:
    """Assign 150 visitors, expose them, and convert 30 % of control and 70 % of treatment."""
    with signed_in(dashboard) as client:
        assigned = {}
        for i in range(150):
            answer = client.get(
                "/api/experiments/checkout-button/assignment", params={"unit": f"exp-{i}"}
            )
            assert answer.status_code == 200
            assigned[f"exp-{i}"] = answer.json()["variant"]
        assert (
            client.get(
                "/api/experiments/checkout-button/assignment", params={"unit": "exp-7"}
            ).json()["variant"]
            == assigned["exp-7"]
        )
        messages: list[dict[str, Any]] = []
        sizes = {v: list(assigned.values()).count(v) for v in ("control", "treatment")}
        seen = {"control": 0, "treatment": 0}
        for unit, variant in assigned.items():
            messages.append({"type": "track", "event": "Experiment Viewed", "anonymousId": unit,
                             "messageId": f"view-{unit}",
                             "properties": {"experiment_name": "checkout-button",
                                            "variation_name": variant}})  # fmt: skip
            seen[variant] += 1
            share = 0.3 if variant == "control" else 0.7
            if seen[variant] <= share * sizes[variant]:
                messages.append({"type": "track", "event": "Order Completed",
                                 "anonymousId": unit, "messageId": f"order-{unit}"})  # fmt: skip
        _batch(dashboard, messages)
        _batch(dashboard, messages)  # a client re-sending everything counts nothing twice
        total = len(assigned)

        def complete() -> dict[str, Any] | None:
            body: dict[str, Any] = client.get("/api/experiments/checkout-button").json()
            exposed = sum(a["exposed"] for a in body["verdict"]["arms"])
            return body if exposed == total else None

        return eventually(complete, "every exposure counted")


def test_the_verdict_appears_once_the_sample_is_complete(dashboard: Dashboard) -> None:
    """With ~75 visitors per arm (planned ~41) the verdict is complete and significant, the
    conversions counted once despite the re-sent batch, with a sentence in both languages;
    an unknown experiment is a 404 that names it."""
    body = _run_experiment(dashboard)
    verdict = body["verdict"]
    assert verdict["status"] == "complete"
    control, treatment = verdict["arms"]
    assert (
        control["converted"] <= control["exposed"] and treatment["converted"] > control["converted"]
    )
    (comparison,) = verdict["comparisons"]
    assert comparison["significant"] and comparison["low"] > 0
    assert "raised Order Completed conversion" in verdict["sentence"]["en"]
    assert "IC à 95 %" in verdict["sentence"]["fr"]
    with signed_in(dashboard) as client:
        missing = client.get("/api/experiments/nope")
        assert missing.status_code == 404 and "nope" in missing.text


@pytest.mark.browser
def test_the_experiments_page_shows_the_verdict(dashboard: Dashboard, browser: Any) -> None:
    """The Experiments page lists the test with its arms and the plain-language verdict, in
    English and French."""
    from playwright.sync_api import expect

    _run_experiment(dashboard)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    for language in ("en", "fr"):
        if language == "fr":
            page.select_option("#language", "fr")
            page.click("form[action='/language'] button")
            page.wait_for_selector('html[lang="fr"]')
        page.goto(dashboard.url + "/experiments")
        card = page.locator('[data-experiment="checkout-button"]')
        expect(card).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
        expect(card.locator('tr[data-variant="treatment"]')).to_be_visible()
        words = "raised Order Completed" if language == "en" else "IC à 95 %"
        expect(card.locator("[data-verdict]")).to_contain_text(words)
        expect(page.locator("h1")).to_have_text(catalog(language)["experiments.title"])
    context.close()
    assert problems.found == []
