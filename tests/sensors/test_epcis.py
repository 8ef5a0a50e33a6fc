"""EPCIS 2.0 documents: the standard's shapes accepted, broken ones refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sensors.conftest import epcis_document, object_event
from vigie.sensors.epcis import EpcisError, read_document


def test_the_standards_object_event_example_is_read() -> None:
    """Example 9.6.1's shape (two EPCs observed at a read point) gives both EPCs, with the
    event time in UTC and the read point kept."""
    reading = read_document(epcis_document(object_event(), object_event(action="ADD")))
    assert not reading.errors
    first = reading.events[0]
    assert first.epcs == (
        "urn:epc:id:sgtin:0614141.107346.2017",
        "urn:epc:id:sgtin:0614141.107346.2018",
    )
    assert first.event_time.isoformat() == "2026-06-06T14:58:56.591000+00:00"
    assert first.read_point == "urn:epc:id:sgln:0614141.07346.1234"


def test_other_event_types_are_counted_not_read_as_pickups() -> None:
    """An AggregationEvent in the same document is valid EPCIS but no RFID pick-up."""
    aggregation = {"type": "AggregationEvent", "eventTime": "2026-06-06T14:58:56Z",
                   "eventTimeZoneOffset": "+02:00", "action": "ADD"}  # fmt: skip
    reading = read_document(epcis_document(object_event(), aggregation))
    assert len(reading.events) == 1 and reading.skipped == 1


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"eventTimeZoneOffset": None}, "epcisBody.eventList[0].eventTimeZoneOffset"),
        ({"eventTimeZoneOffset": "+25:00"}, "epcisBody.eventList[0].eventTimeZoneOffset"),
        ({"action": "PICK"}, "epcisBody.eventList[0].action"),
        ({"epcList": None}, "epcisBody.eventList[0].epcList"),
        ({"epcList": [""]}, "epcisBody.eventList[0].epcList[0]"),
        ({"eventTime": "yesterday"}, "epcisBody.eventList[0].eventTime"),
        ({"eventTime": "2026-06-06T14:58:56"}, "epcisBody.eventList[0].eventTime"),
        ({"readPoint": "urn:epc:id:sgln:1"}, "epcisBody.eventList[0].readPoint"),
    ],
)
def test_a_broken_object_event_is_refused_naming_its_field(
    event: dict[str, Any], field: str
) -> None:
    """Each broken event is an error naming its field; the good events beside it stay."""
    broken = object_event(**event)
    broken = {k: v for k, v in broken.items() if v is not None}
    reading = read_document(epcis_document(broken, object_event()))
    assert [e.field for e in reading.errors] == [field]
    assert len(reading.events) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "EPCISQueryDocument"}, "type"),
        ({"schemaVersion": 2}, "schemaVersion"),
        ({"epcisBody": {}}, "epcisBody.eventList"),
        ({"creationDate": None}, "creationDate"),
    ],
)
def test_a_broken_document_is_refused_naming_its_field(change: dict[str, Any], field: str) -> None:
    """A document that is no EPCISDocument is refused as a whole, with the field named."""
    document = {**epcis_document(object_event()), **change}
    document = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(EpcisError) as raised:
        read_document(document)
    assert raised.value.field == field


def test_hostile_documents_are_refused_not_crashed_on() -> None:
    """Deep nesting in an extension field is kept as is; a list that is not one is refused."""
    nested: Any = "x"
    for _ in range(500):
        nested = {"n": nested}
    reading = read_document(epcis_document(object_event(**{"example:deep": nested})))
    assert len(reading.events) == 1
    with pytest.raises(EpcisError) as raised:
        read_document({**epcis_document(), "epcisBody": {"eventList": "nope"}})
    assert raised.value.field == "epcisBody.eventList"


MUTATIONS: list[dict[str, Any]] = [
    {},
    {"action": "ADD"},
    {"epcList": []},
    {"epcList": None, "quantityList": [{"epcClass": "urn:epc:class:lgtin:1.2.3", "quantity": 2}]},
    {"bizLocation": {"id": "urn:epc:id:sgln:1.2.3"}},
    {"eventTimeZoneOffset": "-14:00"},
    {"eventTimeZoneOffset": "+14:00"},
    {"eventTimeZoneOffset": "+14:30"},
    {"eventTimeZoneOffset": "0200"},
    {"action": None},
    {"action": "observe"},
    {"bizStep": None},
    {"bizStep": 3},
    {"readPoint": {}},
    {"readPoint": {"id": 7}},
    {"epcList": "urn:epc:id:sgtin:1.2.3"},
    {"epcList": [None]},
    {"eventTime": "2026"},
    {"eventID": None},
    {"type": "AggregationEvent"},
    {"disposition": ["x"]},
    {"example:extension": {"a": [1, 2, {"b": None}]}},
]


@pytest.mark.parametrize("change", MUTATIONS)
def test_the_fast_path_agrees_with_the_schema(change: dict[str, Any]) -> None:
    """The msgspec fast path accepts an ObjectEvent exactly when the JSON Schema does."""
    import jsonschema

    from vigie.sensors.epcis import OBJECT_EVENT, fast_valid

    item = {k: v for k, v in {**object_event(), **change}.items() if k not in change or
            v is not None or k in ("action", "bizStep", "eventID")}  # fmt: skip
    by_schema = not list(jsonschema.Draft202012Validator(OBJECT_EVENT).iter_errors(item))
    assert fast_valid(item) is by_schema
