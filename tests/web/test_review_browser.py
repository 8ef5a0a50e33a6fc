"""The Review page in Debian's chromium (issue 23): a manager reads last week's review in
French, framed from the API in her language, and downloads the same review as a PDF; a
support agent, who may not read the right-to-disconnect record, is told it is not there."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _sign_in, browser
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser
__all__ = ["browser"]


def test_a_manager_reads_the_weekly_review_and_downloads_the_pdf(
    dashboard: Dashboard, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="fr-BE", timezone_id="Europe/Brussels")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "lea")
    page.select_option("#language", "fr")
    page.click("form[action='/language'] button")
    page.wait_for_selector('html[lang="fr"]')
    page.goto(dashboard.url + "/review")
    week = page.input_value("#review-week")
    assert len(week) == 8 and week[4:6] == "-W"
    frame = page.frame_locator("#review-frame")
    expect(frame.locator("h1")).to_contain_text(f"Revue hebdomadaire · {week}", timeout=WAIT_MS)
    for section in ("kpis", "alerts", "rules", "tuning", "effects", "ai", "disconnect", "sensors"):
        expect(frame.locator(f'[data-section="{section}"]')).to_have_count(1)
    expect(frame.locator("header")).to_contain_text("Europe/Brussels")
    href = page.get_attribute("#review-pdf", "href") or ""
    assert "format=pdf" in href and "language=fr" in href
    pdf = page.request.get(dashboard.url + href if href.startswith("/") else href)
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    assert problems.found == []
    context.close()


def test_a_support_agent_has_no_review(dashboard: Dashboard, browser: Any) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    _sign_in(page, dashboard, "sue")
    page.goto(dashboard.url + "/review")
    notice = catalog("en")["js.not_configured"]
    page.wait_for_function(
        "text => document.querySelector('#review-state').innerText.includes(text)",
        arg=notice,
        timeout=WAIT_MS,
    )
    assert page.get_attribute("#review-frame", "src") is None
    context.close()


def test_a_manager_tunes_a_threshold_and_restores_it(dashboard: Dashboard, browser: Any) -> None:
    """Lea sets probe-seen's threshold from 0 to 3 on the Review page: the running rule
    changes at once (no restart); restoring version 0 puts 0 back; both are versions."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "lea")
    page.select_option("#language", "en")  # her choice is kept from the test before
    page.click("form[action='/language'] button")
    page.wait_for_selector('html[lang="en"]')
    page.goto(dashboard.url + "/review")
    row = page.locator('#thresholds tr[data-rule="probe-seen"]')
    expect(row).to_have_attribute("data-value", "0", timeout=WAIT_MS)
    row.locator('input[name="value"]').fill("3")
    row.locator('form[data-form="tune"] button').click()
    expect(page.locator("#review-state")).to_contain_text("version 1 is live", timeout=WAIT_MS)
    expect(row).to_have_attribute("data-value", "3", timeout=WAIT_MS)
    rule = next(r for r in dashboard.system.alerting.rules if r.name == "probe-seen")
    assert rule.value == 3
    row.locator('button[data-restore="0"]').click()
    expect(row).to_have_attribute("data-value", "0", timeout=WAIT_MS)
    rule = next(r for r in dashboard.system.alerting.rules if r.name == "probe-seen")
    assert rule.value == 0
    expect(row.locator("li[data-version]")).to_have_count(3)
    assert problems.found == []
    context.close()
