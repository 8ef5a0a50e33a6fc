"""`/t.js`, `/t/config` and CORS on the tracker's endpoints."""

from __future__ import annotations

import json

import httpx

from tests.conftest import LiveServer


def test_the_tracker_script_is_served(live_server: LiveServer) -> None:
    """/t.js is JavaScript from the package, with the public API names in it."""
    response = httpx.get(live_server.url + "/t.js", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    for name in ("identify", "track", "page", "consent", "sendBeacon", "/v1/batch"):
        assert name in response.text


def test_tracker_config_per_source(live_server: LiveServer) -> None:
    """/t/config gives the source's consent, form-field and chat settings; unknown keys get 404."""
    ok = httpx.get(
        live_server.url + "/t/config",
        params={"writeKey": live_server.write_key},
        headers={"Origin": "https://shop.example.be"},
        timeout=30,
    )
    assert ok.json() == {"consentRequired": False, "formFields": [], "chat": False}
    assert ok.headers["access-control-allow-origin"] == "*"
    bad = httpx.get(live_server.url + "/t/config", params={"writeKey": "nope"}, timeout=30)
    assert bad.status_code == 404 and "inconnue" in bad.text


def test_cors_on_tracker_endpoints_only(live_server: LiveServer) -> None:
    """A browser on another origin may post to /v1/batch; /api/ gets no CORS headers."""
    preflight = httpx.options(
        live_server.url + "/v1/batch",
        headers={
            "Origin": "https://shop.example.be",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    posted = httpx.post(
        live_server.url + "/v1/batch",
        content=json.dumps(
            {"writeKey": live_server.write_key, "batch": [{"type": "page", "anonymousId": "a"}]}
        ),
        headers={"Origin": "https://shop.example.be", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == "*"
    api = httpx.get(
        live_server.url + "/api/events", headers={"Origin": "https://evil.example"}, timeout=30
    )
    assert "access-control-allow-origin" not in api.headers
