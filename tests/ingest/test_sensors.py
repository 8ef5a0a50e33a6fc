"""Sensor readings over HTTP and MQTT reach the log, the shop and city state, the KPIs and
the rules; unknown devices and broken documents are refused, named and kept."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import (
    MQTT_HOST,
    WRITE_KEY,
    free_port,
    make_settings,
    port_open,
    require_service,
    user_token,
)
from tests.sensors.conftest import SENSORS, epcis_document, object_event
from vigie.config import Config, parse_config
from vigie.store.schema import rejected_events
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

TOPIC = "vigie/brussels/crowd/rue-neuve"
RULES: dict[str, Any] = {
    "sources": [{"name": "web", "write_key": WRITE_KEY}],
    "metrics": [
        {
            "name": "zone_density",
            "kind": "average",
            "value": "properties.density",
            "where": {"source": "sensors", "event": "Crowd Count"},
            "by": ["zone"],
            "window": "5m",
        },
        {
            "name": "aisle_pickups",
            "kind": "count",
            "where": {"event": "RFID Read"},
            "by": ["aisle"],
            "window": "15m",
        },
    ],
    "rules": [
        {"name": "street-crowding", "metric": "zone_density", "op": ">=", "value": 0.9},
    ],
}


PLAYBOOKS: list[dict[str, Any]] = [
    {
        "name": "decongest",
        "triggers": [{"rule": "street-crowding"}],
        "steps": [
            {"name": "offer", "action": "offer", "when": "quietest_neighbour(labels.zone)",
             "params": {"scope": "zone", "target": "{{ quietest_neighbour(labels.zone) }}",
                        "title": "-10 %", "duration_minutes": 30}},
            {"action": "broadcast", "when": "quietest_neighbour(labels.zone)",
             "params": {"zone": "{{ labels.zone }}",
                        "text": "Offre à {{ quietest_neighbour(labels.zone) }}"}},
        ],
    },
    {
        "name": "move-promo",
        "triggers": [{"rule": "street-crowding", "status": ["resolved"]}],
        "steps": [
            {"action": "offer", "when": "recommended_aisle('promo')",
             "params": {"scope": "aisle", "target": "{{ recommended_aisle('promo') }}",
                        "display": "promo", "title": "Summer"}},
        ],
    },
]  # fmt: skip


def _config(tmp_path: Path | None = None, **sensors: Any) -> Config:
    extra: dict[str, Any] = {}
    if tmp_path is not None:
        extra = {
            "playbooks": PLAYBOOKS,
            "actions": {"zones": [{"name": "rue-neuve"}], "broadcast_dir": str(tmp_path)},
        }
    data = {**RULES, **extra, "sensors": {**copy.deepcopy(SENSORS), **sensors}}
    return msgspec.convert(data, Config)


def _wait(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    def __init__(self, url: str, system: System, token: str) -> None:
        self.url = url
        self.system = system
        self.api = {"Authorization": f"Bearer {token}"}

    def post(self, kind: str, body: Any, *, device: str, key: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/sensors/{kind}", content=json.dumps(body), auth=(device, key)
        )

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", headers=self.api)
        assert response.status_code == 200, response.text
        return response.json()

    def rejected(self) -> list[Any]:
        with self.system.engine.connect() as conn:
            return list(conn.execute(sa.select(rejected_events)).all())


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """A live server with the test shop and zones, on SQLite and on PostgreSQL."""
    settings = make_settings(db_url, _config(tmp_path))
    app = create_app(build_system(settings))
    with BackgroundServer(app, port=free_port()) as background:
        system = app.state.system
        yield Server(background.url, system, user_token(system, username="boss", role="admin"))


def test_an_epcis_document_from_a_known_reader_becomes_pickups(server: Server) -> None:
    """Two EPCs observed by the aisle-4 reader are two pick-ups in aisle 4, with no
    visitor id invented; sending the document again stores nothing twice."""
    document = epcis_document(object_event(eventTime=datetime.now(UTC).isoformat()))
    response = server.post("epcis", document, device="reader-4", key="key-reader-4")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    again = server.post("epcis", document, device="reader-4", key="key-reader-4")
    assert again.json()["duplicates"] == 2
    _wait(
        lambda: server.get("/api/sensors/shops/shop")["aisles"][0]["now"] == 2,
        "the pick-ups in the shop's state",
    )


def test_unknown_devices_and_wrong_keys_are_refused_and_kept(server: Server) -> None:
    """A reading from a device nobody configured, or with another device's key, is a 401
    naming the field, and kept in the rejected events."""
    document = epcis_document(object_event())
    unknown = server.post("epcis", document, device="intruder", key="x")
    assert unknown.status_code == 401
    assert unknown.json()["rejected"][0]["field"] == "device"
    wrong = server.post("epcis", document, device="reader-4", key="key-door")
    assert wrong.status_code == 401 and wrong.json()["rejected"][0]["field"] == "key"
    _wait(lambda: len(server.rejected()) == 2, "the refusals to be kept")
    assert {row.endpoint for row in server.rejected()} == {"/v1/sensors/epcis"}


def test_a_broken_event_is_refused_naming_its_field_and_the_rest_kept(server: Server) -> None:
    """One event without its time zone offset is refused (400, field named, kept); the good
    event of the same document is stored."""
    broken = {k: v for k, v in object_event().items() if k != "eventTimeZoneOffset"}
    document = epcis_document(broken, object_event(epcList=["urn:epc:id:sgtin:1.2.3"]))
    response = server.post("epcis", document, device="reader-4", key="key-reader-4")
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["field"] == "epcisBody.eventList[0].eventTimeZoneOffset"
    _wait(lambda: len(server.rejected()) == 1, "the refused event to be kept")


def test_door_counts_give_occupancy_and_the_entry_signal(server: Server) -> None:
    """12 in and 3 out through the main door: 9 inside a shop for 10, the screen says slow."""
    for seq, (ins, outs) in enumerate([(7, 1), (5, 2)]):
        body = {"in": ins, "out": outs, "seq": seq}
        assert server.post("doors", body, device="door", key="key-door").status_code == 200
    bad = server.post("doors", {"in": -1}, device="door", key="key-door")
    assert bad.status_code == 400 and bad.json()["rejected"][0]["field"] == "in"
    _wait(
        lambda: server.get("/api/sensors/shops/shop")["occupancy"]["inside"] == 9,
        "the occupancy",
    )
    assert server.get("/api/sensors/shops/shop")["occupancy"]["signal"] == "slow"


def test_moving_a_display_ends_one_placement_and_starts_the_next(server: Server) -> None:
    """Moving the promo from aisle 4 to aisle 21 ends the aisle-4 placement (audited with
    who moved it and why) and the shop shows it in aisle 21."""
    response = httpx.post(
        f"{server.url}/api/sensors/displays/promo/move",
        json={"aisle": "aisle-21", "reason": "interest is in aisle 21"},
        headers=server.api,
    )
    assert response.status_code == 200, response.text
    placements = response.json()["placements"]
    assert [p["aisle"] for p in placements] == ["aisle-4", "aisle-21"]
    assert placements[0]["ends_us"] == placements[1]["starts_us"]
    assert placements[1]["moved_by"] == "boss"
    assert server.get("/api/sensors/shops/shop")["displays"][0]["aisle"] == "aisle-21"
    nowhere = httpx.post(
        f"{server.url}/api/sensors/displays/promo/move", json={"aisle": "aisle-99"},
        headers=server.api,
    )  # fmt: skip
    assert nowhere.status_code == 422 and "aisle-99" in nowhere.text


def test_crowd_counts_congest_a_zone_and_name_the_quietest_neighbour(server: Server) -> None:
    """95 people in rue-neuve (capacity 100) congest it; of its neighbours the live counts
    make fripiers (10) quieter than monnaie (60), so people are sent there."""
    for device, key, people in [("cam-monnaie", "key-cam-2", 60), ("cam-fripiers", "key-cam-3", 10),
                                ("cam-neuve", "key-cam-1", 95)]:  # fmt: skip
        body = {"peopleCount": people, "confidence": 0.9, "source": "drone"}
        assert server.post("crowd", body, device=device, key=key).status_code == 200

    def congested() -> bool:
        zones = server.get("/api/sensors/city")["zones"]
        return bool(zones[0]["zone"] == "rue-neuve" and zones[0]["congested"])

    _wait(congested, "rue-neuve to be congested")
    assert server.get("/api/sensors/city")["zones"][0]["redirect_to"] == "fripiers"


def test_a_zones_area_gives_people_per_square_metre(server: Server) -> None:
    """95 people on rue-neuve's 500 m² are 0.19 per m², in the crowd-count event (for the
    KPIs) and the city API; a zone of unknown area has none."""
    for device, key, people in [("cam-neuve", "key-cam-1", 95), ("cam-monnaie", "key-cam-2", 60)]:
        assert (
            server.post("crowd", {"peopleCount": people}, device=device, key=key).status_code == 200
        )

    zones: dict[str, Any] = {}

    def counted() -> bool:
        zones.update({z["zone"]: z for z in server.get("/api/sensors/city")["zones"]})
        return bool(zones["monnaie"]["count"] == 60 and zones["rue-neuve"]["count"] == 95)

    _wait(counted, "both counts")
    assert zones["rue-neuve"]["people_per_m2"] == pytest.approx(0.19)
    assert zones["rue-neuve"]["area_m2"] == 500.0
    assert zones["monnaie"]["people_per_m2"] is None
    events = server.system.log.read(0, 100)
    per_m2 = {e.zone: e.properties.get("people_per_m2") for e in events if e.zone}
    assert per_m2 == {"rue-neuve": pytest.approx(0.19), "monnaie": None}


def test_readings_published_to_mosquitto_reach_the_kpis_and_fire_the_rules(
    tmp_path: Path,
) -> None:
    """A people count published with paho-mqtt on vigie/brussels/crowd/rue-neuve reaches
    the density KPI and fires the crowding rule; a message from an unknown device is kept."""
    if not port_open(MQTT_HOST, 1883):
        require_service("Mosquitto", f"nothing listens on {MQTT_HOST}:1883")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    settings = make_settings(
        f"sqlite:///{tmp_path}/vigie.db",
        _config(mqtt_url=f"mqtt://{MQTT_HOST}:1883"),
    )
    system = build_system(settings)
    app = create_app(system)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
    with BackgroundServer(app, port=free_port()):
        publisher.connect(MQTT_HOST, 1883)
        publisher.loop_start()
        try:
            count = {"device": "cam-neuve", "key": "key-cam-1", "peopleCount": 97,
                     "dateObserved": datetime.now(UTC).isoformat()}  # fmt: skip
            publisher.publish(TOPIC, json.dumps(count), qos=1).wait_for_publish()
            stranger = {"device": "ghost", "key": "x", "peopleCount": 1}
            publisher.publish(TOPIC, json.dumps(stranger), qos=1).wait_for_publish()
            _wait(
                lambda: any(a.rule == "street-crowding" for a in system.alerts.active()),
                "the crowding rule to fire",
            )
            with system.engine.connect() as conn:
                kept = conn.execute(sa.select(rejected_events.c.endpoint)).scalars().all()
            assert kept == ["mqtt:vigie/brussels/crowd/rue-neuve"]
        finally:
            publisher.loop_stop()
            publisher.disconnect()


def test_the_decongestion_playbook_sends_people_to_the_quietest_street(server: Server) -> None:
    """When rue-neuve jams, the playbook starts the offer in the neighbour the live counts
    make quietest (fripiers, not the first one listed) and broadcasts it in rue-neuve."""
    if not Path("/usr/bin/espeak-ng").exists():
        require_service("espeak-ng", "/usr/bin/espeak-ng is not installed")
    for device, key, people in [("cam-monnaie", "key-cam-2", 70), ("cam-fripiers", "key-cam-3", 5),
                                ("cam-neuve", "key-cam-1", 96)]:  # fmt: skip
        body = {"peopleCount": people}
        assert server.post("crowd", body, device=device, key=key).status_code == 200

    def offers() -> list[Any]:
        with server.system.engine.connect() as conn:
            return list(conn.exec_driver_sql("SELECT scope, target FROM playbook_offers").all())

    _wait(lambda: bool(offers()), "the decongestion offer", seconds=90)
    assert [tuple(row) for row in offers()] == [("zone", "fripiers")]

    def spoken() -> list[Any]:
        with server.system.engine.connect() as conn:
            return list(conn.exec_driver_sql("SELECT zone, text FROM broadcasts").all())

    _wait(lambda: bool(spoken()), "the broadcast")
    assert [tuple(row) for row in spoken()] == [("rue-neuve", "Offre à fripiers")]


def test_a_playbook_moves_the_display_where_the_advice_says(server: Server) -> None:
    """With aisle 21 drawing far more pick-ups than aisle 4, running move-promo moves the
    display to aisle 21 and ends its aisle-4 placement."""
    now = datetime.now(UTC).isoformat()
    reads = [{"epc": f"urn:epc:id:sgtin:1.1.{i}", "time": now, "aisle": "aisle-21"}
             for i in range(60)] + [{"epc": f"urn:epc:id:sgtin:1.4.{i}", "time": now}
                                    for i in range(5)]  # fmt: skip
    response = server.post("rfid", {"reads": reads}, device="reader-4", key="key-reader-4")
    assert response.status_code == 200 and response.json()["accepted"] == 65
    _wait(
        lambda: (
            server.get("/api/sensors/shops/shop")["displays"][0]["recommendation"]["to"]
            == "aisle-21"
        ),
        "the advice to name aisle 21",
    )
    run = httpx.post(f"{server.url}/api/playbooks/move-promo/run", json={}, headers=server.api)
    assert run.status_code == 200, run.text
    display = server.get("/api/sensors/shops/shop")["displays"][0]
    assert display["aisle"] == "aisle-21"
    assert [p["aisle"] for p in display["placements"]] == ["aisle-4", "aisle-21"]
    assert display["placements"][0]["ends_us"] is not None


def test_a_silent_sensor_raises_an_absence_alert(tmp_path: Path) -> None:
    """A reader that has sent nothing for its `silence` fires `sensor-silent-<id>`, and the
    devices API says it is silent; a camera that reported does not fire."""
    sensors = copy.deepcopy(SENSORS)
    for device in sensors["devices"]:
        device["silence"] = "2s"
    config = parse_config(yaml.safe_dump({**RULES, "sensors": sensors}))
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db", config)))
    with BackgroundServer(app, port=free_port()) as background:
        system = app.state.system
        server = Server(background.url, system, user_token(system, username="boss", role="admin"))
        for _ in range(3):
            body = {"peopleCount": 5}
            server.post("crowd", body, device="cam-neuve", key="key-cam-1").raise_for_status()
            time.sleep(1)

        def fired() -> set[str]:
            return {a.rule for a in system.alerts.active() if a.status == "firing"}

        _wait(lambda: "sensor-silent-reader-4" in fired(), "the reader's absence alert")
        assert "sensor-silent-cam-neuve" not in fired()
        devices = {d["id"]: d for d in server.get("/api/sensors/devices")["devices"]}
        assert devices["reader-4"]["silent"] is True


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("epcis", b'{"type": "EPCISDocument", "x": "\\u0000"}', None),
        ("epcis", b"\x00" * 10, None),
        ("epcis", b"[1, 2]", None),
        ("epcis", b"{" * 100_000, None),
        ("epcis", b'{"a": "' + b"x" * 600_000 + b'"}', None),
        ("rfid", b'{"reads": [{"epc": "' + b"e" * 500 + b'"}]}', "reads[0].epc"),
        ("doors", b'{"in": 1e300}', "in"),
        ("doors", b'{"in": true}', "in"),
        ("crowd", b'{"peopleCount": 99999999999999999999999}', "peopleCount"),
        ("crowd", b'{"peopleCount": 3, "confidence": 7}', "confidence"),
    ],
)
def test_hostile_readings_are_refused_and_kept_not_crashed_on(
    server: Server, kind: str, body: bytes, field: str | None
) -> None:
    """NUL bytes, deep nesting, huge bodies, extreme numbers: a 400 naming the field where
    there is one, the reading kept, and the server still answers."""
    auth = {"epcis": ("reader-4", "key-reader-4"), "rfid": ("reader-4", "key-reader-4"),
            "doors": ("door", "key-door"), "crowd": ("cam-neuve", "key-cam-1")}[kind]  # fmt: skip
    response = httpx.post(f"{server.url}/v1/sensors/{kind}", content=body, auth=auth, timeout=60)
    assert response.status_code == 400, response.text
    if field is not None:
        assert response.json()["rejected"][0]["field"] == field
    _wait(lambda: len(server.rejected()) == 1, "the refusal to be kept")
    good = server.post("crowd", {"peopleCount": 1}, device="cam-neuve", key="key-cam-1")
    assert good.status_code == 200


def _contact(server: Server, consent: dict[str, bool]) -> str:
    created = httpx.post(
        f"{server.url}/api/contacts",
        json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "consent": consent},
        headers=server.api,
    )
    assert created.status_code == 201, created.text
    contact_id: str = created.json()["id"]
    return contact_id


def _ring_read(server: Server, ring: str) -> None:
    document = epcis_document(
        object_event(eventTime=datetime.now(UTC).isoformat(), epcList=[ring],
                     eventID=f"urn:uuid:{uuid.uuid4()}")
    )  # fmt: skip
    response = server.post("epcis", document, device="reader-4", key="key-reader-4")
    assert response.status_code == 200, response.text


def test_a_ring_is_linked_to_a_customer_only_with_their_consent(server: Server) -> None:
    """Issue 20: a loyalty ring's reads are a customer's only after a link that their consent
    to profiling allows; without it the link is refused naming `consent.profiling`, reads
    before the link stay nobody's, and once consent is withdrawn nothing of theirs is shown."""
    ring = "urn:epc:id:sgtin:0614141.999999.42"
    refusing = _contact(server, {"email_marketing": True})
    refused = httpx.post(
        f"{server.url}/api/sensors/rings/{ring}/link",
        json={"contact_id": refusing},
        headers=server.api,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].startswith("consent.profiling: ")
    unknown = httpx.post(
        f"{server.url}/api/sensors/rings/{ring}/link", json={"contact_id": "nobody"},
        headers=server.api,
    )  # fmt: skip
    assert unknown.status_code == 404
    _ring_read(server, ring)  # before any link: the shop counts it, nobody owns it
    _wait(
        lambda: server.get("/api/sensors/shops/shop")["aisles"][0]["now"] == 1,
        "the first read in the shop's state",
    )
    agreeing = _contact(server, {"profiling": True})
    linked = httpx.post(
        f"{server.url}/api/sensors/rings/{ring}/link",
        json={"contact_id": agreeing},
        headers=server.api,
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["linked_by"] == "boss"
    time.sleep(0.01)  # the next read comes after the link, by the clock
    _ring_read(server, ring)
    _wait(
        lambda: server.get(f"/api/sensors/customers/{agreeing}")["total"] == 1,
        "the read after the link to be the customer's",
    )
    mine = server.get(f"/api/sensors/customers/{agreeing}")
    assert mine["pickups"] == [{"site": "shop", "aisle": "aisle-4", "pickups": 1}]
    withdrawn = httpx.patch(
        f"{server.url}/api/contacts/{agreeing}",
        json={"consent": {"profiling": False}},
        headers=server.api,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    hidden = httpx.get(f"{server.url}/api/sensors/customers/{agreeing}", headers=server.api)
    assert hidden.status_code == 409 and "profiling" in hidden.text
    unlinked = httpx.delete(f"{server.url}/api/sensors/rings/{ring}/link", headers=server.api)
    assert unlinked.status_code == 200 and unlinked.json()["ended_by"] == "boss"
