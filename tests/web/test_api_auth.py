"""Logging in over HTTP, token and session authentication, user admin and the audit trail."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer, user_token

PASSWORD = "correct horse battery"


def test_token_login_and_me(live_server: LiveServer) -> None:
    """A password buys a Bearer token that identifies the user; a wrong one is 401."""
    user_token(live_server.system, username="sam", role="sales", staff_id="st_sam")
    bad = httpx.post(
        live_server.url + "/api/auth/token", json={"username": "sam", "password": "wrong"}
    )
    assert bad.status_code == 401
    response = httpx.post(
        live_server.url + "/api/auth/token", json={"username": "sam", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    me = httpx.get(live_server.url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": me.json()["id"],
        "username": "sam",
        "role": "sales",
        "staff_id": "st_sam",
        "display_name": None,
    }


def test_session_cookie_login(live_server: LiveServer) -> None:
    """/api/auth/login sets a signed cookie that authenticates later requests."""
    user_token(live_server.system, username="sue", role="support")
    with httpx.Client(base_url=live_server.url) as client:
        assert client.get("/api/auth/me").status_code == 401
        response = client.post("/api/auth/login", json={"username": "sue", "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert client.get("/api/auth/me").json()["username"] == "sue"
        client.post("/api/auth/logout")
        assert client.get("/api/auth/me").status_code == 401


def test_api_needs_a_user_token_not_a_write_key(live_server: LiveServer) -> None:
    """/api/events refuses no token (401), a write key (403) and accepts a user token."""
    url = live_server.url + "/api/events"
    assert httpx.get(url).status_code == 401
    write_key = httpx.get(url, headers={"Authorization": f"Bearer {live_server.write_key}"})
    assert write_key.status_code == 403
    assert "write key" in write_key.json()["detail"]
    assert httpx.get(url, headers={"Authorization": "Bearer vgt_forged"}).status_code == 401
    assert httpx.get(url, headers=live_server.admin).status_code == 200


def test_only_admins_manage_users_and_read_the_audit(live_server: LiveServer) -> None:
    """An admin creates a user (audited with who and from where); others get 403."""
    sales = {
        "Authorization": "Bearer " + user_token(live_server.system, username="sid", role="sales")
    }
    body = {"username": "mia", "password": "long-enough-password", "role": "marketing"}
    assert httpx.post(live_server.url + "/api/users", json=body, headers=sales).status_code == 403
    created = httpx.post(live_server.url + "/api/users", json=body, headers=live_server.admin)
    assert created.status_code == 201, created.text
    again = httpx.post(live_server.url + "/api/users", json=body, headers=live_server.admin)
    assert again.status_code == 409
    assert httpx.get(live_server.url + "/api/audit", headers=sales).status_code == 403
    lines = httpx.get(
        live_server.url + "/api/audit", params={"action": "user.create"}, headers=live_server.admin
    ).json()["items"]
    assert [(a["actor"], a["entity_id"], a["ip"]) for a in lines] == [
        ("test-admin", str(created.json()["id"]), "127.0.0.1")
    ]


def test_a_revoked_token_stops_working(live_server: LiveServer) -> None:
    """DELETE /api/auth/tokens/{id} revokes the caller's token; it is then refused (401)."""
    user_token(live_server.system, username="rae", role="finance")
    issued = httpx.post(
        live_server.url + "/api/auth/token", json={"username": "rae", "password": PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    url = live_server.url + f"/api/auth/tokens/{issued['id']}"
    assert httpx.delete(url, headers=live_server.admin).status_code == 404  # not the admin's
    assert httpx.delete(url, headers=headers).status_code == 204
    assert httpx.get(live_server.url + "/api/auth/me", headers=headers).status_code == 401
