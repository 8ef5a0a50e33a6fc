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
    for section in ("kpis", "alerts", "rules", "effects", "disconnect", "sensors"):
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
