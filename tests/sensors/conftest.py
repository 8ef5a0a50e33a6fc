"""A configuration with one shop, three city zones and their devices."""

from __future__ import annotations

from typing import Any

SENSORS: dict[str, Any] = {
    "sites": [
        {
            "name": "shop",
            "capacity": 10,
            "entrances": ["main"],
            "aisles": [{"name": "aisle-4"}, {"name": "aisle-12"}, {"name": "aisle-21"}],
            "displays": [{"name": "promo", "aisle": "aisle-4"}],
        }
    ],
    "zones": [
        {
            "name": "rue-neuve",
            "capacity": 100,
            "area_m2": 500.0,
            "neighbours": ["monnaie", "fripiers"],
        },
        {"name": "monnaie", "capacity": 100, "neighbours": ["rue-neuve"]},
        {"name": "fripiers", "capacity": 100, "neighbours": ["rue-neuve"]},
    ],
    "devices": [
        {
            "id": "reader-4",
            "key": "key-reader-4",
            "kind": "rfid",
            "site": "shop",
            "aisle": "aisle-4",
        },
        {"id": "door", "key": "key-door", "kind": "door", "site": "shop", "entrance": "main"},
        {"id": "cam-neuve", "key": "key-cam-1", "kind": "crowd", "zone": "rue-neuve"},
        {"id": "cam-monnaie", "key": "key-cam-2", "kind": "crowd", "zone": "monnaie"},
        {"id": "cam-fripiers", "key": "key-cam-3", "kind": "crowd", "zone": "fripiers"},
    ],
}


def object_event(**overrides: Any) -> dict[str, Any]:
    """An ObjectEvent shaped like the standard's example 9.6.1 (an observation of two
    SGTINs at a read point), in EPCIS 2.0 JSON."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-06-06T14:58:56.591Z",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
        "action": "OBSERVE",
        "bizStep": "observing",
        "disposition": "in_progress",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    }
    event.update(overrides)
    return event


def epcis_document(*events: dict[str, Any]) -> dict[str, Any]:
    """An EPCISDocument with `events`, with the standard's JSON-LD context."""
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-06-06T14:59:02.099Z",
        "epcisBody": {"eventList": list(events)},
    }
