"""Converters from PostHog's capture API (posthog-js, posthog-python, the raw API) to `Event`.

A request body is a batch (`{"api_key", "batch": [...], "sent_at"}`), a bare array of
events (older posthog-js) or one event, as JSON, as base64 in a form field (`data=…`,
`compression=base64`) or gzipped (posthog-js sends gzip as `text/plain` with no
`Content-Encoding`; the edge inflates it before it gets here). The project key is
`api_key` or `token`, in the body or in the first event's properties.

Each PostHog event becomes the Segment message it means and goes through Segment's
converter, so the two wire formats share one set of rules (required fields, id widths,
clock-skew correction, UTM campaigns):

- `$pageview` is a page, `$screen` a screen, `$identify`/`$set`/`$set_once` an identify,
  `$create_alias` an alias, `$groupidentify` a group; any other event is a track;
- `$set` (top level or in the properties) becomes the traits;
- `distinct_id` is the user id when PostHog says the person is identified (`$identify`,
  `$is_identified`, a server library), else the anonymous id; `$anon_distinct_id` and
  `$device_id` give the anonymous id an identified event came from; an alias goes from
  `distinct_id` (the previous id) to `properties.alias`;
- `uuid` is the message id the log deduplicates by.

A rejection names PostHog's field (`distinct_id`, `uuid`, …) and keeps the event as sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from vigie.events.event import Event, Rejection
from vigie.events.segment import (
    DEFAULT_BOUNDS,
    KNOWN_KEYS,
    MAX_BATCH_BYTES,
    Envelope,
    PayloadError,
    TimestampBounds,
    convert_messages,
)

KEY_FIELDS = ("api_key", "token", "$token")
"""Where PostHog clients put the project key, in the body or in an event's properties."""

_TYPES = {
    "$pageview": "page",
    "$screen": "screen",
    "$identify": "identify",
    "$set": "identify",
    "$set_once": "identify",
    "$create_alias": "alias",
    "$groupidentify": "group",
}
_MAPPED = frozenset(
    {"event", "distinct_id", "properties", "uuid", "timestamp", "sent_at", "offset", "$set",
     "api_key", "token", "$token", "type"}
)  # fmt: skip
_SEGMENT_TO_POSTHOG = {
    "messageId": "uuid",
    "anonymousId": "distinct_id",
    "userId": "distinct_id",
    "previousId": "distinct_id",
    "groupId": "properties.$group_key",
    "traits": "$set",
    "sentAt": "sent_at",
    "context": "properties",
}
_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode


class Capture(msgspec.Struct, kw_only=True):
    """A decoded capture request: its events still unchecked, and what applies to them all."""

    events: list[Any]
    api_key: str | None
    sent_at: datetime | None


def decode_capture(
    body: bytes, *, content_type: str | None = None, query: Mapping[str, str] | None = None
) -> Capture:
    """Read a capture request's (already inflated) body; `query`: its URL parameters."""
    query = query or {}
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadError(
            f"request body is {len(body)} bytes, over the {MAX_BATCH_BYTES}-byte batch limit",
            status=413,
        )
    compression = (query.get("compression") or "").lower()
    is_form = (content_type or "").lower().startswith("application/x-www-form-urlencoded")
    if is_form or body.startswith(b"data="):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "data" not in form:
            raise PayloadError("missing required form field", field="data")
        payload = form["data"][0].encode()
        compression = (form.get("compression", [""])[0] or compression).lower()
        if not compression and payload[:1] not in (b"{", b"["):
            compression = "base64"
    else:
        payload = body
    if compression == "lz64":
        raise PayloadError(
            "compression lz64 is not supported: send gzip-js, base64 or plain JSON",
            field="compression",
            status=415,
        )
    if compression == "base64":
        payload = _unbase64(payload)
    try:
        data = _decode_json(payload)
    except msgspec.DecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    return _capture(data, query)


def _unbase64(payload: bytes) -> bytes:
    # PostHog's own server is this lenient: a `+` turned into a space by form encoding, and
    # padding left out.
    try:
        return base64.b64decode(payload.replace(b" ", b"+") + b"===")
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"data is not valid base64: {exc}", field="data") from exc


def _capture(data: Any, query: Mapping[str, str]) -> Capture:
    """The events of a decoded body and its key: from the body, the query or the first event."""
    head: dict[str, Any] = {}
    if isinstance(data, dict) and "batch" in data:
        events = data["batch"]
        if not isinstance(events, list):
            raise PayloadError("Expected `array`", field="batch")
        head = data
    elif isinstance(data, list):
        events = data
    elif isinstance(data, dict):
        events = [data]
        head = data
    else:
        raise PayloadError("body must be a JSON object (an event or a batch) or an array")
    key = _key_in(head) or _key_in(query)
    if key is None and events and isinstance(events[0], dict):
        first = events[0]
        properties = first.get("properties")
        key = _key_in(first) or (_key_in(properties) if isinstance(properties, dict) else None)
    return Capture(events=events, api_key=key, sent_at=_sent_at(head, query))


def _key_in(where: Mapping[str, Any]) -> str | None:
    for name in KEY_FIELDS:
        value = where.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _sent_at(head: dict[str, Any], query: Mapping[str, str]) -> datetime | None:
    value = head.get("sent_at")
    if isinstance(value, str) and value:
        try:
            moment: datetime = msgspec.convert(value, datetime)
        except msgspec.ValidationError as exc:
            raise PayloadError(f"{exc}", field="sent_at") from exc
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    millis = query.get("sent_at") or query.get("_")
    if millis and millis.isdigit():
        try:
            return datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return None


def convert_capture(
    capture: Capture,
    *,
    source: str,
    received_at: datetime,
    bounds: TimestampBounds = DEFAULT_BOUNDS,
) -> tuple[list[Event], list[Rejection]]:
    """Turn each PostHog event into an `Event`, or a `Rejection` naming PostHog's field;
    event times outside `bounds` are replaced as for Segment's messages."""
    originals: list[bytes] = []
    positions: list[int] = []
    messages: list[bytes] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(capture.events):
        raw = _encode_json(item)
        try:
            message = _to_segment(item, received_at)
        except _Invalid as bad:
            uuid = item.get("uuid") if isinstance(item, dict) else None
            rejections.append(
                Rejection(
                    reason=bad.reason,
                    field=bad.field,
                    index=index,
                    message_id=uuid if isinstance(uuid, str) else None,
                    payload=raw,
                )
            )
            continue
        messages.append(_encode_json(message))
        originals.append(raw)
        positions.append(index)
    envelope = Envelope(messages=messages, sent_at=capture.sent_at, context={}, write_key=None)
    events, refused = convert_messages(
        envelope, source=source, received_at=received_at, bounds=bounds
    )
    for rejection in refused:
        at = rejection.index if rejection.index is not None else 0
        rejections.append(
            msgspec.structs.replace(
                rejection,
                field=_posthog_field(rejection.field),
                index=positions[at],
                payload=originals[at],
            )
        )
    rejections.sort(key=lambda r: r.index or 0)
    return events, rejections


class _Invalid(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _to_segment(item: Any, received_at: datetime) -> dict[str, Any]:
    """The Segment message a PostHog event means (see the module's docstring)."""
    if not isinstance(item, dict):
        raise _Invalid("event must be a JSON object")
    name = item.get("event")
    if name is None or name == "":
        raise _Invalid("missing required field (the name of the captured event)", "event")
    if not isinstance(name, str):
        raise _Invalid("Expected `str`", "event")
    properties = item.get("properties") or {}
    if not isinstance(properties, dict):
        raise _Invalid("Expected `object`", "properties")
    properties = {k: v for k, v in properties.items() if k not in KEY_FIELDS}
    distinct_id = item.get("distinct_id", properties.get("distinct_id"))
    if distinct_id is None or distinct_id == "":
        raise _Invalid("missing required field (who did it)", "distinct_id")
    if not isinstance(distinct_id, str | int) or isinstance(distinct_id, bool):
        raise _Invalid("Expected `str`", "distinct_id")
    distinct_id = str(distinct_id)

    traits = _traits(item, properties)
    kind = _TYPES.get(name, "track")
    message: dict[str, Any] = {
        k: v for k, v in item.items() if k not in _MAPPED and k not in KNOWN_KEYS
    }
    message.update(type=kind, properties=properties, context=_context(properties))
    if traits:
        message["traits"] = traits
    if kind == "track":
        message["event"] = name
    else:
        message["$event"] = name  # which PostHog call it was, kept in `Event.extra`
    for field, value in (("messageId", item.get("uuid")), ("timestamp", item.get("timestamp"))):
        if value is not None:
            message[field] = value
    if "sent_at" in item:
        message["sentAt"] = item["sent_at"]
    offset = item.get("offset")
    if "timestamp" not in item and isinstance(offset, int) and not isinstance(offset, bool):
        # Older clients say how long ago (ms) instead of when: an event time as of arrival.
        try:
            message["timestamp"] = (received_at - timedelta(milliseconds=offset)).isoformat()
        except OverflowError as exc:
            raise _Invalid("out of range", "offset") from exc
        message["sentAt"] = received_at.isoformat()
    _identify(message, name, distinct_id, properties)
    if kind == "page":
        page = message["context"].get("page", {})
        for key, value in page.items():
            properties.setdefault(key, value)
        if isinstance(page.get("title"), str):
            message["name"] = page["title"]
    elif kind == "screen" and isinstance(properties.get("$screen_name"), str):
        message["name"] = properties["$screen_name"]
    elif kind == "group":
        message["groupId"] = properties.get("$group_key")
        group_set = properties.get("$group_set")
        if isinstance(group_set, dict):
            message["traits"] = group_set
    return message


def _traits(item: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """`$set` from the properties (posthog-js) and the top level (posthog-python), merged."""
    traits: dict[str, Any] = {}
    for found in (properties.get("$set"), item.get("$set")):
        if isinstance(found, dict):
            traits.update(found)
        elif found is not None:
            raise _Invalid("Expected `object`", "$set")
    return traits


def _identify(message: dict[str, Any], name: str, distinct_id: str, props: dict[str, Any]) -> None:
    """Set the user and anonymous ids from `distinct_id`, as PostHog reads it."""
    device = props.get("$device_id")
    device = device if isinstance(device, str) and device and device != distinct_id else None
    if name == "$identify":
        anon = props.get("$anon_distinct_id")
        message["userId"] = distinct_id
        anonymous = anon if isinstance(anon, str) and anon else device
        if anonymous:
            message["anonymousId"] = anonymous
        return
    if name == "$create_alias":
        # Both clients send the id known so far as `distinct_id` and the new one as `alias`.
        alias = props.get("alias")
        if alias is None or alias == "":
            raise _Invalid("missing required field (the id to alias to)", "properties.alias")
        message["userId"] = str(alias)
        message["previousId"] = distinct_id
        return
    identified = props.get("$is_identified")
    if identified is None:
        # A server library or the raw API: PostHog counts such events as identified,
        # unless they say they are personless.
        personless = props.get("$process_person_profile") is False
        identified = not personless and props.get("$device_id") != distinct_id
    if identified:
        message["userId"] = distinct_id
        if device:
            message["anonymousId"] = device
    else:
        message["anonymousId"] = distinct_id


def _context(props: dict[str, Any]) -> dict[str, Any]:
    """Segment's context (page, user agent, library, ip) from PostHog's `$` properties."""
    context: dict[str, Any] = {}
    url = props.get("$current_url")
    page = {
        key: value
        for key, value in (
            ("url", url),
            ("path", props.get("$pathname")),
            ("referrer", props.get("$referrer")),
            ("title", props.get("title")),
            ("search", "?" + urlsplit(url).query if isinstance(url, str) and "?" in url else None),
        )
        if isinstance(value, str) and value and value != "$direct"
    }
    if page:
        context["page"] = page
    agent = props.get("$raw_user_agent") or props.get("$user_agent")
    if isinstance(agent, str):
        context["userAgent"] = agent
    if isinstance(props.get("$lib"), str):
        context["library"] = {"name": props["$lib"], "version": props.get("$lib_version")}
    if isinstance(props.get("$ip"), str):
        context["ip"] = props["$ip"]
    return context


def _posthog_field(field: str | None) -> str | None:
    """Segment's name of a field, as the PostHog client named it (`userId` -> `distinct_id`)."""
    if field is None:
        return None
    head, dot, rest = field.partition(".")
    mapped = _SEGMENT_TO_POSTHOG.get(head)
    if mapped is None:
        return field
    return mapped + dot + rest if rest and "." not in mapped else mapped
