"""PostHog's capture bodies read and mapped to Vigie's events, without a server."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from vigie.events.posthog import convert_capture, decode_capture
from vigie.events.segment import PayloadError

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
KEY = "phc-key"


def _events(body: Any, **kwargs: Any) -> tuple[list[Any], list[Any]]:
    capture = decode_capture(json.dumps(body).encode(), **kwargs)
    return convert_capture(capture, source="web", received_at=NOW)


def test_batch_array_and_single_event_bodies() -> None:
    """A batch, a bare array and one event are read alike, with the key wherever it is."""
    event = {"event": "Clicked", "distinct_id": "u1", "properties": {"token": KEY}}
    assert decode_capture(json.dumps({"api_key": KEY, "batch": [event]}).encode()).api_key == KEY
    assert decode_capture(json.dumps([event]).encode()).api_key == KEY
    single = decode_capture(json.dumps({**event, "properties": {}, "token": KEY}).encode())
    assert single.api_key == KEY and len(single.events) == 1
    assert decode_capture(b"{}", query={"api_key": KEY}).api_key == KEY


def test_base64_form_body_as_sendbeacon_sends_it() -> None:
    """`data=<base64>` form bodies are decoded, with or without `compression=base64`."""
    payload = json.dumps([{"event": "Left", "distinct_id": "u1"}]).encode()
    encoded = quote(base64.b64encode(payload).decode())
    for body, query in (
        (f"data={encoded}&compression=base64", {}),
        (f"data={encoded}", {"compression": "base64"}),
        (f"data={encoded}", {}),
        (f"data={quote(payload.decode())}", {}),
    ):
        capture = decode_capture(
            body.encode(), content_type="application/x-www-form-urlencoded", query=query
        )
        assert capture.events == [{"event": "Left", "distinct_id": "u1"}], body


def test_unreadable_bodies_name_the_reason() -> None:
    """Not JSON, a form without `data`, lz64 and a non-array batch are refused clearly."""
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_capture(b"{nope")
    with pytest.raises(PayloadError) as missing:
        decode_capture(b"other=1", content_type="application/x-www-form-urlencoded")
    assert missing.value.field == "data"
    with pytest.raises(PayloadError) as lz64:
        decode_capture(b"data=abc&compression=lz64")
    assert lz64.value.status == 415
    with pytest.raises(PayloadError) as batch:
        decode_capture(b'{"batch": {}}')
    assert batch.value.field == "batch"


def test_pageview_is_a_page_with_its_context_and_campaign() -> None:
    """`$pageview` becomes a page named by its title, with the URL's page and UTM campaign."""
    url = "https://shop.example.be/deal?utm_source=fb&utm_campaign=noon"
    events, rejections = _events(
        {
            "event": "$pageview",
            "distinct_id": "device-1",
            "uuid": "0190a1b2-0000-7000-8000-000000000001",
            "properties": {
                "$current_url": url,
                "$pathname": "/deal",
                "title": "Deal",
                "$device_id": "device-1",
                "$is_identified": False,
                "$lib": "web",
                "$lib_version": "1.0",
                "$raw_user_agent": "Firefox",
                "token": KEY,
            },
        }
    )
    assert rejections == []
    [page] = events
    assert page.type == "page" and page.name == "Deal"
    assert page.message_id == "0190a1b2-0000-7000-8000-000000000001"
    assert page.anonymous_id == "device-1" and page.user_id is None
    assert page.properties["url"] == url and page.properties["path"] == "/deal"
    assert page.context["page"]["search"] == "?utm_source=fb&utm_campaign=noon"
    assert page.context["campaign"] == {"source": "fb", "name": "noon"}
    assert page.context["library"] == {"name": "web", "version": "1.0"}
    assert page.context["userAgent"] == "Firefox"
    assert "token" not in page.properties
    assert page.extra == {"$event": "$pageview"}


def test_identify_links_the_anonymous_id_and_sets_traits() -> None:
    """`$identify` is an identify from `$anon_distinct_id` to the user, `$set` its traits."""
    [identify], _ = _events(
        {
            "event": "$identify",
            "distinct_id": "user-42",
            "properties": {"$anon_distinct_id": "device-1", "$set": {"email": "a@b.be"}},
            "$set_once": {"first_seen": "today"},
        }
    )
    assert identify.type == "identify"
    assert (identify.user_id, identify.anonymous_id) == ("user-42", "device-1")
    assert identify.traits == {"email": "a@b.be"}
    assert identify.extra["$set_once"] == {"first_seen": "today"}


def test_who_did_it() -> None:
    """`distinct_id` is the user when identified (or from a server library), else anonymous;
    an identified browser event keeps its device id as the anonymous id."""
    cases = [
        ({"$is_identified": True, "$device_id": "d1"}, ("u1", "d1")),
        ({"$is_identified": False}, (None, "u1")),
        ({"$device_id": "u1"}, (None, "u1")),
        ({"$process_person_profile": False}, (None, "u1")),
        ({}, ("u1", None)),
    ]
    for properties, expected in cases:
        [event], _ = _events({"event": "Clicked", "distinct_id": "u1", "properties": properties})
        assert (event.user_id, event.anonymous_id) == expected, properties


def test_set_alias_and_group() -> None:
    """`$set` is an identify with traits, `$create_alias` an alias from the previous id,
    `$groupidentify` a group with its key and `$group_set` traits."""
    events, rejections = _events(
        {
            "batch": [
                {"event": "$set", "distinct_id": "u1", "$set": {"plan": "pro"}},
                {"event": "$create_alias", "distinct_id": "anon-1", "properties": {"alias": "u1"}},
                {
                    "event": "$groupidentify",
                    "distinct_id": "u1",
                    "properties": {
                        "$group_type": "company",
                        "$group_key": "acme",
                        "$group_set": {"name": "Acme"},
                    },
                },
            ]
        }
    )
    assert rejections == []
    person, alias, group = events
    assert (person.type, person.traits) == ("identify", {"plan": "pro"})
    assert (alias.type, alias.previous_id, alias.user_id) == ("alias", "anon-1", "u1")
    assert (group.type, group.group_id, group.traits) == ("group", "acme", {"name": "Acme"})


def test_clock_skew_is_corrected_from_sent_at() -> None:
    """An event time is moved by the client's clock error, known from `sent_at`."""
    [event], _ = _events(
        {
            "sent_at": "2030-01-01T00:00:10+00:00",
            "batch": [{"event": "x", "distinct_id": "u", "timestamp": "2030-01-01T00:00:00Z"}],
        }
    )
    assert event.timestamp == datetime(2024, 5, 6, 11, 59, 50, tzinfo=UTC)


def test_bad_events_are_rejected_with_posthog_field_names_good_ones_kept() -> None:
    """Each bad event is refused naming PostHog's field and its place; the rest go through."""
    events, rejections = _events(
        {
            "batch": [
                {"event": "ok", "distinct_id": "u1"},
                {"event": "no one"},
                "not an object",
                {"distinct_id": "u1"},
                {"event": "long", "distinct_id": "u1", "uuid": "x" * 300},
                {"event": "$create_alias", "distinct_id": "u1"},
                {"event": "bad time", "distinct_id": "u1", "timestamp": "yesterday"},
            ]
        }
    )
    assert [e.event for e in events] == ["ok"]
    assert [(r.index, r.field) for r in rejections] == [
        (1, "distinct_id"),
        (2, None),
        (3, "event"),
        (4, "uuid"),
        (5, "properties.alias"),
        (6, "timestamp"),
    ]
    assert json.loads(rejections[0].payload) == {"event": "no one"}
