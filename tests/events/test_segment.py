"""Converting Segment wire messages to events: validation, skew, UTM, unknown fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vigie.events import Event, Rejection
from vigie.events.segment import (
    MAX_BATCH_BYTES,
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    PayloadError,
    TimestampBounds,
    convert_messages,
    decode_envelope,
)

RECEIVED = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


def _convert(
    body: dict[str, Any], *, single_type: str | None = None
) -> tuple[list[Event], list[Rejection]]:
    envelope = decode_envelope(json.dumps(body).encode(), single_type=single_type)
    return convert_messages(envelope, source="web", received_at=RECEIVED, single_type=single_type)


def _one(message: dict[str, Any], **envelope: Any) -> Event:
    events, rejections = _convert({"batch": [message], **envelope})
    assert rejections == [], [r.describe() for r in rejections]
    return events[0]


def _rejection(message: dict[str, Any]) -> Rejection:
    events, rejections = _convert({"batch": [message]})
    assert events == []
    return rejections[0]


def test_skew_correction_uses_sent_at_of_the_message_or_batch() -> None:
    """timestamp = receivedAt - (sentAt - timestamp), from the message's or the batch's sentAt."""
    client_now = datetime(2020, 1, 1, 8, 0, tzinfo=UTC)
    message = {
        "type": "track",
        "event": "E",
        "anonymousId": "a",
        "timestamp": (client_now - timedelta(seconds=5)).isoformat(),
    }
    from_batch = _one(message, sentAt=client_now.isoformat())
    assert from_batch.timestamp == RECEIVED - timedelta(seconds=5)
    assert from_batch.original_timestamp == client_now - timedelta(seconds=5)
    own = _one(dict(message, sentAt=(client_now + timedelta(seconds=1)).isoformat()))
    assert own.timestamp == RECEIVED - timedelta(seconds=6)


def test_without_sent_at_the_timestamp_is_kept_and_without_timestamp_it_is_arrival() -> None:
    """No sentAt: the client's timestamp stands; no timestamp: event time is the arrival time."""
    stamped = _one(
        {"type": "track", "event": "E", "anonymousId": "a", "timestamp": "2026-03-02T11:00:00"}
    )
    assert stamped.timestamp == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    bare = _one({"type": "track", "event": "E", "anonymousId": "a"})
    assert bare.timestamp == bare.received_at == RECEIVED


def test_utm_from_the_page_url() -> None:
    """utm_* parameters of context.page.url fill context.campaign with Segment's names."""
    event = _one(
        {
            "type": "page",
            "anonymousId": "a",
            "context": {
                "page": {"url": "https://x.be/?utm_source=fb&utm_medium=cpc&utm_campaign=noon"}
            },
        }
    )
    assert event.context["campaign"] == {"source": "fb", "medium": "cpc", "name": "noon"}


def test_context_campaign_wins_over_the_url() -> None:
    """A campaign the client already sent in context.campaign is not overwritten by the URL."""
    event = _one(
        {
            "type": "page",
            "anonymousId": "a",
            "context": {
                "campaign": {"utm_source": "newsletter", "name": "spring"},
                "page": {"url": "https://x.be/?utm_source=fb&utm_campaign=noon&utm_term=salad"},
            },
        }
    )
    assert event.context["campaign"] == {"source": "newsletter", "name": "spring", "term": "salad"}


def test_batch_context_is_merged_under_the_message_context() -> None:
    """The batch's context reaches every message; the message's own keys win."""
    event = _one(
        {"type": "track", "event": "E", "anonymousId": "a", "context": {"ip": "198.51.100.1"}},
        context={"ip": "203.0.113.1", "library": {"name": "analytics-python"}},
    )
    assert event.context == {"ip": "198.51.100.1", "library": {"name": "analytics-python"}}


def test_unknown_fields_integrations_and_category_are_kept() -> None:
    """Fields Vigie does not know are kept in `extra`, not dropped."""
    event = _one(
        {
            "type": "page",
            "anonymousId": "a",
            "category": "Docs",
            "integrations": {"All": False},
            "version": 2,
            "_metadata": {"bundled": ["x"]},
        }
    )
    assert event.extra == {
        "version": 2,
        "_metadata": {"bundled": ["x"]},
        "integrations": {"All": False},
        "category": "Docs",
    }


def test_numeric_ids_become_strings_and_missing_message_id_is_generated() -> None:
    """Numeric userId/anonymousId are stored as strings; a message without messageId gets one."""
    event = _one({"type": "identify", "userId": 42, "anonymousId": 7})
    assert (event.user_id, event.anonymous_id) == ("42", "7")
    assert len(event.message_id) == 36


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "track", "anonymousId": "a"}, "event"),
        ({"type": "track", "event": "E"}, "userId"),
        ({"type": "identify"}, "userId"),
        ({"type": "page"}, "userId"),
        ({"type": "screen", "name": "Cart"}, "userId"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "alias", "previousId": "a"}, "userId"),
        ({"type": "sensor", "count": 3}, "site"),
        ({"event": "E", "anonymousId": "a"}, "type"),
        ({"type": "teleport", "anonymousId": "a"}, "type"),
        ({"type": "track", "event": "E", "anonymousId": "a", "properties": []}, "properties"),
        (
            {"type": "track", "event": "E", "anonymousId": "a", "timestamp": "yesterday"},
            "timestamp",
        ),
    ],
)
def test_required_and_typed_fields_per_type(message: dict[str, Any], field: str) -> None:
    """Each message type's required fields are checked, and the rejection names the field."""
    rejection = _rejection(dict(message, messageId="bad-1"))
    assert rejection.field == field
    assert rejection.reason
    assert rejection.index == 0


def test_one_bad_message_does_not_sink_its_batch() -> None:
    """Good messages of a batch are converted; the bad one is rejected with index and payload."""
    events, rejections = _convert(
        {
            "batch": [
                {"type": "track", "event": "A", "anonymousId": "a"},
                "not an object",
                {"type": "track", "event": "B", "anonymousId": "a"},
            ]
        }
    )
    assert [e.event for e in events] == ["A", "B"]
    assert [(r.index, r.reason) for r in rejections] == [(1, "message must be a JSON object")]
    assert rejections[0].payload == b'"not an object"'


@pytest.mark.parametrize("kind", ["track", "identify", "page", "screen", "group", "alias"])
def test_single_calls_take_their_type_from_the_endpoint(kind: str) -> None:
    """A /v1/<type> body is one message whose type is the endpoint's, whatever it says."""
    body = {
        "type": "ignored",
        "event": "E",
        "userId": "u",
        "groupId": "g",
        "previousId": "p",
        "writeKey": "k",
    }
    events, rejections = _convert(body, single_type=kind)
    assert rejections == []
    assert events[0].type == kind
    assert decode_envelope(json.dumps(body).encode(), single_type=kind).write_key == "k"


def test_envelope_errors() -> None:
    """A body that is not JSON, has no batch or is too large is refused whole with its status."""
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_envelope(b"{nope")
    with pytest.raises(PayloadError) as missing:
        decode_envelope(b'{"sentAt": null}')
    assert missing.value.field == "batch"
    with pytest.raises(PayloadError) as wrong:
        decode_envelope(b'{"batch": {}}')
    assert wrong.value.field == "batch"
    with pytest.raises(PayloadError) as large:
        decode_envelope(b" " * (MAX_BATCH_BYTES + 1))
    assert large.value.status == 413


def test_oversized_message_is_rejected_alone() -> None:
    """A message over 32 KB is rejected; the reason states the limit."""
    big = {
        "type": "track",
        "event": "E",
        "anonymousId": "a",
        "properties": {"x": "y" * MAX_MESSAGE_BYTES},
    }
    rejection = _rejection(big)
    assert f"{MAX_MESSAGE_BYTES}-byte limit" in rejection.reason


def test_a_single_call_body_must_be_an_object() -> None:
    """A /v1/track body that is valid JSON but not an object says so, not 'not valid JSON'."""
    with pytest.raises(PayloadError, match="must be a JSON object"):
        decode_envelope(b"[1, 2]", single_type="track")


@pytest.mark.parametrize("field", ["messageId", "anonymousId", "userId", "event"])
def test_ids_longer_than_the_log_columns_are_rejected(field: str) -> None:
    """An id or event name over 200 characters is rejected by name, not failed in the store."""
    message = {"type": "track", "event": "E", "anonymousId": "a", "userId": "u", field: "x" * 201}
    rejection = _rejection(message)
    assert rejection.field == field
    assert "200-character limit" in rejection.reason


@pytest.mark.parametrize(
    ("timestamp", "sent_at", "reason"),
    [
        ("9999-12-31T23:59:59Z", None, "ahead"),
        ("0001-01-01T00:00:00Z", None, "before"),
        ("9999-12-31T23:59:59-01:00", None, "ahead"),
        ("0001-01-01T00:00:00+02:00", None, "before"),
        ("2026-03-03T12:00:31Z", None, "ahead"),
        ("1999-12-31T23:59:59Z", None, "before"),
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "ahead"),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "before"),
        ("2026-03-02T12:00:00Z", "0001-01-01T00:00:00Z", "ahead"),
        ("2026-03-02T12:00:00Z", "9999-12-31T23:59:59Z", "before"),
    ],
)
def test_a_timestamp_out_of_bounds_is_replaced_by_received_at(
    timestamp: str, sent_at: str | None, reason: str
) -> None:
    """Issue 14: a time far ahead or before 2000 (also after skew correction) becomes
    receivedAt, flagged in context.timestamp_replaced, with what the client sent kept (at the
    calendar's edge when it lies beyond it in UTC)."""
    message = {"type": "track", "event": "E", "anonymousId": "a", "timestamp": timestamp}
    if sent_at is not None:
        message["sentAt"] = sent_at
    event = _one(message)
    assert event.timestamp == RECEIVED
    assert event.context["timestamp_replaced"] == reason
    sent = datetime.fromisoformat(timestamp)
    if sent.year in (1, 9999) and sent.utcoffset():
        # Beyond the calendar once in UTC, as the log stores it: its first or last instant.
        sent = (datetime.min if sent.year == 1 else datetime.max).replace(tzinfo=UTC)
    assert event.original_timestamp == sent


def test_a_timestamp_within_bounds_is_not_flagged() -> None:
    """Up to a day ahead of receivedAt, and back to 2000-01-01, the client's time stands."""
    for stamp in ("2026-03-03T12:00:29Z", "2000-01-01T00:00:00Z"):
        event = _one({"type": "track", "event": "E", "anonymousId": "a", "timestamp": stamp})
        assert event.timestamp == datetime.fromisoformat(stamp)
        assert "timestamp_replaced" not in event.context


def test_the_bounds_are_configurable() -> None:
    """Narrower bounds replace what the defaults let through."""
    stamp = "2026-03-02T12:10:30Z"
    message = {"type": "track", "event": "E", "anonymousId": "a", "timestamp": stamp}
    envelope = decode_envelope(json.dumps({"batch": [message]}).encode())
    bounds = TimestampBounds(
        earliest=datetime(2026, 1, 1, tzinfo=UTC), max_ahead=timedelta(minutes=5)
    )
    events, _ = convert_messages(envelope, source="web", received_at=RECEIVED, bounds=bounds)
    assert events[0].timestamp == RECEIVED
    assert events[0].context["timestamp_replaced"] == "ahead"


def test_a_message_nested_too_deep_is_rejected_alone() -> None:
    """Issue 14: a message nested past MAX_DEPTH is rejected alone with its reason; a body past
    the decoder's own limit is a 400, never a server error."""
    deep: Any = {}
    for _ in range(MAX_DEPTH + 1):
        deep = {"x": deep}
    ok = {"type": "track", "event": "E", "anonymousId": "a", "properties": {"a": [[1]]}}
    body = {"batch": [ok, {**ok, "properties": deep}]}
    events, rejections = _convert(body)
    assert len(events) == 1
    assert [r.index for r in rejections] == [1]
    assert "nested" in rejections[0].reason
    abyss = b'{"batch": [{"type": "track", "p": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    for single_type in (None, "track"):
        with pytest.raises(PayloadError, match="nested too deep"):
            decode_envelope(abyss, single_type=single_type)


@pytest.mark.parametrize("field", ["messageId", "anonymousId", "userId", "event"])
def test_a_nul_character_in_an_indexed_field_is_rejected(field: str) -> None:
    """Issue 14: PostgreSQL cannot store NUL in text, so ids and event names carrying one are
    refused at the door, naming the field; NUL elsewhere (properties) is kept."""
    message = {"type": "track", "event": "E", "anonymousId": "a", "messageId": "m"}
    assert _rejection({**message, field: "a\x00b"}).field == field
    kept = _one({**message, "properties": {"note": "a\x00b"}})
    assert kept.properties == {"note": "a\x00b"}
