"""The Overview's KPI sections per department, with the shipped catalogue, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.web.conftest import PASSWORD, Dashboard
from tests.web.test_dashboard_browser import (
    WAIT_MS,
    Problems,
    _settle,
    _sign_in,
    browser,
    choose_french,
)
from vigie.auth.users import create_user
from vigie.catalogue import with_catalogue
from vigie.config import Config, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

__all__ = ["browser"]  # the chromium fixture, shared with the dashboard's browser tests

pytestmark = pytest.mark.browser


@pytest.fixture
def catalogue_dashboard(tmp_path: Any) -> Iterator[tuple[Dashboard, str]]:
    """A server with the shipped catalogue, a user `ada` and an admin API token."""
    config = with_catalogue(Config(sources=[Source(name="web", write_key=WRITE_KEY)]))
    config.secret_key = "departments-test-secret-key-0123456789"
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db", config)))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        create_user(
            engine=system.engine,
            username="ada",
            password=PASSWORD,
            role="admin",
            display_name="Ada",
            now=system.clock.now(),
        )
        token = user_token(system, username="api-admin", role="admin")
        yield Dashboard(url=server.url, write_key=WRITE_KEY, system=system), token


def _sections(page: Any) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#kpis section.department')]
             .map((s) => [s.dataset.department, s.querySelector('h3').textContent]))"""
    )
    return found


def test_each_department_has_its_section_in_both_languages(
    catalogue_dashboard: tuple[Dashboard, str], browser: Any
) -> None:
    """Issue 14: a sign-up, a deal won and a ticket in the CRM show under Marketing, Sales and
    Customer support (Ventes, Service client in French), none under "Other"."""
    dashboard, token = catalogue_dashboard
    httpx.post(
        dashboard.url + "/v1/track",
        json={"event": "Newsletter Signed Up", "anonymousId": "v-1"},
        auth=(dashboard.write_key, ""),
    ).raise_for_status()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=dashboard.url, headers=headers, timeout=30) as api:
        account = api.post("/api/accounts", json={"name": "Garage Martin"}).json()
        api.post(
            "/api/deals", json={"title": "Pont", "account_id": account["id"], "stage": "won"}
        ).raise_for_status()
        api.post("/api/tickets", json={"subject": "Panne", "queue": "orders"}).raise_for_status()
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    expected = {
        "en": {"marketing": "Marketing", "sales": "Sales", "support": "Customer support"},
        "fr": {"marketing": "Marketing", "sales": "Ventes", "support": "Service client"},
    }
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
            page.goto(dashboard.url + "/")
        _settle(page, language)
        page.wait_for_selector('#kpis section[data-department="support"]', timeout=WAIT_MS)
        sections = _sections(page)
        assert {k: sections.get(k) for k in expected[language]} == expected[language]
        assert "other" not in sections
    context.close()
    assert problems.found == []
