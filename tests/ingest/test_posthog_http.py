"""The PostHog capture API and the Segment browser paths over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import LiveServer
from tests.ingest.clients import rejected, stored_ids


def _event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": "Clicked",
        "distinct_id": "u1",
        "uuid": f"0190a1b2-0000-7000-8000-{n:012d}",
        **extra,
    }


def test_every_body_form_posthog_clients_send(live_server: LiveServer) -> None:
    """Plain JSON, gzip by header, gzip as text/plain (posthog-js) and base64 forms (its
    sendBeacon) on /batch/, /e/, /i/v0/e/ and /capture/ are stored; re-sends are duplicates."""
    key = live_server.write_key
    url = live_server.url
    sends = [
        ("/batch/", {"json": {"api_key": key, "batch": [_event(1)]}}),
        ("/capture/", {"json": {**_event(2), "api_key": key}}),
        (
            "/e/",
            {
                "content": gzip.compress(
                    json.dumps([_event(3, properties={"token": key})]).encode()
                ),
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        (
            "/i/v0/e/?compression=gzip-js",
            {
                "content": gzip.compress(
                    json.dumps({"api_key": key, "batch": [_event(4)]}).encode()
                ),
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        (
            "/i/v0/e",
            {
                "content": gzip.compress(json.dumps({**_event(5), "token": key}).encode()),
                "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            },
        ),
        (
            "/e/?compression=base64",
            {
                "content": "data="
                + quote(
                    base64.b64encode(json.dumps([_event(6, properties={"token": key})]).encode())
                ),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
    ]
    for path, kwargs in sends:
        response = httpx.post(url + path, timeout=30, **kwargs)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "status": 1}
    for path, kwargs in sends:
        assert httpx.post(url + path, timeout=30, **kwargs).json()["duplicates"] == 1
    assert sorted(stored_ids(live_server.system)) == [_event(n)["uuid"] for n in range(1, 7)]
    assert rejected(live_server.system) == []


def test_bad_posthog_input_is_400_with_the_field_and_kept(live_server: LiveServer) -> None:
    """A bad event is answered 400 naming PostHog's field (`attr`, `detail` for the clients)
    and kept as rejected; its batch's good events are stored; a wrong key is 401."""
    body = {"api_key": live_server.write_key, "batch": [_event(1), {"event": "anonymous"}]}
    response = httpx.post(live_server.url + "/batch/", json=body, timeout=30)
    assert response.status_code == 400
    answer = response.json()
    assert answer["accepted"] == 1 and answer["attr"] == "distinct_id"
    assert answer["rejected"] == [
        {"reason": "missing required field (who did it)", "field": "distinct_id", "index": 1}
    ]
    assert "distinct_id" in answer["detail"]

    unknown = httpx.post(live_server.url + "/e/", json={**_event(2), "api_key": "nope"})
    assert unknown.status_code == 401 and unknown.json()["attr"] == "api_key"
    broken = httpx.post(live_server.url + "/e/", content=b"{not json", timeout=30)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]

    kept = {(r["endpoint"], r["field"]) for r in rejected(live_server.system)}
    assert kept == {("/batch/", "distinct_id"), ("/e/", "api_key"), ("/e/", None)}
    assert stored_ids(live_server.system) == [_event(1)["uuid"]]


def test_flags_and_remote_config_say_there_is_nothing(live_server: LiveServer) -> None:
    """/flags and /decide answer no feature flags, /array/<key>/config nothing to load."""
    for path in ("/flags/?v=2", "/flags", "/decide/?v=3", "/decide"):
        response = httpx.post(live_server.url + path, json={"distinct_id": "u1"}, timeout=30)
        assert response.status_code == 200, path
        assert response.json()["featureFlags"] == {} and response.json()["flags"] == {}
    config = httpx.get(live_server.url + "/array/any-key/config", timeout=30).json()
    assert config["hasFeatureFlags"] is False and config["sessionRecording"] is False
    script = httpx.get(live_server.url + "/array/any-key/config.js", timeout=30)
    assert script.headers["content-type"].startswith("application/javascript")
    assert '_POSTHOG_REMOTE_CONFIG["any-key"]' in script.text


def test_cors_preflights_allow_the_libraries_headers(live_server: LiveServer) -> None:
    """Preflights on Segment's short paths and PostHog's paths allow X-Retry-Count and any
    header a site adds; the REST API stays same-origin."""
    for path in ("/v1/t", "/v1/b", "/e/", "/batch/", "/flags/"):
        response = httpx.options(
            live_server.url + path,
            headers={
                "Origin": "https://shop.example.be",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-retry-count,x-site-header",
            },
        )
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == "*"
        assert "x-retry-count" in response.headers["access-control-allow-headers"]
    api = httpx.options(
        live_server.url + "/api/events",
        headers={"Origin": "https://shop.example.be", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in api.headers


def test_segment_short_paths_and_text_plain(live_server: LiveServer) -> None:
    """analytics-next's /v1/<letter> paths store their type from a text/plain body with the
    write key inside; /v1/m takes its statistics without storing them."""
    key = live_server.write_key
    for letter, message in (
        ("t", {"event": "Clicked", "anonymousId": "a"}),
        ("p", {"name": "Home", "anonymousId": "a"}),
        ("i", {"userId": "u", "traits": {"plan": "pro"}}),
        ("g", {"groupId": "acme", "userId": "u"}),
        ("a", {"previousId": "a", "userId": "u"}),
        ("s", {"name": "Cart", "anonymousId": "a"}),
    ):
        response = httpx.post(
            f"{live_server.url}/v1/{letter}",
            content=json.dumps({**message, "writeKey": key, "messageId": f"m-{letter}"}),
            headers={"Content-Type": "text/plain"},
            timeout=30,
        )
        assert response.status_code == 200, (letter, response.text)
    batch = {"writeKey": key, "batch": [{"type": "track", "event": "B", "anonymousId": "a"}]}
    response = httpx.post(
        live_server.url + "/v1/b", content=json.dumps(batch), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    metrics = httpx.post(live_server.url + "/v1/m", content=b'{"series": []}')
    assert metrics.status_code == 200
    types = sorted(e.type for e in live_server.system.log.read(1, 100))
    assert types == sorted(["track", "page", "identify", "group", "alias", "screen", "track"])


def test_openapi_declares_every_accepted_body_form(live_server: LiveServer) -> None:
    """The OpenAPI document lists the JSON, text/plain and form bodies and the gzip header of
    the Segment and PostHog routes (issue 18, item 5)."""
    schema = httpx.get(live_server.url + "/openapi.json", timeout=30).json()
    paths = schema["paths"]
    assert {"/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a", "/v1/s", "/v1/b"} <= set(paths)
    for path in ("/v1/batch", "/v1/b", "/v1/track", "/v1/t"):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/json", "text/plain"}
        assert "Content-Encoding" in {p["name"] for p in operation["parameters"]}
    for path in ("/batch/", "/capture/", "/e/", "/i/v0/e/"):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == {
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
        }
        assert {"compression", "Content-Encoding"} <= {p["name"] for p in operation["parameters"]}
        assert "gzip" in operation["description"]
    assert {"/flags/", "/decide/"} <= set(paths)
