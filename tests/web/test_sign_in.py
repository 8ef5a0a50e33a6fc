"""Issue 17: signing in over HTTP is throttled with Retry-After (API and form), sessions are
revoked on the server by logout, a password change and an admin, and users can be disabled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, make_settings, user_token
from vigie.clock import ManualClock
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

PASSWORD = "correct horse battery"


@dataclass
class Server:
    """A running server on a clock the test moves, with an admin's token."""

    url: str
    clock: ManualClock
    system: System
    admin: dict[str, str]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server per test: the throttle's counts start at zero."""
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"), clock=clock)
    app = create_app(system)
    with BackgroundServer(app, port=free_port()) as running:
        token = user_token(system, username="root-admin", role="admin")
        yield Server(running.url, clock, system, {"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/token"])
def test_api_guessing_gets_429_with_retry_after(server: Server, path: str) -> None:
    """After five wrong passwords, the right one is answered 429 with Retry-After; once that
    time has passed it works."""
    user_token(server.system, username="sam", role="sales")
    for _ in range(5):
        wrong = httpx.post(
            server.url + path, json={"username": "sam", "password": "guess"}, timeout=30
        )
        assert wrong.status_code == 401
    right = httpx.post(
        server.url + path, json={"username": "sam", "password": PASSWORD}, timeout=30
    )
    assert right.status_code == 429, right.text
    assert int(right.headers["retry-after"]) >= 1
    server.clock.advance(timedelta(seconds=int(right.headers["retry-after"])))
    again = httpx.post(
        server.url + path, json={"username": "sam", "password": PASSWORD}, timeout=30
    )
    assert again.status_code in (200, 201), again.text


def test_the_login_form_is_throttled_too(server: Server) -> None:
    """The dashboard's sign-in form answers 429 with Retry-After and says so on the page."""
    user_token(server.system, username="sam", role="sales")
    form = {"username": "sam", "password": "guess", "next": "/"}
    for _ in range(5):
        assert httpx.post(server.url + "/login", data=form, timeout=30).status_code == 401
    page = httpx.post(server.url + "/login", data={**form, "password": PASSWORD}, timeout=30)
    assert page.status_code == 429
    assert page.headers["retry-after"]
    assert "Too many failed attempts" in page.text


def test_a_cookie_copied_before_logout_stops_working(server: Server) -> None:
    """Logging out closes the session on the server: a copy of the cookie is refused."""
    user_token(server.system, username="sue", role="support")
    with httpx.Client(base_url=server.url) as browser:
        browser.post("/api/auth/login", json={"username": "sue", "password": PASSWORD})
        copied = dict(browser.cookies)
        assert browser.get("/api/auth/me").status_code == 200
        browser.post("/api/auth/logout")
    with httpx.Client(base_url=server.url, cookies=copied) as thief:
        assert thief.get("/api/auth/me").status_code == 401


def test_the_form_logout_revokes_too(server: Server) -> None:
    """The dashboard's logout button revokes the session as the API's does."""
    user_token(server.system, username="sue", role="support")
    with httpx.Client(base_url=server.url) as browser:
        form = {"username": "sue", "password": PASSWORD, "next": "/"}
        assert browser.post("/login", data=form).status_code == 303
        copied = dict(browser.cookies)
        browser.post("/logout")
    with httpx.Client(base_url=server.url, cookies=copied) as thief:
        assert thief.get("/api/auth/me").status_code == 401


def test_an_admin_disables_a_user_and_revokes_sessions(server: Server) -> None:
    """An admin's revocation closes a user's sessions; disabling also stops their tokens and
    sign-ins; both are refused to non-admins."""
    token = user_token(server.system, username="sam", role="sales")
    with httpx.Client(base_url=server.url) as browser:
        browser.post("/api/auth/login", json={"username": "sam", "password": PASSWORD})
        mine = {"Authorization": f"Bearer {token}"}
        assert httpx.delete(server.url + "/api/users/sam/sessions", headers=mine).status_code == 403
        revoked = httpx.delete(server.url + "/api/users/sam/sessions", headers=server.admin)
        assert revoked.json() == {"revoked": 1}
        assert browser.get("/api/auth/me").status_code == 401
        browser.post("/api/auth/login", json={"username": "sam", "password": PASSWORD})
        assert browser.get("/api/auth/me").status_code == 200
        disabled = httpx.post(
            server.url + "/api/users/sam/disable", headers=server.admin, timeout=30
        )
        assert disabled.status_code == 200, disabled.text
        assert browser.get("/api/auth/me").status_code == 401
    assert httpx.get(server.url + "/api/auth/me", headers=mine, timeout=30).status_code == 401
    login = httpx.post(
        server.url + "/api/auth/login", json={"username": "sam", "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 401
    again = httpx.post(server.url + "/api/users/sam/disable", headers=server.admin, timeout=30)
    assert again.status_code == 404


def test_a_password_change_closes_the_other_sessions(server: Server) -> None:
    """Changing one's password closes every other browser's session; this browser stays
    signed in, and the old password no longer works."""
    user_token(server.system, username="sue", role="support")
    credentials = {"username": "sue", "password": PASSWORD}
    with httpx.Client(base_url=server.url) as other, httpx.Client(base_url=server.url) as here:
        other.post("/api/auth/login", json=credentials)
        here.post("/api/auth/login", json=credentials)
        wrong = here.post("/api/auth/password", json={"current": "nope", "new": "a-new-password"})
        assert wrong.status_code == 401
        changed = here.post(
            "/api/auth/password", json={"current": PASSWORD, "new": "a-new-password"}
        )
        assert changed.status_code == 204, changed.text
        assert here.get("/api/auth/me").status_code == 200
        assert other.get("/api/auth/me").status_code == 401
    assert (
        httpx.post(server.url + "/api/auth/login", json=credentials, timeout=30).status_code == 401
    )
