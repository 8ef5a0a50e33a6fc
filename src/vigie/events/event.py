"""The event: every interaction Vigie knows about, in one shape."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar, overload

import msgspec

EVENT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias", "sensor"})
NOTICE_TYPE = "notice"
"""The type of Vigie's own notices in the log (no visitor's, no sensor's): not one of
`EVENT_TYPES`, so no client can send one."""


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One interaction, as stored in the event log.

    `timestamp` is event time (clock-skew corrected), `received_at` the server's time of
    arrival. Fields Vigie does not know are kept in `extra` rather than dropped.

    Events are not tracked by Python's cyclic garbage collector (`gc=False`): an event never
    refers back to itself, and processors read them by the thousand, so tracking them only
    made each one slower to create and to free.
    """

    message_id: str
    type: str
    source: str
    timestamp: datetime
    received_at: datetime
    event: str | None = None
    name: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    context: dict[str, Any] = {}
    site: str | None = None
    zone: str | None = None
    aisle: str | None = None
    epc: str | None = None
    count: int | None = None
    sent_at: datetime | None = None
    original_timestamp: datetime | None = None
    extra: dict[str, Any] = {}
    offset: int | None = None


class Rejection(msgspec.Struct, kw_only=True):
    """Why one message was refused: the field at fault and the reason, with its raw payload."""

    reason: str
    field: str | None = None
    index: int | None = None
    message_id: str | None = None
    payload: bytes = b""

    def describe(self) -> dict[str, Any]:
        """The rejection as a client sees it in an HTTP response body."""
        out: dict[str, Any] = {"reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        if self.index is not None:
            out["index"] = self.index
        if self.message_id is not None:
            out["messageId"] = self.message_id
        return out


class Shape(Protocol):
    """What a stored event can be decoded as: `Event`, or a Struct holding some of its fields."""

    offset: int | None


ShapeT = TypeVar("ShapeT", bound=Shape)

_encoder = msgspec.msgpack.Encoder()
_decoders_by_shape: dict[
    type[Any], tuple[msgspec.msgpack.Decoder[Any], msgspec.json.Decoder[Any]]
] = {}


def _decoders(shape: type[Any]) -> tuple[msgspec.msgpack.Decoder[Any], msgspec.json.Decoder[Any]]:
    """The MessagePack and JSON decoders of `shape`, built once."""
    found = _decoders_by_shape.get(shape)
    if found is None:
        found = _decoders_by_shape[shape] = (
            msgspec.msgpack.Decoder(shape),
            msgspec.json.Decoder(shape),
        )
    return found


def encode_event(event: Event) -> bytes:
    """Serialise an event for storage or transport as MessagePack (smaller, faster than JSON).

    JSON allows integers of any size, MessagePack 64 bits: a larger one (`10**30` in the
    properties) is stored as a float, the number JavaScript, and so a Segment client, sees.
    """
    try:
        return _encoder.encode(event)
    except OverflowError:
        return _encoder.encode(
            msgspec.structs.replace(
                event,
                properties=_within_64_bits(event.properties),
                traits=_within_64_bits(event.traits),
                context=_within_64_bits(event.context),
                extra=_within_64_bits(event.extra),
            )
        )


def _within_64_bits(value: Any) -> Any:
    """`value` with every integer MessagePack cannot hold made a float (text past a float)."""
    if isinstance(value, dict):
        return {key: _within_64_bits(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_within_64_bits(item) for item in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        try:
            return float(value)
        except OverflowError:
            return str(value)
    return value


@overload
def decode_event(data: bytes) -> Event: ...
@overload
def decode_event(data: bytes, shape: type[ShapeT]) -> ShapeT: ...
def decode_event(data: bytes, shape: type[Any] = Event) -> Any:
    """Read back an event stored by `encode_event` (or as JSON, which starts with `{`).

    `shape` is `Event` or a Struct declaring some of its fields (same names, same types):
    only those are decoded, the others are skipped.
    """
    msgpack, json = _decoders(shape)
    if data[:1] == b"{":
        return json.decode(data)
    return msgpack.decode(data)


@overload
def decode_events(bodies: Iterable[bytes]) -> list[Event]: ...
@overload
def decode_events(bodies: Iterable[bytes], shape: type[ShapeT]) -> list[ShapeT]: ...
def decode_events(bodies: Iterable[bytes], shape: type[Any] = Event) -> list[Any]:
    """Read back many stored events at once, as `decode_event` does for one.

    The log's read path: MessagePack bodies are decoded without a per-body format check; a
    batch holding a JSON body (stored before MessagePack) is decoded body by body instead.
    """
    bodies = bodies if isinstance(bodies, list) else list(bodies)
    decode = _decoders(shape)[0].decode
    try:
        return [decode(body) for body in bodies]
    except msgspec.DecodeError:
        return [decode_event(body, shape) for body in bodies]


def notice_event(*, source: str, name: str, at: datetime) -> Event:
    """One of Vigie's own notices to every process (`NOTICE_TYPE`, nothing personal)."""
    return Event(
        message_id=uuid.uuid4().hex,
        type=NOTICE_TYPE,
        source=source,
        event=name,
        timestamp=at,
        received_at=at,
    )
