"""A person's loyalty-ring reads in their export and erasure, on SQLite and PostgreSQL: the
reads name the ring, the ring's link names the person."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from tests.conftest import LiveServer
from vigie.events.event import Event
from vigie.sensors.readings import RFID_READ, SOURCE

RING = "urn:epc:id:sgtin:0614141.777777.9"
OTHER_RING = "urn:epc:id:sgtin:0614141.777777.10"


def ring_read(log: Any, message_id: str, epc: str, at: datetime, *, aisle: str = "aisle-2") -> None:
    """A read of `epc` in `aisle` of the shop at `at`, appended to `log` as the sensors'
    intake appends it."""
    event = Event(
        message_id=message_id,
        type="sensor",
        source=SOURCE,
        event=RFID_READ,
        timestamp=at,
        received_at=at,
        site="shop",
        aisle=aisle,
        epc=epc,
        properties={"device": "reader-2"},
    )
    log.append([event], source=SOURCE, endpoint="test", received_at=at)


def wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _linked_customer(server: LiveServer, api: httpx.Client) -> tuple[str, datetime]:
    """A consenting contact with RING linked to them; returns their id and the link's start."""
    created = api.post(
        "/api/contacts",
        json={"email": "ring.owner@example.org", "consent": {"profiling": True}},
    )
    assert created.status_code == 201, created.text
    contact_id = str(created.json()["id"])
    linked = api.post(f"/api/sensors/rings/{RING}/link", json={"contact_id": contact_id})
    assert linked.status_code == 200, linked.text
    starts = datetime.fromtimestamp(linked.json()["starts_us"] / 1e6, UTC)
    return contact_id, starts


def test_export_holds_the_reads_of_the_persons_rings_while_linked(
    live_server: LiveServer,
) -> None:
    """The export lists the reads of the person's ring made while it was linked to them, and
    neither the same ring's reads before the link nor another ring's."""
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=60) as api:
        contact_id, starts = _linked_customer(live_server, api)
        ring_read(live_server.system.log, "before", RING, starts - timedelta(minutes=5))
        ring_read(live_server.system.log, "mine", RING, starts + timedelta(seconds=1))
        ring_read(live_server.system.log, "other", OTHER_RING, starts + timedelta(seconds=2))
        exported = api.get(f"/api/privacy/contacts/{contact_id}/export")
    assert exported.status_code == 200, exported.text
    reads = exported.json()["ring_reads"]
    assert [(r["message_id"], r["epc"], r["aisle"]) for r in reads] == [("mine", RING, "aisle-2")]
    links = exported.json()["records"]["sensor_ring_links"]
    assert [link["ring"] for link in links] == [RING]


def test_erasure_unlinks_the_persons_rings_and_keeps_the_shops_counts(
    live_server: LiveServer,
) -> None:
    """After erasure the person's ring links are gone from the store and from the live state:
    their pick-ups are no longer theirs (API and export), the ring's reads are nobody's, and
    the reads themselves stay in the log for the shop's figures."""
    system = live_server.system
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=120) as api:
        contact_id, starts = _linked_customer(live_server, api)
        ring_read(live_server.system.log, "mine", RING, starts + timedelta(seconds=1))
        wait_until(
            lambda: api.get(f"/api/sensors/customers/{contact_id}").json()["total"] == 1,
            "the read to be the customer's",
        )
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        assert erased.json()["rows"]["sensor_ring_links"] == 1
        with system.engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM sensor_ring_links WHERE contact_id = :c"),
                {"c": contact_id},
            ).scalar_one()
            reads = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE event = :e"), {"e": RFID_READ}
            ).scalar_one()
        assert left == 0
        assert reads == 1
        customer = api.get(f"/api/sensors/customers/{contact_id}").json()
        assert customer["rings"] == [] and customer["total"] == 0
        assert system.sensors.rings is not None
        assert system.sensors.rings.owner(RING, int((starts.timestamp() + 5) * 1e6)) is None
        exported = api.get(f"/api/privacy/contacts/{contact_id}/export").json()
    assert exported["ring_reads"] == []
    assert "sensor_ring_links" not in exported["records"]
