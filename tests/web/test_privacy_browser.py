"""The customer page's data-subject buttons in Chromium: export, and erase after a
confirmation (admins only), in English and French (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path
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


def _contact(dashboard: Dashboard, token: str, last_name: str) -> str:
    created = httpx.post(
        dashboard.url + "/api/contacts",
        json={"first_name": "Oona", "last_name": last_name, "email": f"{last_name}@example.com"},
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


def test_export_and_erase_from_the_customer_page(dashboard: Dashboard, browser: Any) -> None:
    """An admin downloads the contact's JSON, then erases them after confirming; in French
    the buttons and the confirmation are French; a sales user sees no Erase button."""
    from playwright.sync_api import expect

    token = user_token(dashboard.system, username="dpo", role="admin")
    contact_id = _contact(dashboard, token, "Kalliokoski")
    french_id = _contact(dashboard, token, "Mäkeläinen")
    context = browser.new_context(
        locale="en-GB", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    _open(page, dashboard, "en", "Kalliokoski")
    expect(page.locator("#privacy-export")).to_have_text("Export data", timeout=WAIT_MS)
    with page.expect_download() as download:
        page.click("#privacy-export")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["contact"]["id"] == contact_id
    assert exported["contact"]["email"] == "Kalliokoski@example.com"
    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("#privacy-erase")
    expect(page.locator("#privacy-status")).to_contain_text("Erased", timeout=WAIT_MS)
    assert "Oona Kalliokoski" in dialogs[0] and "cannot be undone" in dialogs[0]
    gone = httpx.get(
        f"{dashboard.url}/api/contacts/{contact_id}",
        params={"archived": "true"},
        headers={
            "Authorization": f"Bearer {user_token(dashboard.system, username='chk', role='admin')}"
        },
    )
    assert "Kalliokoski" not in gone.text

    choose_french(page)
    _open(page, dashboard, "fr", "Mäkeläinen")
    french = catalog("fr")
    expect(page.locator("#privacy-export")).to_have_text(
        french["js.privacy.export"], timeout=WAIT_MS
    )
    page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.click("#privacy-erase")
    page.wait_for_function("() => true")
    assert "irréversible" in dialogs[-1]
    assert page.inner_text("#privacy-status") == ""
    context.close()

    sales = browser.new_context(locale="en-GB")
    sales_page = sales.new_page()
    _sign_in(sales_page, dashboard, "sam")
    sales_page.goto(dashboard.url + "/customers")
    _settle(sales_page, "en")
    assert sales_page.evaluate("Vigie.page.can_erase") is False
    sales.close()
    # The customer page asks for the person's shop pick-ups; without their consent to
    # profiling the answer is the designed 409 (the page then says so), not a failure.
    refused = [f for f in problems.found if f.startswith("409 ") and "/api/sensors/customers/" in f]
    consent_errors = [f for f in problems.found if f.startswith("console:") and "409" in f]
    unexpected = [f for f in problems.found if f not in refused and f not in consent_errors]
    assert french_id and unexpected == []
