"""The Segment-compatible HTTP contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer


def _post(server: LiveServer, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        server.url + path, json=body, auth=(server.write_key, ""), timeout=30, **kwargs
    )


def _events(server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        server.url + "/api/events", params=params, headers=server.admin, timeout=30
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_batch_is_appended_in_order_with_offsets(live_server: LiveServer) -> None:
    """A batch's messages are stored with increasing offsets and read back newest first."""
    batch = [
        {"type": "track", "event": f"Step {i}", "anonymousId": "a1", "messageId": f"m{i}"}
        for i in range(5)
    ]
    response = _post(live_server, "/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 5, "duplicates": 0}
    events = _events(live_server)
    assert [e["event"] for e in events] == [f"Step {i}" for i in reversed(range(5))]
    offsets = [e["offset"] for e in events]
    assert offsets == sorted(offsets, reverse=True) and len(set(offsets)) == 5


def test_duplicate_message_ids_are_acknowledged_not_appended(live_server: LiveServer) -> None:
    """Re-sending a messageId answers 200 and counts a duplicate, the log keeps one copy."""
    message = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "dup-1"}
    assert _post(live_server, "/v1/batch", {"batch": [message, message]}).json()["duplicates"] == 1
    second = _post(live_server, "/v1/track", message)
    assert second.status_code == 200
    assert second.json() == {"success": True, "accepted": 0, "duplicates": 1}
    assert len(_events(live_server, event="Signed Up")) == 1


def test_single_endpoints_set_the_type(live_server: LiveServer) -> None:
    """Each /v1/<type> call stores an event of that type."""
    calls = {
        "track": {"event": "Clicked", "anonymousId": "a"},
        "identify": {"userId": "u", "traits": {"email": "u@example.be"}},
        "page": {"name": "Home", "anonymousId": "a"},
        "screen": {"name": "Cart", "anonymousId": "a"},
        "group": {"groupId": "acme", "userId": "u"},
        "alias": {"previousId": "a", "userId": "u"},
    }
    for kind, body in calls.items():
        response = _post(live_server, f"/v1/{kind}", body)
        assert response.status_code == 200, (kind, response.text)
    assert sorted(e["type"] for e in _events(live_server)) == sorted(calls)


def test_write_key_in_body_gzip_and_text_plain(live_server: LiveServer) -> None:
    """writeKey in the body, a gzip body and a text/plain JSON body are all accepted."""
    body = {
        "writeKey": live_server.write_key,
        "batch": [{"type": "track", "event": "Zipped", "anonymousId": "z"}],
    }
    response = httpx.post(
        live_server.url + "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert _events(live_server, event="Zipped")[0]["source"] == "web"


def test_clock_skew_correction_and_batch_context_merge(live_server: LiveServer) -> None:
    """timestamp = receivedAt - (sentAt - timestamp); the batch context reaches each message."""
    client_time = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    body = {
        "sentAt": (client_time + timedelta(seconds=10)).isoformat(),
        "context": {"library": {"name": "test"}, "ip": "203.0.113.9"},
        "batch": [
            {
                "type": "track",
                "event": "Skewed",
                "anonymousId": "s",
                "timestamp": client_time.isoformat(),
                "context": {"ip": "198.51.100.1"},
            }
        ],
    }
    assert _post(live_server, "/v1/batch", body).status_code == 200
    event = _events(live_server, event="Skewed")[0]
    received = datetime.fromisoformat(event["received_at"])
    stamped = datetime.fromisoformat(event["timestamp"])
    assert abs((received - stamped).total_seconds() - 10) < 0.001
    assert event["context"]["library"] == {"name": "test"}
    assert event["context"]["ip"] == "198.51.100.0"  # the message's, truncated (issue 17)


def test_utm_parameters_from_url_and_unknown_fields_kept(live_server: LiveServer) -> None:
    """UTM parameters of the page URL fill context.campaign; unknown fields are kept."""
    body = {
        "anonymousId": "p",
        "name": "Lunch",
        "properties": {
            "url": "https://shop.example.be/lunch?utm_source=fb&utm_campaign=noon&utm_id=42"
        },
        "flavour": "strawberry",
    }
    assert _post(live_server, "/v1/page", body).status_code == 200
    event = _events(live_server, type="page")[0]
    assert event["context"]["campaign"] == {"source": "fb", "name": "noon", "id": "42"}
    assert event["extra"] == {"flavour": "strawberry"}


def test_bad_messages_rejected_good_ones_kept(live_server: LiveServer) -> None:
    """A bad message is refused with its field and reason; the good ones of its batch are stored."""
    batch = [
        {"type": "track", "event": "Good", "anonymousId": "g", "messageId": "good-1"},
        {"type": "track", "anonymousId": "g", "messageId": "no-event"},
        {"type": "track", "event": 42, "anonymousId": "g", "messageId": "int-event"},
        {"type": "track", "event": "Nobody"},
        {"type": "teleport", "anonymousId": "g"},
    ]
    response = _post(live_server, "/v1/batch", {"batch": batch})
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 1
    fields = {(r["index"], r["field"]) for r in body["rejected"]}
    assert fields == {(1, "event"), (2, "event"), (3, "userId"), (4, "type")}
    assert [e["message_id"] for e in _events(live_server)] == ["good-1"]
    kept = httpx.get(
        live_server.url + "/api/rejected", headers=live_server.admin, timeout=30
    ).json()["rejected"]
    assert len(kept) == 4
    assert {r["message_id"] for r in kept} >= {"no-event", "int-event"}
    assert all(r["reason"] and r["source"] == "web" for r in kept)


def test_vigies_own_notices_cannot_be_forged_by_a_write_key(live_server: LiveServer) -> None:
    """An erasure's or the rings' notice sent to the public ingestion (which would make every
    process drop its copies, or re-read the links, at a client's will) is refused naming the
    field and kept as a reject; the batch's other events are stored."""
    batch = [
        {"type": "track", "event": "Subject Erased", "anonymousId": "g", "messageId": "forged-1"},
        {"type": "track", "event": "Ring Links Changed", "anonymousId": "g",
         "messageId": "forged-2"},
        {"type": "track", "event": "Good", "anonymousId": "g", "messageId": "good-1"},
    ]  # fmt: skip
    response = _post(live_server, "/v1/batch", {"batch": batch})
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 1
    assert {(r["messageId"], r["field"]) for r in body["rejected"]} == {
        ("forged-1", "event"),
        ("forged-2", "event"),
    }
    assert all("is reserved" in r["reason"] for r in body["rejected"])
    assert [e["message_id"] for e in _events(live_server)] == ["good-1"]
    kept = httpx.get(
        live_server.url + "/api/rejected", headers=live_server.admin, timeout=30
    ).json()["rejected"]
    assert {r["message_id"] for r in kept} == {"forged-1", "forged-2"}


def test_malformed_json_is_400_and_kept(live_server: LiveServer) -> None:
    """A body that is not JSON gets 400 with the reason and is kept in the rejected table."""
    response = httpx.post(
        live_server.url + "/v1/batch",
        content=b'{"batch": [ {"type": "track"',
        auth=(live_server.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    kept = httpx.get(
        live_server.url + "/api/rejected", headers=live_server.admin, timeout=30
    ).json()["rejected"]
    assert kept[0]["payload"].startswith('{"batch"')


def test_oversized_message_and_batch(live_server: LiveServer) -> None:
    """A message over 32 KB is rejected (400); a batch over 500 KB is refused whole (413)."""
    big = {"type": "track", "event": "Big", "anonymousId": "b", "properties": {"x": "y" * 33_000}}
    small = {"type": "track", "event": "Small", "anonymousId": "b"}
    response = _post(live_server, "/v1/batch", {"batch": [big, small]})
    assert response.status_code == 400
    assert "32768-byte limit" in response.json()["rejected"][0]["reason"]
    assert len(_events(live_server, event="Small")) == 1
    huge = {"batch": [dict(small, properties={"x": "y" * 30_000}) for _ in range(20)]}
    response = _post(live_server, "/v1/batch", huge)
    assert response.status_code == 413
    reasons = [
        r["reason"]
        for r in httpx.get(live_server.url + "/api/rejected", headers=live_server.admin).json()[
            "rejected"
        ]
    ]
    assert any("batch limit" in r for r in reasons)


def test_unknown_write_key_is_401(live_server: LiveServer) -> None:
    """A request without a known write key is refused and appends nothing."""
    response = httpx.post(
        live_server.url + "/v1/track",
        json={"event": "X", "anonymousId": "a"},
        auth=("not-a-key", ""),
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json()["rejected"][0]["field"] == "writeKey"
    assert _events(live_server) == []


def test_metrics_count_accepted_duplicate_rejected(live_server: LiveServer) -> None:
    """/metrics exposes the ingest counters and the batch latency histogram."""
    message = {"type": "track", "event": "M", "anonymousId": "a", "messageId": "metric-1"}
    _post(live_server, "/v1/batch", {"batch": [message, message, {"type": "track"}]})
    text = httpx.get(live_server.url + "/metrics", timeout=30).text
    assert 'vigie_events_accepted_total{source="web"} 1.0' in text
    assert 'vigie_events_duplicate_total{source="web"} 1.0' in text
    assert 'vigie_events_rejected_total{reason="missing_field"} 1.0' in text
    assert "vigie_ingest_batch_seconds_count 1.0" in text


def test_health_and_openapi(live_server: LiveServer) -> None:
    """/healthz answers ok and /docs serves the OpenAPI documentation of the ingest routes."""
    assert httpx.get(live_server.url + "/healthz").json()["status"] == "ok"
    schema = httpx.get(live_server.url + "/openapi.json", timeout=60).json()
    assert {"/v1/batch", "/v1/track", "/api/events", "/api/rejected"} <= set(schema["paths"])
    docs = httpx.get(live_server.url + "/docs")
    assert docs.status_code == 200
    assert "cdn." not in docs.text and "https://" not in docs.text.split("<body>")[0]
