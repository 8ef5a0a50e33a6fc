"""The Overview page shows the events set aside by a processor, in English and in French,
in Debian's chromium (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime
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
from vigie.events import Event
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the dashboard's browser tests


def test_the_overview_counts_and_lists_dead_letters(dashboard: Dashboard, browser: Any) -> None:
    """An event that fails the analytics processor appears on the Overview page with its
    processor and error, and the count of open dead letters, in both languages; a role that
    may not read events does not see the section."""
    from playwright.sync_api import expect

    system = dashboard.system
    system.runner.backoff_seconds = 0.0
    at = datetime.max.replace(tzinfo=UTC)
    poison = Event(message_id="poison-page", type="page", source="web", anonymous_id="x",
                   timestamp=at, received_at=at, context={"page": {"path": "/"}})  # fmt: skip
    system.sql_log.append([poison])
    system.runner.notify()
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        page.goto(dashboard.url + "/")
        _settle(page, language)
        section = page.locator("#dead-letters")
        expect(section.locator("h2")).to_contain_text(
            catalog(language)["overview.dead_letters"], timeout=WAIT_MS
        )
        item = section.locator("li[data-dead-letter]").first
        expect(item).to_contain_text("analytics", timeout=WAIT_MS)
        expect(item).to_contain_text("OverflowError")
        expect(item).to_contain_text("poison-page")
        expect(page.locator("#dead-count")).to_have_text("1")
    context.close()
    assert problems.found == []
    support = browser.new_context(locale="en-GB")
    page = support.new_page()
    _sign_in(page, dashboard, "sue")
    _settle(page, "en")
    assert page.locator("#dead-letters").is_hidden()
    support.close()
