"""GS1 EPCIS 2.0 documents (JSON / JSON-LD): validated against a JSON Schema written after
the standard's (`EPCISDocument`, `epcisBody.eventList`, `ObjectEvent`), with errors that
name the field at fault (`epcisBody.eventList[1].eventTimeZoneOffset`).

Only `ObjectEvent`s are RFID reads; the other event types of a valid document are kept
aside as not read (`skipped`), never silently dropped by a failing validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import jsonschema
import msgspec
from msgspec import UNSET, UnsetType

from vigie.types import JSON

_OFFSET = r"^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$"
_ID = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
_URI_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

OBJECT_EVENT: JSON = {
    "type": "object",
    "required": ["type", "eventTime", "eventTimeZoneOffset", "action"],
    "properties": {
        "type": {"const": "ObjectEvent"},
        "eventID": {"type": "string"},
        "eventTime": {"type": "string", "minLength": 10},
        "recordTime": {"type": "string"},
        "eventTimeZoneOffset": {"type": "string", "pattern": _OFFSET},
        "action": {"enum": ["ADD", "OBSERVE", "DELETE"]},
        "epcList": _URI_LIST,
        "quantityList": {"type": "array", "items": {"type": "object"}},
        "bizStep": {"type": "string"},
        "disposition": {"type": "string"},
        "readPoint": _ID,
        "bizLocation": _ID,
    },
    "anyOf": [{"required": ["epcList"]}, {"required": ["quantityList"]}],
}
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
DOCUMENT: JSON = {
    "type": "object",
    "required": ["type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {
        "@context": {},
        "type": {"const": "EPCISDocument"},
        "schemaVersion": {"type": "string", "pattern": r"^2\.\d+$"},
        "creationDate": {"type": "string", "minLength": 10},
        "epcisBody": {
            "type": "object",
            "required": ["eventList"],
            "properties": {
                "eventList": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": list(EVENT_TYPES)}},
                    },
                }
            },
        },
    },
}
_document = jsonschema.Draft202012Validator(DOCUMENT)
_object_event = jsonschema.Draft202012Validator(OBJECT_EVENT)
MAX_EVENTS = 10_000


class _Location(msgspec.Struct, gc=False):
    id: str


class _FastObjectEvent(msgspec.Struct, rename="camel", gc=False):
    """The fast path of `OBJECT_EVENT`: the same constraints as msgspec types, so that a
    valid event (the common case) is checked without walking the schema. Fields absent and
    fields set to null differ, as in the schema (`UNSET` takes no null).

    Not tracked by the cyclic garbage collector (`gc=False`, nothing here refers back): a
    reader sends thousands a second, and tracked objects that live until their commit are
    what brought on full collections in the middle of the read path."""

    type: Literal["ObjectEvent"]
    event_time: Annotated[str, msgspec.Meta(min_length=10)]
    event_time_zone_offset: Annotated[str, msgspec.Meta(pattern=_OFFSET)]
    action: Literal["ADD", "OBSERVE", "DELETE"]
    event_i_d: str | UnsetType = msgspec.field(default=UNSET, name="eventID")
    record_time: str | UnsetType = UNSET
    epc_list: list[Annotated[str, msgspec.Meta(min_length=1)]] | UnsetType = UNSET
    quantity_list: list[dict[str, Any]] | UnsetType = UNSET
    biz_step: str | UnsetType = UNSET
    disposition: str | UnsetType = UNSET
    read_point: _Location | UnsetType = UNSET
    biz_location: _Location | UnsetType = UNSET


class _FastBody(msgspec.Struct, rename="camel"):
    event_list: list[dict[str, Any]]


class _FastDocument(msgspec.Struct, rename="camel"):
    """The fast path of `DOCUMENT`, as `_FastObjectEvent` is of `OBJECT_EVENT`."""

    type: Literal["EPCISDocument"]
    schema_version: Annotated[str, msgspec.Meta(pattern=r"^2\.\d+$")]
    creation_date: Annotated[str, msgspec.Meta(min_length=10)]
    epcis_body: _FastBody


class _TypedBody(msgspec.Struct, rename="camel", gc=False):
    event_list: list[_FastObjectEvent]


class TypedDocument(msgspec.Struct, rename="camel", gc=False):
    """An `EPCISDocument` whose events are all valid ObjectEvents, decoded straight from its
    bytes (the common case, with no dict per event); any other document fails to decode as
    this and is read by `read_document`, which names what is wrong."""

    type: Literal["EPCISDocument"]
    schema_version: Annotated[str, msgspec.Meta(pattern=r"^2\.\d+$")]
    creation_date: Annotated[str, msgspec.Meta(min_length=10)]
    epcis_body: _TypedBody


def _fast(item: Any) -> _FastObjectEvent | None:
    """`item` as a valid ObjectEvent by the fast path, or None (then the schema says why)."""
    try:
        event = msgspec.convert(item, _FastObjectEvent)
    except msgspec.ValidationError:
        return None
    return event if event.epc_list is not UNSET or event.quantity_list is not UNSET else None


def fast_valid(item: Any) -> bool:
    """Whether `item` is a valid ObjectEvent by the fast path (it agrees with the schema)."""
    return _fast(item) is not None


class EpcisError(ValueError):
    """The document cannot be read; `field` names where, as a JSON path without `$.`."""

    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


class ObjectEvent(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One valid ObjectEvent: what an RFID reader saw, when and where."""

    index: int
    event_id: str | None
    event_time: datetime
    action: str
    epcs: tuple[str, ...]
    biz_step: str | None
    read_point: str | None
    biz_location: str | None


class Reading(msgspec.Struct, kw_only=True, frozen=True):
    """A document read: its valid ObjectEvents, the invalid ones with their error, and how
    many events of other types it held."""

    events: tuple[ObjectEvent, ...]
    errors: tuple[EpcisError, ...]
    skipped: int


def _path(prefix: Sequence[str | int], error: jsonschema.ValidationError) -> str:
    parts = [*prefix, *error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        wanted: Any = error.validator_value
        missing = next((name for name in wanted if name not in error.instance), None)
        if missing is not None:
            parts.append(missing)
    if error.validator == "anyOf" and error.schema is OBJECT_EVENT:
        parts.append("epcList")
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _first_error(
    validator: jsonschema.Draft202012Validator, instance: Any, prefix: Sequence[str | int]
) -> EpcisError | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    reason = error.message
    if error.validator == "anyOf":
        reason = "an ObjectEvent needs an epcList (or a quantityList)"
    elif error.validator == "required":
        reason = "missing required field"
    return EpcisError(reason[:300], _path(prefix, error) or None)


def parse_time(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EpcisError("not an ISO 8601 date-time", field) from exc
    if moment.tzinfo is None:
        raise EpcisError("a date-time needs its offset (Z or ±hh:mm)", field)
    return moment


def read_document(document: Any) -> Reading:
    """Validate an `EPCISDocument` and read its ObjectEvents; raise `EpcisError` when the
    document itself is not one, keep per-event errors in `Reading.errors`."""
    try:
        listed: list[Any] = msgspec.convert(document, _FastDocument).epcis_body.event_list
        if any(not isinstance(item.get("type"), str) or item["type"] not in EVENT_TYPES
               for item in listed):  # fmt: skip
            raise msgspec.ValidationError("an event type is unknown")
    except msgspec.ValidationError:
        error = _first_error(_document, document, ())
        if error is None:  # the fast path is stricter nowhere; this is a defect if reached
            raise EpcisError("the document does not validate", None) from None
        raise error from None
    if len(listed) > MAX_EVENTS:
        raise EpcisError(f"more than {MAX_EVENTS} events in one document", "epcisBody.eventList")
    events: list[ObjectEvent] = []
    errors: list[EpcisError] = []
    skipped = 0
    for i, item in enumerate(listed):
        if item["type"] != "ObjectEvent":
            skipped += 1
            continue
        try:
            events.append(read_object_event(item, i))
        except EpcisError as exc:
            errors.append(exc)
    return Reading(events=tuple(events), errors=tuple(errors), skipped=skipped)


def read_object_event(item: Any, index: int) -> ObjectEvent:
    """One ObjectEvent of `epcisBody.eventList[index]`, validated."""
    event = _fast(item)
    if event is None:
        error = _first_error(_object_event, item, ["epcisBody", "eventList", index])
        raise error or EpcisError("the event does not validate", f"epcisBody.eventList[{index}]")
    return _valid_event(event, index)


def read_typed(document: TypedDocument) -> Reading | None:
    """`document` read as `read_document` reads the same document, or None when it is not
    the common case (too many events, an event with neither EPCs nor quantities, a date
    that does not parse): `read_document` then says what is wrong."""
    listed = document.epcis_body.event_list
    if len(listed) > MAX_EVENTS:
        return None
    events: list[ObjectEvent] = []
    for i, event in enumerate(listed):
        if event.epc_list is UNSET and event.quantity_list is UNSET:
            return None
        try:
            events.append(_valid_event(event, i))
        except EpcisError:
            return None
    return Reading(events=tuple(events), errors=(), skipped=0)


def _valid_event(event: _FastObjectEvent, index: int) -> ObjectEvent:
    try:
        moment = parse_time(event.event_time, "eventTime")
    except EpcisError as exc:
        raise EpcisError(exc.reason, f"epcisBody.eventList[{index}].eventTime") from None
    return ObjectEvent(
        index=index,
        event_id=event.event_i_d or None,
        event_time=moment,
        action=event.action,
        epcs=tuple(event.epc_list or ()),
        biz_step=event.biz_step or None,
        read_point=event.read_point.id if event.read_point else None,
        biz_location=event.biz_location.id if event.biz_location else None,
    )


def document(events: Iterable[JSON], *, created: str) -> JSON:
    """An `EPCISDocument` holding `events` (for tests, the demo and the benchmark)."""
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": list(events)},
    }
