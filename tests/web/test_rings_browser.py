"""The customer page's loyalty-ring section in Chromium (issue 20): a ring is linked to a
customer who consented to profiling; for one who did not, the page says why and links
nothing; in English and French."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import user_token
from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import (
    WAIT_MS,
    Problems,
    _settle,
    _sign_in,
    browser,
    choose_french,
)
from vigie.web.i18n import catalog

__all__ = ["browser"]
pytestmark = pytest.mark.browser


def _contact(dashboard: Dashboard, token: str, last_name: str, consent: dict[str, bool]) -> str:
    created = httpx.post(
        dashboard.url + "/api/contacts",
        json={"first_name": "Aino", "last_name": last_name, "consent": consent},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _open(page: Any, dashboard: Dashboard, language: str, last_name: str) -> None:
    page.goto(dashboard.url + "/customers")
    _settle(page, language)
    page.fill("#customer-query", last_name)
    page.press("#customer-query", "Enter")
    page.locator("#customer-results button", has_text=last_name).first.click()


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("fr-BE", "fr")])
def test_a_ring_is_linked_from_the_customer_page_only_with_consent(
    dashboard: Dashboard, browser: Any, locale: str, language: str
) -> None:
    """Linking a ring to a customer who consented says so; for one who did not, the page
    explains the refusal in the viewer's language and the ring stays unlinked."""
    from playwright.sync_api import expect

    words = catalog(language)
    token = user_token(dashboard.system, username=f"ring-{language}", role="admin")
    yes = f"Virtanen{language}"
    no = f"Korhonen{language}"
    _contact(dashboard, token, yes, {"profiling": True})
    refusing = _contact(dashboard, token, no, {"email_marketing": True})
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    if language == "fr":
        choose_french(page)
    _open(page, dashboard, language, yes)
    expect(page.locator("#customer-shop")).to_contain_text(
        words["js.rings.no_ring"], timeout=WAIT_MS
    )
    page.fill("#ring-epc", f"urn:epc:id:sgtin:0614141.777.{language}")
    page.click("#ring-link button")
    expect(page.locator("#ring-status")).to_have_text(words["js.rings.linked"], timeout=WAIT_MS)
    expect(page.locator("#customer-shop")).to_contain_text(
        words["js.rings.none_yet"], timeout=WAIT_MS
    )
    _open(page, dashboard, language, no)
    expect(page.locator("#customer-shop")).to_contain_text(
        words["js.rings.no_consent"], timeout=WAIT_MS
    )
    page.fill("#ring-epc", f"urn:epc:id:sgtin:0614141.778.{language}")
    page.click("#ring-link button")
    expect(page.locator("#ring-status")).to_have_text(words["js.rings.no_consent"], timeout=WAIT_MS)
    nothing = httpx.get(
        f"{dashboard.url}/api/sensors/customers/{refusing}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert nothing.status_code == 409
    context.close()
    # 409s from the API are expected answers here, not page problems.
    assert [p for p in problems.found if "409" not in p] == []
