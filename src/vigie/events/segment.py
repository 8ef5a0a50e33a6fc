"""Converters from the Segment HTTP Tracking API (and the libraries that speak it) to `Event`.

Real clients send a batch envelope (`batch`, `sentAt`, `context`, `writeKey`) or single
calls (`/v1/track` …). Each message is validated on its own, so one bad message is
rejected with its field and reason while the good ones of the same batch go through.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from vigie.events.event import Event, Rejection

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_CHARS = 200  # the width of the log's indexed columns
SEGMENT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias", "sensor"})

UTM_KEYS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
    "utm_id": "id",
}

Id = str | int


class _Message(msgspec.Struct, rename="camel"):
    type: str | None = None
    message_id: Id | None = None
    anonymous_id: Id | None = None
    user_id: Id | None = None
    group_id: Id | None = None
    previous_id: Id | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    timestamp: datetime | None = None
    sent_at: datetime | None = None
    write_key: str | None = None
    site: str | None = None
    zone: str | None = None
    aisle: str | None = None
    epc: str | None = None
    count: int | None = None


class _StrictMessage(_Message, forbid_unknown_fields=True):
    """`_Message` refusing unknown fields: decoding into it fails when there is extra to keep."""


KNOWN_KEYS = frozenset(
    {
        "type", "messageId", "anonymousId", "userId", "groupId", "previousId", "event",
        "name", "category", "properties", "traits", "context", "integrations", "timestamp",
        "sentAt", "writeKey", "site", "zone", "aisle", "epc", "count",
    }
)  # fmt: skip
"""The message fields Segment's spec names; any other field is kept in `Event.extra`."""


class _Envelope(msgspec.Struct, rename="camel"):
    batch: list[msgspec.Raw] | None = None
    sent_at: datetime | None = None
    context: dict[str, Any] | None = None
    write_key: str | None = None


class PayloadError(ValueError):
    """The request as a whole cannot be read (not JSON, not an object, too large)."""

    def __init__(self, reason: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.status = status


class Envelope(msgspec.Struct, kw_only=True):
    """A decoded request: its messages still raw, plus what applies to all of them."""

    messages: list[bytes]
    sent_at: datetime | None
    context: dict[str, Any]
    write_key: str | None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_dict_decoder = msgspec.json.Decoder(dict[str, Any])
_strict_decoder = msgspec.json.Decoder(_StrictMessage)


def decode_envelope(body: bytes, *, single_type: str | None = None) -> Envelope:
    """Read a request body: a `/v1/batch` envelope, or one message when `single_type` is set."""
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadError(
            f"request body is {len(body)} bytes, over the {MAX_BATCH_BYTES}-byte batch limit",
            status=413,
        )
    if single_type is not None:
        # msgspec.ValidationError is a DecodeError: catch the narrower one first.
        try:
            head = _dict_decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise PayloadError("body must be a JSON object") from exc
        except msgspec.DecodeError as exc:
            raise PayloadError(f"body is not valid JSON: {exc}") from exc
        write_key = head.get("writeKey")
        return Envelope(
            messages=[body],
            sent_at=None,
            context={},
            write_key=write_key if isinstance(write_key, str) else None,
        )
    try:
        env = _envelope_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise PayloadError(_describe(exc), field=_field_of(exc)) from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if env.batch is None:
        raise PayloadError("missing required field", field="batch")
    sent_at = _aware(env.sent_at) if env.sent_at else None
    return Envelope(
        messages=[bytes(raw) for raw in env.batch],
        sent_at=sent_at,
        context=env.context or {},
        write_key=env.write_key,
    )


def convert_messages(
    envelope: Envelope,
    *,
    source: str,
    received_at: datetime,
    single_type: str | None = None,
) -> tuple[list[Event], list[Rejection]]:
    """Turn each raw message into an `Event`, or a `Rejection` that names the field and reason."""
    events: list[Event] = []
    rejections: list[Rejection] = []
    append = events.append
    strict = True
    for index, raw in enumerate(envelope.messages):
        try:
            if len(raw) > MAX_MESSAGE_BYTES:
                raise _Invalid(
                    f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
                )
            # Fast path: a message with only known fields decodes straight into `_Message`.
            # Anything else (unknown fields to keep, or an error to explain) goes through a
            # dict. A client sends the same fields in every message (analytics.js adds
            # `_metadata`), so once one message of the batch has unknown fields the rest go
            # through the dict at once, rather than each failing the strict decoding first.
            data: dict[str, Any] | None = None
            if strict:
                try:
                    msg: _Message = _strict_decoder.decode(raw)
                except msgspec.DecodeError as exc:
                    strict = "unknown field" not in str(exc)
                    msg, data = _decode_loose(raw)
            else:
                msg, data = _decode_loose(raw)
            append(_convert_one(msg, data, source, received_at, envelope, single_type))
        except _Invalid as bad:
            rejections.append(
                Rejection(
                    reason=bad.reason,
                    field=bad.field,
                    index=None if single_type else index,
                    message_id=bad.message_id,
                    payload=raw,
                )
            )
    return events, rejections


class _Invalid(Exception):
    def __init__(self, reason: str, field: str | None = None, message_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.message_id = message_id


def _convert_one(
    msg: _Message,
    data: dict[str, Any] | None,
    source: str,
    received_at: datetime,
    envelope: Envelope,
    single_type: str | None,
) -> Event:
    """One decoded message to an `Event` (`data`: the message as a dict, when it was decoded so).

    The per-event cost of every ingest request, so kept lean.
    """
    kind = single_type or msg.type
    message_id = _text(msg.message_id)
    if kind not in SEGMENT_TYPES:
        if kind is None:
            raise _Invalid("missing required field", "type", message_id)
        allowed = ", ".join(sorted(SEGMENT_TYPES))
        raise _Invalid(f"unknown type {kind!r}; expected one of {allowed}", "type", message_id)
    anonymous_id = _id(msg.anonymous_id)
    user_id = _id(msg.user_id)
    _check_required(kind, msg, anonymous_id, user_id, message_id)
    if (
        (message_id is not None and len(message_id) > MAX_ID_CHARS)
        or (anonymous_id is not None and len(anonymous_id) > MAX_ID_CHARS)
        or (user_id is not None and len(user_id) > MAX_ID_CHARS)
        or (msg.event is not None and len(msg.event) > MAX_ID_CHARS)
    ):
        _refuse_long_ids(message_id, anonymous_id, user_id, msg.event)

    # The message's own context was decoded for it alone, so it can be kept rather than copied
    # when the envelope adds nothing.
    if envelope.context:
        context = dict(envelope.context)
        if msg.context:
            context.update(msg.context)
    else:
        context = msg.context if msg.context is not None else {}
    properties = msg.properties or {}
    _normalise_campaign(context, properties)

    timestamp = msg.timestamp
    if timestamp is not None and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    sent_at = msg.sent_at
    if sent_at is None:
        sent_at = envelope.sent_at
    elif sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    if timestamp is None:
        event_time = received_at
    elif sent_at is not None:
        event_time = received_at - (sent_at - timestamp)
    else:
        event_time = timestamp

    extra = {} if data is None else {k: v for k, v in data.items() if k not in KNOWN_KEYS}
    if msg.integrations:
        extra["integrations"] = msg.integrations
    if msg.category is not None:
        extra["category"] = msg.category
    event = Event(
        message_id=message_id or str(uuid.uuid4()),
        type=kind,
        source=source,
        timestamp=event_time,
        received_at=received_at,
        event=msg.event,
        name=msg.name,
        anonymous_id=anonymous_id,
        user_id=user_id,
        properties=properties,
        traits=msg.traits or {},
        context=context,
        sent_at=sent_at,
        original_timestamp=timestamp,
        extra=extra,
    )
    # Fields most messages lack are set only when present: each keyword costs at creation.
    if (
        msg.group_id is not None
        or msg.previous_id is not None
        or msg.site is not None
        or msg.zone is not None
        or msg.aisle is not None
        or msg.epc is not None
        or msg.count is not None
    ):
        event.group_id = _id(msg.group_id)
        event.previous_id = _id(msg.previous_id)
        event.site = msg.site
        event.zone = msg.zone
        event.aisle = msg.aisle
        event.epc = msg.epc
        event.count = msg.count
    return event


def _refuse_long_ids(
    message_id: str | None, anonymous_id: str | None, user_id: str | None, event: str | None
) -> None:
    """Reject the first identifier over the indexed columns' width, naming it."""
    for field, value in (
        ("messageId", message_id),
        ("anonymousId", anonymous_id),
        ("userId", user_id),
        ("event", event),
    ):
        if value is not None and len(value) > MAX_ID_CHARS:
            raise _Invalid(
                f"{len(value)} characters, over the {MAX_ID_CHARS}-character limit",
                field,
                message_id if field != "messageId" else None,
            )


def _decode_loose(raw: bytes) -> tuple[_Message, dict[str, Any]]:
    """Decode through a dict, to keep unknown fields and to name the field at fault."""
    try:
        data = _dict_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _Invalid("message must be a JSON object") from exc
    except msgspec.DecodeError as exc:
        raise _Invalid(f"message is not valid JSON: {exc}") from exc
    try:
        return msgspec.convert(data, _Message), data
    except msgspec.ValidationError as exc:
        message_id = data.get("messageId")
        raise _Invalid(
            _describe(exc),
            _field_of(exc),
            str(message_id) if isinstance(message_id, str | int) else None,
        ) from exc


def _check_required(
    kind: str, msg: _Message, anonymous_id: str | None, user_id: str | None, message_id: str | None
) -> None:
    if kind == "track" and not msg.event:
        raise _Invalid(
            "missing required field (the name of the tracked event)", "event", message_id
        )
    if kind == "alias":
        if msg.previous_id is None or msg.previous_id == "":
            raise _Invalid("missing required field", "previousId", message_id)
        if not user_id:
            raise _Invalid("missing required field", "userId", message_id)
        return
    if kind == "group" and (msg.group_id is None or msg.group_id == ""):
        raise _Invalid("missing required field", "groupId", message_id)
    if kind == "sensor":
        if not msg.site:
            raise _Invalid("missing required field (the site the sensor is in)", "site", message_id)
        return
    if not anonymous_id and not user_id:
        raise _Invalid("either userId or anonymousId is required", "userId", message_id)


def _normalise_campaign(context: dict[str, Any], properties: dict[str, Any]) -> None:
    """Fill `context.campaign` from UTM parameters of the page URL where the client did not."""
    found = context.get("campaign")
    page = context.get("page")
    url = None
    if isinstance(page, dict):
        url = page.get("url") or page.get("search")
    if not url:
        url = properties.get("url") or properties.get("search")
    from_url = isinstance(url, str) and "utm_" in url
    # Only the keys of UTM_KEYS are renamed: with none of them, there is nothing to change.
    raw_keys = isinstance(found, dict) and not found.keys().isdisjoint(UTM_KEYS)
    if not from_url and not raw_keys:
        return  # the common case: nothing to rename, nothing to parse
    campaign = dict(found) if isinstance(found, dict) else {}
    # Some clients send raw utm_* keys inside context.campaign.
    for utm, key in UTM_KEYS.items():
        if utm in campaign and key not in campaign:
            campaign[key] = campaign.pop(utm)
    if from_url:
        assert isinstance(url, str)
        query = urlsplit(url).query if "?" in url or "://" in url else url.lstrip("?")
        for utm, values in parse_qs(query or "").items():
            name = UTM_KEYS.get(utm)
            if name and name not in campaign and values:
                campaign[name] = values[0]
    if campaign:
        context["campaign"] = campaign


def _text(value: Id | None) -> str | None:
    """An id as text, as the client sent it (a number becomes its decimal digits)."""
    if value is None or value.__class__ is str:
        return value
    return str(value)


def _id(value: Id | None) -> str | None:
    """An id as text, or None when absent or empty."""
    if value.__class__ is str:
        return value or None
    return None if value is None else str(value) or None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _describe(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    return text.split(" - at `", 1)[0]


def _field_of(exc: msgspec.ValidationError) -> str | None:
    """The field a msgspec error points at, as the client named it (`$.a.b` -> `a.b`)."""
    text = str(exc)
    if " - at `$" in text:
        path = text.split(" - at `$", 1)[1].rstrip("`")
        return path.lstrip(".") or None
    if "Object missing required field `" in text:
        return text.split("`")[1]
    return None
