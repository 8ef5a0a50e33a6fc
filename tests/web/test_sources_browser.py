"""The Overview page lists the business sources and how their deliveries went, in English
and in French, in Debian's chromium (issue 18)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.sources.helpers import fixture, happening_now, stripe_signature
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

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the dashboard's browser tests
SECRET = "whsec_dashboard_test_0123456789"


def test_the_overview_lists_sources_and_their_last_refusal(
    dashboard: Dashboard, browser: Any
) -> None:
    """After a refused and an accepted Stripe delivery, the Sources section shows the source,
    its URL, one accepted and one refused, and the reason of the refusal, in both languages;
    a role that may not read events does not see it."""
    from playwright.sync_api import expect

    body = happening_now(fixture("stripe_payment_intent_succeeded.json"))
    url = f"{dashboard.url}/hooks/payments"
    signature = stripe_signature(body, int(time.time()), secret=SECRET)
    tampered = httpx.post(url, content=body + b" ", headers={"Stripe-Signature": signature})
    assert tampered.status_code == 401
    accepted = httpx.post(url, content=body, headers={"Stripe-Signature": signature})
    assert accepted.status_code == 200, accepted.text
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
        section = page.locator("#sources")
        expect(section.locator("h2")).to_contain_text(
            catalog(language)["sources.title"], timeout=WAIT_MS
        )
        item = section.locator('li[data-source="payments"]')
        expect(item).to_contain_text("payments (stripe)", timeout=WAIT_MS)
        expect(item).to_contain_text("/hooks/payments")
        words = ("1 accepted", "1 refused") if language == "en" else ("1 acceptées", "1 refusées")
        for word in words:
            expect(item).to_contain_text(word)
        expect(item.locator(".error")).to_contain_text("Stripe-Signature: no v1 signature")
    context.close()
    assert problems.found == []
    support = browser.new_context(locale="en-GB")
    page = support.new_page()
    _sign_in(page, dashboard, "sue")
    _settle(page, "en")
    assert page.locator("#sources").is_hidden()
    support.close()
