"""The stored form of an event: MessagePack, readable back whole; JSON bodies still read."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from vigie.events import Event
from vigie.events.event import decode_event, decode_events, encode_event

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class _Names(msgspec.Struct, kw_only=True):
    """A processor's view of an event: three of its fields, `offset` included."""

    event: str | None = None
    anonymous_id: str | None = None
    offset: int | None = None


def _event() -> Event:
    return Event(
        message_id="m1",
        type="track",
        source="web",
        event="Order Completed",
        anonymous_id="a1",
        timestamp=datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC),
        received_at=datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC),
        properties={"total": 19.9, "items": [{"sku": "sku-wrap", "qty": 2}], "gift": None},
        context={"campaign": {"name": "lunch-deal"}, "page": {"url": "https://x.be/"}},
        extra={"version": 2},
    )


def test_round_trip_keeps_every_field() -> None:
    """encode then decode gives back an equal event, time zones included."""
    event = _event()
    back = decode_event(encode_event(event))
    assert back == event
    assert back.timestamp.tzinfo is not None


def test_stored_bytes_are_msgpack_and_smaller_than_json() -> None:
    """The body is MessagePack, which is smaller than the same event in JSON."""
    event = _event()
    body = encode_event(event)
    assert msgspec.msgpack.decode(body)["event"] == "Order Completed"
    assert len(body) < len(msgspec.json.encode(event))


def test_json_bodies_are_still_read() -> None:
    """A body stored as JSON (before MessagePack) decodes to the same event."""
    event = _event()
    assert decode_event(msgspec.json.encode(event)) == event


def test_decode_events_matches_decode_event_on_mixed_bodies() -> None:
    """Many bodies decode at once as one by one would, a JSON body among them included."""
    events = [_event(), msgspec.structs.replace(_event(), message_id="m2", properties={})]
    msgpack_only = [encode_event(e) for e in events]
    mixed = [msgpack_only[0], msgspec.json.encode(events[1])]
    assert decode_events(msgpack_only) == [decode_event(b) for b in msgpack_only] == events
    assert decode_events(mixed) == [decode_event(b) for b in mixed] == events
    assert decode_events([]) == []


def test_a_shape_decodes_only_its_fields_from_either_format() -> None:
    """Decoding as a Struct of some of Event's fields gives those fields, the rest skipped."""
    events = [_event(), msgspec.structs.replace(_event(), event=None, anonymous_id="a2")]
    stored = [encode_event(events[0]), msgspec.json.encode(events[1])]
    expected = [_Names(event="Order Completed", anonymous_id="a1"), _Names(anonymous_id="a2")]
    assert [decode_event(body, _Names) for body in stored] == expected
    assert decode_events(stored, _Names) == expected
    assert decode_events(stored[:1], _Names) == expected[:1]
    assert decode_events(stored) == events


def test_integers_beyond_64_bits_are_stored_as_floats() -> None:
    """Issue 14: JSON allows 10**30, MessagePack does not; such a number is kept as the float
    a JavaScript client would see, wherever it is nested, and the event still encodes."""
    event = Event(
        message_id="m",
        type="track",
        source="web",
        timestamp=T0,
        received_at=T0,
        properties={"big": 10**30, "small": -(2**70), "ok": 2**63, "deep": [{"n": 10**400}]},
    )
    back = decode_event(encode_event(event))
    assert back.properties["big"] == 1e30
    assert back.properties["small"] == -float(2**70)
    assert back.properties["ok"] == 2**63
    assert back.properties["deep"] == [{"n": str(10**400)}]
