"""A person's export and erasure with the event log on NATS JetStream, on SQLite and
PostgreSQL: their events and their loyalty rings' reads are read from the stream (not from the
store's empty `events` table), opened for the export, and no longer open once erased."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import WRITE_KEY, LiveServer, free_port, make_settings, user_token
from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from vigie.cli import app as cli_app
from vigie.config import Config, Source
from vigie.events import Event
from vigie.log.nats import NatsEventLog
from vigie.log.sql import SqlEventLog
from vigie.privacy.config import PrivacyConfig, ShreddingSettings
from vigie.privacy.shredding import SEALED
from vigie.sensors.readings import RFID_READ
from vigie.sensors.readings import SOURCE as SENSORS
from vigie.store import connect, upgrade
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

EMAIL = "nora.vale@example.org"
USER_ID = "user-nv-2207"
RING = "urn:epc:id:sgtin:0614141.888888.4"
OTHER_RING = "urn:epc:id:sgtin:0614141.888888.5"


@pytest.fixture
def nats_server(
    db_url: str,
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> Iterator[LiveServer]:
    """A server whose log is a fresh JetStream stream, crypto-shredding on."""
    upgrade(connect(db_url))
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=ShreddingSettings(keys=f"sqlite:///{tmp_path}/keys.db")),
    )
    settings = make_settings(db_url, config)
    settings.log_url = nats_url
    app = create_app(build_system(settings))
    system = app.state.system
    try:
        with BackgroundServer(app, port=free_port()) as running:
            token = user_token(system, username="dpo", role="admin")
            yield LiveServer(url=running.url, write_key=WRITE_KEY, system=system, admin_token=token)
    finally:
        stream = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(system.engine))
        stream.delete_stream()
        stream.close()


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _read(server: LiveServer, message_id: str, epc: str, at: datetime) -> None:
    """A read of `epc` in aisle-3 at `at`, appended as the sensors' intake appends it."""
    event = Event(
        message_id=message_id,
        type="sensor",
        source=SENSORS,
        event=RFID_READ,
        timestamp=at,
        received_at=at,
        site="shop",
        aisle="aisle-3",
        epc=epc,
    )
    server.system.log.append([event], source=SENSORS, endpoint="test", received_at=at)


def _person(server: LiveServer, api: httpx.Client) -> tuple[str, datetime]:
    """A consenting contact with their identify and order on the stream, and RING linked to
    them; returns their id and the link's start."""
    created = api.post(
        "/api/contacts",
        json={"first_name": "Nora", "last_name": "Vale", "external_id": USER_ID,
              "consent": {"profiling": True}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    contact_id = str(created.json()["id"])
    sent = httpx.post(
        f"{server.url}/v1/batch",
        auth=(WRITE_KEY, ""),
        json={"batch": [
            {"type": "identify", "userId": USER_ID, "messageId": "nv-i1",
             "traits": {"email": EMAIL, "phone": "+32 470 99 88 77"}},
            {"type": "track", "userId": USER_ID, "event": "Order Completed",
             "messageId": "nv-t1", "properties": {"amount": 42}},
            {"type": "track", "userId": "someone-else", "event": "Order Completed",
             "messageId": "se-t1", "properties": {"amount": 7}},
        ]},
        timeout=60,
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    linked = api.post(f"/api/sensors/rings/{RING}/link", json={"contact_id": contact_id})
    assert linked.status_code == 200, linked.text
    starts = datetime.fromtimestamp(linked.json()["starts_us"] / 1e6, UTC)
    return contact_id, starts


def test_the_export_reads_the_persons_events_and_ring_reads_from_the_stream(
    nats_server: LiveServer,
) -> None:
    """With the log on JetStream, the export holds the person's identify (its traits opened)
    and order, not another person's, and the reads of their ring made while linked, neither
    those before the link nor another ring's."""
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        contact_id, starts = _person(nats_server, api)
        _read(nats_server, "nv-before", RING, starts - timedelta(minutes=5))
        _read(nats_server, "nv-mine", RING, starts + timedelta(seconds=1))
        _read(nats_server, "nv-other", OTHER_RING, starts + timedelta(seconds=2))
        exported = api.get(f"/api/privacy/contacts/{contact_id}/export")
    assert exported.status_code == 200, exported.text
    data = exported.json()
    events = {e["message_id"]: e for e in data["events"]}
    # Their own calls (and the CRM's events naming them by their contact id).
    assert {"nv-i1", "nv-t1"} <= set(events) and "se-t1" not in events
    assert events["nv-i1"]["traits"]["email"] == EMAIL
    assert all(isinstance(e["offset"], int) and e["offset"] > 0 for e in data["events"])
    reads = data["ring_reads"]
    assert [(r["message_id"], r["epc"]) for r in reads] == [("nv-mine", RING)]


def test_an_erased_persons_events_on_the_stream_no_longer_open(
    nats_server: LiveServer,
) -> None:
    """Erasure on a JetStream log destroys the person's keys: the stream's copies of their
    identify stay sealed and open to nothing, in the log's readers and in a new export."""
    system = nats_server.system
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        contact_id, _ = _person(nats_server, api)
        before = api.get(f"/api/privacy/contacts/{contact_id}/export").json()
        assert EMAIL in json.dumps(before)
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        after = api.get(f"/api/privacy/contacts/{contact_id}/export")
    assert after.status_code == 200, after.text
    assert EMAIL not in after.text
    assert after.json()["ring_reads"] == []
    identify = [e for e in system.log.read(1, 100) if e.type == "identify"]
    assert [e.traits for e in identify] == [{}]
    stored = system.log.inner.read(1, 100)  # type: ignore[attr-defined]
    assert [list(e.traits) for e in stored if e.type == "identify"] == [[SEALED]]


def test_the_cli_export_reads_the_stream_named_by_log(
    nats_server: LiveServer,
    db_url: str,
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`vigie privacy export --log nats://…` reads the person's events from the stream."""
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        contact_id, _ = _person(nats_server, api)
    _wait(lambda: nats_server.system.log.last_offset() >= 3, "the events on the stream")
    out = tmp_path / "person.json"
    result = CliRunner().invoke(
        cli_app,
        ["privacy", "export", "--contact", contact_id, "--db", db_url, "--log", nats_url,
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    ids = {e["message_id"] for e in exported["events"]}
    assert {"nv-i1", "nv-t1"} <= ids and "se-t1" not in ids
