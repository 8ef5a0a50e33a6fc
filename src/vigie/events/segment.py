"""Converters from the Segment HTTP Tracking API (and the libraries that speak it) to `Event`.

Real clients send a batch envelope (`batch`, `sentAt`, `context`, `writeKey`) or single
calls (`/v1/track` …). Each message is validated on its own, so one bad message is
rejected with its field and reason while the good ones of the same batch go through.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from vigie.events.event import Event, Rejection

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_CHARS = 200  # the width of the log's indexed columns
MAX_DEPTH = 64  # objects and arrays within each other: deeper would exhaust a reader's stack
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
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer the log's MessagePack can store: JSON allows any size."""


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
    count: Int64 | None = None


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


class TimestampBounds(msgspec.Struct, frozen=True, kw_only=True):
    """The event times taken as sent: from `earliest` to `max_ahead` after `receivedAt`.

    As Segment does, a clock-skew corrected time outside them (a device whose clock is
    years off, `9999-12-31`, an absurd `sentAt`) is replaced by `receivedAt`: the event
    keeps what the client sent in `original_timestamp` and `sent_at`, and says why in
    `context.timestamp_replaced` (`"ahead"` or `"before"`). Every time a processor sees is
    then one it can add windows and days to without leaving the calendar.
    """

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_ahead: timedelta = timedelta(days=1)


DEFAULT_BOUNDS = TimestampBounds()
TIMESTAMP_REPLACED = "timestamp_replaced"
"""The key of `context` that flags an event whose timestamp was replaced by `receivedAt`."""


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
        except RecursionError:
            raise PayloadError(f"body is nested too deep; at most {MAX_DEPTH} levels") from None
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
    except RecursionError:
        raise PayloadError(f"body is nested too deep; at most {MAX_DEPTH} levels") from None
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
    bounds: TimestampBounds = DEFAULT_BOUNDS,
) -> tuple[list[Event], list[Rejection]]:
    """Turn each raw message into an `Event`, or a `Rejection` that names the field and reason.

    Event times outside `bounds` are replaced by `received_at` (see `TimestampBounds`).
    """
    try:
        window = (bounds.earliest, received_at + bounds.max_ahead)
    except OverflowError:
        window = (bounds.earliest, datetime.max.replace(tzinfo=UTC))
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
            try:
                if strict:
                    try:
                        msg: _Message = _strict_decoder.decode(raw)
                    except msgspec.DecodeError as exc:
                        strict = "unknown field" not in str(exc)
                        msg, data = _decode_loose(raw)
                else:
                    msg, data = _decode_loose(raw)
            except RecursionError:
                raise _Invalid(f"nested too deep; at most {MAX_DEPTH} levels") from None
            # Counting brackets is cheap; only a message with many is measured.
            if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
                _check_depth(msg if data is None else data)
            event = _convert_one(msg, data, source, received_at, envelope, single_type, window)
            if (
                "\x00" in event.message_id
                or (event.anonymous_id is not None and "\x00" in event.anonymous_id)
                or (event.user_id is not None and "\x00" in event.user_id)
                or (event.event is not None and "\x00" in event.event)
            ):
                _refuse_nul(msg)
            append(event)
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
    window: tuple[datetime, datetime],
) -> Event:
    """One decoded message to an `Event` (`data`: the message as a dict, when it was decoded so).

    `window`: the earliest and latest event times taken as sent. The per-event cost of every
    ingest request, so kept lean.
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
    if timestamp is not None:
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        elif timestamp.year in _EDGE_YEARS:
            timestamp = _representable(timestamp)
    sent_at = msg.sent_at
    if sent_at is None:
        sent_at = envelope.sent_at
    elif sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    elif sent_at.year in _EDGE_YEARS:
        sent_at = _representable(sent_at)
    if timestamp is None:
        event_time = received_at
    else:
        replaced = None
        try:
            event_time = timestamp if sent_at is None else received_at - (sent_at - timestamp)
            if event_time < window[0]:
                replaced = "before"
            elif event_time > window[1]:
                replaced = "ahead"
        except OverflowError:  # the skew correction left the calendar
            replaced = "ahead" if sent_at is not None and sent_at < timestamp else "before"
        if replaced is not None:
            context[TIMESTAMP_REPLACED] = replaced
            event_time = received_at

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


def _check_depth(message: _Message | dict[str, Any]) -> None:
    """Refuse a message whose objects and arrays nest deeper than `MAX_DEPTH`: every reader
    of the log (the processors, the API) would have to recurse as deep."""
    if isinstance(message, _Message):
        message = msgspec.structs.asdict(message)
    stack: list[tuple[Any, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Invalid(f"nested over {MAX_DEPTH} levels deep; flatten the properties")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def _refuse_nul(msg: _Message) -> None:
    """Refuse NUL characters in what the log indexes: PostgreSQL cannot store them in text."""
    message_id = _text(msg.message_id)
    for field, value in (
        ("messageId", message_id),
        ("anonymousId", _id(msg.anonymous_id)),
        ("userId", _id(msg.user_id)),
        ("event", msg.event),
    ):
        if value is not None and "\x00" in value:
            raise _Invalid(
                "contains a NUL character (\\u0000), which cannot be stored",
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
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return _representable(moment) if moment.year in _EDGE_YEARS else moment


_EDGE_YEARS = frozenset({1, 9999})


def _representable(moment: datetime) -> datetime:
    """`moment`, or the first or last instant of the calendar when it lies beyond it in UTC
    (`0001-01-01T00:00:00+02:00`): the log stores times in UTC."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)
    return moment


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
