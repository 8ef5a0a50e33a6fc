"""The Actions page in Debian's chromium (issue 21): a page flag a playbook raised is listed
as open and closed with one click by a manager, in English and French; a support agent may
read the list but has no button."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _sign_in, browser
from vigie.playbooks.outputs import page_flags
from vigie.types import to_us
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser
__all__ = ["browser"]


def _flag(dashboard: Dashboard, page: str) -> int:
    """A page flag as the `page.flag` action leaves it (the test stands in for a run)."""
    system = dashboard.system
    with system.engine.begin() as conn:
        result = conn.execute(
            page_flags.insert().values(
                key=f"test:{page}",
                page=page,
                reason="conversion fell",
                evidence="{}",
                status="open",
                created_at_us=to_us(system.clock.now()),
                run_id=None,
            )
        )
    (flag_id,) = result.inserted_primary_key or (0,)
    return int(flag_id)


def test_a_manager_closes_a_page_flag_from_the_actions_page(
    dashboard: Dashboard, browser: Any
) -> None:
    """Lea (manager) sees the open flag and closes it; it disappears from the open list and
    shows as done with her name under "all", in both languages."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "lea")
    for language, path in (("en", "/lunch-en"), ("fr", "/lunch-fr")):
        flag_id = _flag(dashboard, path)
        if language == "fr":
            page.select_option("#language", "fr")
            page.click("form[action='/language'] button")
            page.wait_for_selector('html[lang="fr"]')
        page.goto(dashboard.url + "/actions")
        row = page.locator(f'tr[data-action="page_flag-{flag_id}"]')
        expect(row).to_have_attribute("data-state", "open", timeout=WAIT_MS)
        expect(row).to_contain_text(catalog(language)["js.actions.kind_page_flag"])
        row.locator('button[data-do="close"]').click()
        expect(row).to_have_count(0, timeout=WAIT_MS)
        page.select_option("#actions-state", "")
        expect(row).to_have_attribute("data-state", "done", timeout=WAIT_MS)
        expect(row).to_contain_text("lea")
        page.select_option("#actions-state", "open")
    context.close()
    assert problems.found == []
    support = browser.new_context(locale="en-GB")
    page = support.new_page()
    _flag(dashboard, "/support-view")
    _sign_in(page, dashboard, "sue")
    page.goto(dashboard.url + "/actions")
    expect(page.locator("tr[data-action]").first).to_be_visible(timeout=WAIT_MS)
    assert page.locator('button[data-do="close"]').count() == 0
    support.close()
