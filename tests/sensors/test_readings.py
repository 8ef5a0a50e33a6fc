"""The RFID read path's two ways in: a message decoded straight from its bytes (the common
case) and one read event by event (anything else) give the same events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from tests.sensors.conftest import SENSORS, epcis_document, object_event
from tests.sensors.test_epcis import MUTATIONS
from vigie.sensors.places import SensorsConfig
from vigie.sensors.readings import SensorGate, decode_epcis, decode_json

AT = datetime(2026, 6, 6, 15, 0, tzinfo=UTC)


def _gate() -> SensorGate:
    return SensorGate(msgspec.convert(SENSORS, SensorsConfig))


def _slow(gate: SensorGate, body: bytes) -> list[Any]:
    device = gate.config.device("reader-4")
    assert device is not None
    return msgspec.to_builtins(gate.epcis(device, decode_json(body), received_at=AT))


def _fast(gate: SensorGate, body: bytes) -> list[Any] | None:
    device = gate.config.device("reader-4")
    assert device is not None
    typed = decode_epcis(body)
    if typed is None:
        return None
    return msgspec.to_builtins(gate.reading(device, typed.reading, received_at=AT))


VALID = [
    epcis_document(object_event()),
    epcis_document(
        object_event(eventID="urn:uuid:1", bizLocation={"id": "urn:epc:id:sgln:1.2.aisle-21"}),
        object_event(readPoint={"id": "urn:x:aisle-12"}, bizStep=""),
        object_event(epcList=[], quantityList=[{"epcClass": "urn:x", "quantity": 2}]),
        {k: v for k, v in object_event().items() if k not in ("bizStep", "readPoint")},
        object_event(eventTime="2026-06-06T16:58:56+02:00", action="ADD"),
    ),
    {**epcis_document(object_event()), "device": "reader-4", "key": "key-reader-4"},
    epcis_document(),
]


@pytest.mark.parametrize("document", VALID)
def test_a_valid_document_gives_the_same_events_both_ways(document: dict[str, Any]) -> None:
    """Events, ids, aisles and properties of a valid document do not depend on the path."""
    gate = _gate()
    body = json.dumps(document).encode()
    fast = _fast(gate, body)
    assert fast is not None, "a valid document takes the fast path"
    assert fast == _slow(gate, body)


@pytest.mark.parametrize("change", MUTATIONS)
def test_the_fast_path_declines_what_the_schema_refuses(change: dict[str, Any]) -> None:
    """A document whose event the schema refuses (or another event type) is left to the
    event-by-event path, which names the field; one it accepts gives the same events."""
    gate = _gate()
    item = {**object_event(), **change}
    body = json.dumps(epcis_document(object_event(), item)).encode()
    slow = _slow(gate, body)
    fast = _fast(gate, body)
    if slow["rejections"] or change.get("type") == "AggregationEvent":
        assert fast is None
    else:
        assert fast == slow


def test_the_message_names_its_device_and_hostile_bodies_take_the_slow_path() -> None:
    """The device and key ride in the body; NUL bytes, bad JSON, a non-string device or too
    many events are not decoded by the fast path."""
    sent = decode_epcis(
        json.dumps({**epcis_document(object_event()), "device": "d", "key": "k"}).encode()
    )
    assert sent is not None and (sent.device, sent.key) == ("d", "k")
    document = epcis_document(object_event())
    for body in (
        json.dumps(document).encode() + b"\x00",
        b"{" * 10_000,
        json.dumps({**document, "device": 4}).encode(),
        json.dumps(epcis_document(*[object_event()] * 10_001)).encode(),
    ):
        assert decode_epcis(body) is None
