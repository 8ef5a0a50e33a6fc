"""The Overview page shows who runs each share of the processors, in English and in French,
in Debian's chromium (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import (
    WAIT_MS,
    Problems,
    _settle,
    _sign_in,
    browser,
    choose_french,
)
from vigie.system import PROJECTIONS_SHARE
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the dashboard's browser tests


def test_the_overview_shows_the_processors_shares_and_who_runs_them(
    dashboard: Dashboard, browser: Any
) -> None:
    """Both shares are listed with their processors and the process running them, and the
    live processes are counted, in both languages; a role that may not read events does not
    see the section."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    holder = dashboard.system.processing.status().shares[0].holder
    assert holder is not None
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        page.goto(dashboard.url + "/")
        _settle(page, language)
        texts = catalog(language)
        section = page.locator("#processing")
        expect(section.locator("h2")).to_contain_text(texts["overview.processing"], timeout=WAIT_MS)
        share = section.locator(f'li[data-share="{PROJECTIONS_SHARE}"]')
        expect(share).to_contain_text(texts["js.processing.projections"], timeout=WAIT_MS)
        expect(share).to_contain_text("crm, chat")
        expect(share).to_contain_text(texts["js.processing.held"].replace("{holder}", holder))
        expect(section.locator('li[data-share="processors"]')).to_contain_text(
            texts["js.processing.rules"]
        )
        expect(page.locator("#workers-count")).to_have_text("1")
    context.close()
    assert problems.found == []
    support = browser.new_context(locale="en-GB")
    page = support.new_page()
    _sign_in(page, dashboard, "sue")
    _settle(page, "en")
    assert page.locator("#processing").is_hidden()
    support.close()
