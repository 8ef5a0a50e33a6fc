"""Issue 17: NUL characters and out-of-range numbers in paths and query parameters are a
client error naming the parameter, on SQLite and on PostgreSQL, never a server error."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer

NUL_QUERIES = [
    ("/api/chat/invitations", "anonymous_id"),
    ("/api/playbook-runs", "playbook"),
    ("/api/notifications", "recipient"),
    ("/api/alerts", "rule"),
    ("/api/kpis", "metric"),
    ("/api/contacts", "q"),
    ("/api/interactions", "contact_id"),
    ("/api/leads/run", "rep"),
    ("/api/leads", "status"),
]


def test_nul_in_a_query_parameter_is_refused_with_its_name(live_server: LiveServer) -> None:
    """A NUL in any query parameter is answered 422 naming the parameter."""
    for path, name in NUL_QUERIES:
        response = httpx.get(
            live_server.url + path, params={name: "a\x00b"}, headers=live_server.admin
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    "path",
    ["/api/visitors/a%00b/journey", "/api/profiles/a%00b", "/api/contacts/ct_a%00b"],
)
def test_nul_in_a_path_is_refused(live_server: LiveServer, path: str) -> None:
    """A NUL in the path is answered 422, not looked up."""
    response = httpx.get(live_server.url + path, headers=live_server.admin)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path"]


@pytest.mark.parametrize("value", [str(-(2**90)), str(2**90), "0"])
def test_an_out_of_range_before_is_refused(live_server: LiveServer, value: str) -> None:
    """`/api/notifications?before=-2^90` (or 2^90, or 0) is refused (422), not a 500."""
    response = httpx.get(
        live_server.url + "/api/notifications",
        params={"before": value},
        headers=live_server.admin,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "before"]


def test_an_ordinary_query_still_works(live_server: LiveServer) -> None:
    """Queries without NUL pass the guard: percent-encoded text is served as usual."""
    response = httpx.get(
        live_server.url + "/api/notifications",
        params={"recipient": "Zoë %20 & co", "before": 5},
        headers=live_server.admin,
    )
    assert response.status_code == 200, response.text
