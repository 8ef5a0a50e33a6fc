"""Issue 17 in a real browser (Debian's chromium): after five wrong passwords the sign-in form
says to wait, in English and in French, even to the right password; after logging out, the
old session cookie no longer opens the dashboard. The pages' security headers hold no
inline script, and the pages run without a policy violation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.conftest import PASSWORD, Dashboard
from tests.web.test_dashboard_browser import Problems
from tests.web.test_dashboard_browser import browser as browser  # the fixture, re-exported
from vigie.auth.users import create_user
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser


def _type_in(page: Any, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_load_state()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_guessing_at_the_form_is_told_to_wait(
    dashboard: Dashboard,
    browser: Any,
    language: str,
) -> None:
    """Five wrong passwords, then the right one: the page answers 429 and says, in the
    browser's language, to wait; the page has a CSP and no script error."""
    system = dashboard.system
    username = f"guessed-{language}"
    create_user(engine=system.engine, username=username, password=PASSWORD, role="support",
                now=system.clock.now())  # fmt: skip
    context = browser.new_context(locale="fr-BE" if language == "fr" else "en-GB")
    page = context.new_page()
    problems = Problems()
    page.on("console", lambda m: m.type == "error" and problems.found.append(m.text))
    first = page.goto(dashboard.url + "/login")
    assert "script-src 'self'" in first.headers["content-security-policy"]
    for _ in range(5):
        _type_in(page, username, "wrong password")
    with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
        _type_in(page, username, PASSWORD)
    assert answer.value.status == 429
    message = catalog(language)["hardening.login_throttled"]
    assert page.inner_text("#login-error") == message
    assert page.url.endswith("/login")
    context.close()
    assert [p for p in problems.found if "429" not in p and "401" not in p] == []


def test_a_cookie_kept_after_logout_opens_nothing(
    dashboard: Dashboard,
    browser: Any,
) -> None:
    """Signed in, the browser's cookie is copied; after the logout button, the copy no
    longer reads the API."""
    system = dashboard.system
    create_user(engine=system.engine, username="leaver", password=PASSWORD, role="support",
                now=system.clock.now())  # fmt: skip
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(dashboard.url + "/login")
    _type_in(page, "leaver", PASSWORD)
    page.wait_for_url(dashboard.url + "/")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    assert httpx.get(dashboard.url + "/api/auth/me", cookies=cookies).status_code == 200
    page.click('form[action="/logout"] button')
    page.wait_for_url("**/login")
    assert httpx.get(dashboard.url + "/api/auth/me", cookies=cookies).status_code == 401
    context.close()
