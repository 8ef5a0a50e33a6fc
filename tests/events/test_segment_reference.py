"""The fast Segment converter gives exactly what the reference converter gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.events import segment_reference as reference
from vigie.events import segment
from vigie.events.event import Event

RECEIVED = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)

_ids = st.one_of(
    st.none(),
    st.sampled_from(["", "a", "user-1", "x" * 201]),
    st.integers(min_value=-5, max_value=10**6),
    st.text(max_size=5),
)
_times = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-03-02T12:00:00Z",
            "2026-03-02T12:00:10+02:00",
            "2026-03-02T11:59:00",
            "not a time",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+02:00",
            "9999-12-31T23:59:59-01:00",
            "1999-12-31T23:59:59Z",
            "2026-03-03T12:00:31Z",
        ]
    ),
)
_urls = st.sampled_from(
    [
        "https://shop.example.be/lunch",
        "https://shop.example.be/?utm_source=fb&utm_campaign=lunch&utm_medium=cpc",
        "?utm_term=soup&utm_content=b",
        "utm_id=7",
        "",
    ]
)
_campaigns = st.one_of(
    st.none(),
    st.sampled_from(
        [
            {"name": "lunch", "source": "facebook"},
            {"utm_source": "google", "utm_medium": "cpc", "name": "kept"},
            {"utm_other": "x"},
            {},
            "not a dict",
        ]
    ),
)


@st.composite
def _contexts(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    context: dict[str, Any] = {"ip": "203.0.113.7"}
    if draw(st.booleans()):
        context["page"] = {"url": draw(_urls)} if draw(st.booleans()) else {"search": draw(_urls)}
    campaign = draw(_campaigns)
    if campaign is not None:
        context["campaign"] = campaign
    return context


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {}
    kind = draw(st.sampled_from([*sorted(segment.SEGMENT_TYPES), None, "bogus", 3]))
    if kind is not None:
        message["type"] = kind
    for key in ("messageId", "anonymousId", "userId", "groupId", "previousId"):
        value = draw(_ids)
        if value is not None or draw(st.booleans()):
            message[key] = value
    for key in ("event", "name", "category", "site", "zone", "aisle", "epc"):
        if draw(st.booleans()):
            message[key] = draw(st.sampled_from(["Order Completed", "", "x" * 201, 5]))
    for key in ("timestamp", "sentAt"):
        value = draw(_times)
        if value is not None:
            message[key] = value
    context = draw(_contexts())
    if context is not None:
        message["context"] = context
    if draw(st.booleans()):
        message["properties"] = {"url": draw(_urls), "price": 9.5}
    if draw(st.booleans()):
        message["traits"] = {"plan": "pro"}
    if draw(st.booleans()):
        message["integrations"] = draw(st.sampled_from([{}, {"All": False}]))
    if draw(st.booleans()):
        message["count"] = draw(st.sampled_from([1, "2", None]))
    if draw(st.booleans()):
        message["shoeSize"] = 44  # an unknown field, kept in `extra`
    return message


@st.composite
def _bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"batch": draw(st.lists(_messages(), max_size=6))}
    sent_at = draw(st.sampled_from([None, "2026-03-02T12:00:20Z", "2026-03-02T12:00:20"]))
    if sent_at is not None:
        body["sentAt"] = sent_at
    if draw(st.booleans()):
        body["context"] = draw(_contexts()) or {}
    return body


def _comparable(events: list[Event], bodies: list[dict[str, Any]]) -> list[Any]:
    """Events as plain data; a message id the converter generated (random) is masked."""
    out = []
    for event, sent in zip(events, bodies, strict=True):
        data = msgspec.to_builtins(event)
        if not sent.get("messageId") and sent.get("messageId") != 0:
            data["message_id"] = "<generated>"
        out.append(data)
    return out


def _accepted(body: dict[str, Any], events: list[Event], rejected: set[int]) -> list[Any]:
    kept = [m for i, m in enumerate(body["batch"]) if i not in rejected]
    return _comparable(events, kept)


@settings(max_examples=300, deadline=None)
@given(_bodies(), st.sampled_from([None, "track", "identify"]))
def test_fast_converter_matches_reference(body: dict[str, Any], single_type: str | None) -> None:
    """On generated batches, the converter's events and rejections equal the reference's."""
    if single_type is not None:
        if not body["batch"]:
            return
        raw = json.dumps(body["batch"][0]).encode()
        body = {"batch": body["batch"][:1]}
    else:
        raw = json.dumps(body).encode()
    new_env = segment.decode_envelope(raw, single_type=single_type)
    old_env = reference.decode_envelope(raw, single_type=single_type)
    new_events, new_rejects = segment.convert_messages(
        new_env, source="web", received_at=RECEIVED, single_type=single_type
    )
    old_events, old_rejects = reference.convert_messages(
        old_env, source="web", received_at=RECEIVED, single_type=single_type
    )
    assert [msgspec.to_builtins(r) for r in new_rejects] == [
        msgspec.to_builtins(r) for r in old_rejects
    ]
    rejected = {r.index if r.index is not None else 0 for r in new_rejects}
    assert _accepted(body, new_events, rejected) == _accepted(body, old_events, rejected)


def test_batch_after_a_message_with_unknown_fields_matches_reference() -> None:
    """Messages after one with unknown fields (decoded through a dict) convert as before."""
    batch: list[dict[str, Any]] = [
        {"type": "track", "event": "A", "anonymousId": "a", "messageId": "1", "_metadata": {}},
        {"type": "identify", "userId": "u", "messageId": "2", "traits": {"plan": "pro"}},
        {"type": "track", "anonymousId": "a", "messageId": "3"},
        {"type": "page", "anonymousId": 7, "messageId": "4", "timestamp": "2026-03-02T12:00:00"},
        {"type": "group", "userId": "u", "messageId": "5", "groupId": 9, "shoeSize": 44},
    ]
    raw = json.dumps({"batch": batch, "sentAt": "2026-03-02T12:00:20Z"}).encode()
    new_events, new_rejects = segment.convert_messages(
        segment.decode_envelope(raw), source="web", received_at=RECEIVED
    )
    old_events, old_rejects = reference.convert_messages(
        reference.decode_envelope(raw), source="web", received_at=RECEIVED
    )
    assert [r.index for r in new_rejects] == [2]
    assert msgspec.to_builtins(new_rejects) == msgspec.to_builtins(old_rejects)
    assert msgspec.to_builtins(new_events) == msgspec.to_builtins(old_events)
    assert new_events[0].extra == {"_metadata": {}}
    assert new_events[1].extra == {}
