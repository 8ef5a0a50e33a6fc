"""A person's export and erasure with the event log on NATS JetStream, on SQLite and
PostgreSQL: their events and their loyalty rings' reads are read from the stream (not from the
store's empty `events` table), opened for the export, and no longer open once erased."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError
from typer.testing import CliRunner

from tests.conftest import (
    WRITE_KEY,
    LiveServer,
    free_port,
    make_settings,
    port_open,
    require_service,
    user_token,
)
from tests.log.test_nats import (
    NATS_SERVER,
    nats_url,  # noqa: F401 (a fixture)
)
from tests.privacy.test_rings import ring_read, wait_until
from vigie.auth.audit import Actor, list_audit
from vigie.cli import app as cli_app
from vigie.clock import SystemClock
from vigie.config import Config, Source
from vigie.crm.entities import CONTACT_IDENTIFIERS, ENTITIES
from vigie.crm.processor import CrmProcessor
from vigie.crm.tables import contacts
from vigie.events import Event
from vigie.log.nats import NatsEventLog, parse_nats_url
from vigie.log.sql import SqlEventLog
from vigie.privacy import DataSubjects, PrivacyError
from vigie.privacy.config import PrivacyConfig, ShreddingSettings
from vigie.privacy.shredding import SEALED, Shredder, SubjectKeys
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
    with _serving(db_url, nats_url, keys=f"sqlite:///{tmp_path}/keys.db") as server:
        yield server


@pytest.fixture
def unshredded_server(
    db_url: str,
    nats_url: str,  # noqa: F811 (the fixture)
) -> Iterator[LiveServer]:
    """A server whose log is a fresh JetStream stream, crypto-shredding off."""
    with _serving(db_url, nats_url, keys=None) as server:
        yield server


@contextmanager
def _serving(db_url: str, log_url: str, *, keys: str | None) -> Iterator[LiveServer]:
    """A server on the stream of `log_url` (deleted afterwards), with its key store at `keys`."""
    upgrade(connect(db_url))
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=ShreddingSettings(keys=keys)),
    )
    settings = make_settings(db_url, config)
    settings.log_url = log_url
    app = create_app(build_system(settings))
    system = app.state.system
    try:
        with BackgroundServer(app, port=free_port()) as running:
            token = user_token(system, username="dpo", role="admin")
            yield LiveServer(url=running.url, write_key=WRITE_KEY, system=system, admin_token=token)
    finally:
        stream = NatsEventLog.from_url(log_url, rejects=SqlEventLog(system.engine))
        stream.delete_stream()
        stream.close()


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
        log = nats_server.system.log
        ring_read(log, "nv-before", RING, starts - timedelta(minutes=5), aisle="aisle-3")
        ring_read(log, "nv-mine", RING, starts + timedelta(seconds=1), aisle="aisle-3")
        ring_read(log, "nv-other", OTHER_RING, starts + timedelta(seconds=2), aisle="aisle-3")
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
    wait_until(lambda: nats_server.system.log.last_offset() >= 3, "the events on the stream")
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


CRM_TABLES = ("accounts", "contacts", "deals")
CONTACT = {
    "first_name": "Ines",
    "last_name": "Marlow",
    "email": "ines.marlow@example.org",
    "phone": "+32 470 12 34 56",
    "external_id": "user-im-3301",
    "job_title": "Buyer",
}


def _raw_messages(log_url: str) -> list[bytes]:
    """Every message of the test's stream as JetStream holds it (deleted ones aside)."""

    async def fetch() -> list[bytes]:
        options = parse_nats_url(log_url)
        connection = await nats.connect(options.servers)
        try:
            js = connection.jetstream()
            state = (await js.stream_info(options.stream)).state
            first, last = state.first_seq, state.last_seq
            found = []
            for seq in range(first, last + 1):
                try:
                    found.append(bytes((await js.get_msg(options.stream, seq)).data))
                except NotFoundError:  # deleted (an erasure deletes messages in clear)
                    continue
            return found
        finally:
            await connection.close()

    return asyncio.run(fetch())


def _rebuilt(
    server: LiveServer, tmp_path: Path, name: str, tables: tuple[str, ...] = CRM_TABLES
) -> dict[str, list[dict[str, Any]]]:
    """The CRM tables as a new projection builds them from a replay of the whole stream."""
    engine = connect(f"sqlite:///{tmp_path}/{name}.db")
    upgrade(engine)
    CrmProcessor(engine).process(server.system.log.read(1, 1000))
    return _crm_rows(engine, tables)


def _crm_rows(
    engine: sa.Engine, tables: tuple[str, ...] = CRM_TABLES
) -> dict[str, list[dict[str, Any]]]:
    """The rows of the CRM tables by id, instants in UTC (as SQLite and PostgreSQL differ)."""
    with engine.connect() as conn:
        return {
            name: [
                {k: _utc(v) for k, v in row._mapping.items()}
                for row in conn.execute(sa.select(ENTITIES[name].table).order_by("id"))
            ]
            for name in tables
        }


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def test_a_contacts_own_events_reach_the_stream_sealed_and_erasure_shreds_them(
    nats_server: LiveServer,
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """A contact created and changed through the API on JetStream with crypto-shredding:
    no message of the stream holds their e-mail or phone in clear; a replay rebuilds the same
    CRM tables; after their erasure a fresh replay shows none of their identifying fields,
    while their id, account, owner and their deal's stage stay."""
    system = nats_server.system
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        account = api.post("/api/accounts", json={"name": "Harbour Trading"}).json()["id"]
        owner = api.post("/api/staff", json={"name": "Sam Rep", "role": "sales"}).json()["id"]
        created = api.post(
            "/api/contacts", json={**CONTACT, "account_id": account, "owner_id": owner}
        )
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        changed = api.patch(f"/api/contacts/{contact_id}", json={"phone": "+32 470 65 43 21"})
        assert changed.status_code == 200, changed.text
        deal = api.post(
            "/api/deals",
            json={"title": "Q3 order", "account_id": account, "contact_id": contact_id,
                  "stage": "proposal", "amount": 1200},
        )  # fmt: skip
        assert deal.status_code == 201, deal.text
        raw = b"\n".join(_raw_messages(nats_url))
        for value in (CONTACT["email"], CONTACT["phone"], "+32 470 65 43 21", CONTACT["last_name"]):
            assert value.encode() not in raw
        assert _rebuilt(nats_server, tmp_path, "before") == _crm_rows(system.engine)
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["keys_destroyed"] >= 1 and erased.json()["not_erased"] == []
    replayed = [e for e in system.log.read(1, 1000) if e.event.startswith("Contact ")]
    assert [e.event for e in replayed] == ["Contact Created", "Contact Updated"]
    for event in replayed:
        assert not set(CONTACT_IDENTIFIERS) & set(event.properties), event.properties
        assert event.properties["id"] == contact_id
    assert replayed[0].properties["account_id"] == account
    assert replayed[0].properties["owner_id"] == owner
    rebuilt = _rebuilt(nats_server, tmp_path, "after")
    [person] = rebuilt["contacts"]
    assert (person["id"], person["account_id"], person["owner_id"]) == (contact_id, account, owner)
    assert all(person[name] is None for name in ("first_name", "last_name", "email", "phone"))
    assert [d["stage"] for d in rebuilt["deals"]] == ["proposal"]


def test_an_erasure_without_shredding_names_what_stays_on_the_stream(
    unshredded_server: LiveServer,
) -> None:
    """On JetStream without crypto-shredding the erasure clears the store but says that the
    person's events stay on the stream in clear, and why; the audit trail keeps that too."""
    with httpx.Client(
        base_url=unshredded_server.url, headers=unshredded_server.admin, timeout=120
    ) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        contact = api.get(f"/api/contacts/{contact_id}").json()
    [left] = erased.json()["not_erased"]
    assert "NATS JetStream" in left and "privacy.shredding.keys" in left and "1 event" in left
    assert contact["email"] is None
    stored = [e for e in unshredded_server.system.log.read(1, 100) if e.event == "Contact Created"]
    assert stored[0].properties["email"] == CONTACT["email"]  # what the answer warned of
    [audited] = list_audit(engine=unshredded_server.system.engine, action="erase")
    assert audited.details["not_erased"] == [left]


def test_the_cli_erasure_without_shredding_says_what_it_left_and_fails(
    unshredded_server: LiveServer,
    db_url: str,
    nats_url: str,  # noqa: F811 (the fixture)
) -> None:
    """`vigie privacy erase --log nats://…` without crypto-shredding erases the store, names
    the events left in clear on the stream, and exits with status 2 (not a silent success)."""
    with httpx.Client(
        base_url=unshredded_server.url, headers=unshredded_server.admin, timeout=120
    ) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
    contact_id = str(created.json()["id"])
    result = CliRunner().invoke(
        cli_app,
        ["privacy", "erase", "--contact", contact_id, "--yes", "--db", db_url, "--log", nats_url],
    )
    assert result.exit_code == 2, result.output
    assert "NOT ERASED" in result.output and "NATS JetStream" in result.output


def test_an_erasure_with_shredding_names_a_value_left_in_a_field_not_sealed(
    nats_server: LiveServer,
) -> None:
    """With crypto-shredding, the ids the stream keeps in clear to join (user id, contact id)
    are not reported, but the person's e-mail sent in a property that is not sealed survives
    the erasure in clear on the stream: the answer names that event and field."""
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        sent = httpx.post(
            f"{nats_server.url}/v1/batch",
            auth=(WRITE_KEY, ""),
            json={"batch": [
                {"type": "track", "userId": CONTACT["external_id"], "event": "Order Completed",
                 "messageId": "im-t1", "properties": {"amount": 42}},
                {"type": "track", "userId": CONTACT["external_id"], "event": "Delivery Booked",
                 "messageId": "im-t2",
                 "properties": {"delivery_note": f"ring {CONTACT['email']} on arrival"}},
            ]},
            timeout=60,
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    [left] = erased.json()["not_erased"]
    assert "1 event" in left and "properties.delivery_note" in left, left
    assert "privacy.shredding.properties" in left
    assert CONTACT["email"] not in left  # the report does not repeat the value
    stored = nats_server.system.log.inner.read(1, 100)  # type: ignore[attr-defined]
    [booked] = [e for e in stored if e.event == "Delivery Booked"]
    assert CONTACT["email"] in booked.properties["delivery_note"]  # what the answer warned of


def test_an_interactions_notes_reach_the_stream_sealed_and_erasure_shreds_them(
    nats_server: LiveServer,
    nats_url: str,  # noqa: F811 (the fixture)
) -> None:
    """A call logged by staff about a contact carries no user id: with crypto-shredding its
    subject, notes and free properties reach the stream sealed under the contact's key (its
    kind and contact id stay in clear), open in the log's readers, and open to nothing once
    the contact is erased, with nothing reported left in clear."""
    notes = "Worried about her mortgage arrears, call back after 6pm"
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        call = api.post(
            "/api/interactions",
            json={"kind": "call", "contact_id": contact_id, "subject": "Loan follow-up",
                  "summary": notes, "properties": {"mood": "anxious"}},
        )  # fmt: skip
        assert call.status_code == 201, call.text
        changed = api.patch(
            f"/api/interactions/{call.json()['id']}", json={"summary": f"{notes} (again)"}
        )
        assert changed.status_code == 200, changed.text
        raw = b"\n".join(_raw_messages(nats_url))
        for value in (notes, "Loan follow-up", "anxious"):
            assert value.encode() not in raw, value
        logged = [
            e for e in nats_server.system.log.read(1, 100) if e.event == "Interaction Created"
        ]
        assert logged[0].properties["summary"] == notes
        assert logged[0].properties["kind"] == "call"
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["not_erased"] == []
    replayed = [e for e in nats_server.system.log.read(1, 100) if e.event.startswith("Interaction")]
    assert [e.event for e in replayed] == ["Interaction Created", "Interaction Updated"]
    for event in replayed:
        assert not {"subject", "summary", "properties"} & set(event.properties), event.properties
    assert replayed[0].properties["contact_id"] == contact_id


def test_a_tasks_changed_notes_reach_the_stream_sealed_and_erasure_shreds_them(
    nats_server: LiveServer,
    nats_url: str,  # noqa: F811 (the fixture)
) -> None:
    """A task's notes changed after it was created are sealed under its contact's key as its
    first notes are: never in clear on the stream, and open to nothing once the contact is
    erased (a replay would otherwise give the erased person's task its notes back)."""
    notes = "Her divorce papers are due Friday, be gentle"
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        task = api.post(
            "/api/tasks", json={"title": "Call back", "contact_id": contact_id, "notes": "soon"}
        )
        assert task.status_code == 201, task.text
        changed = api.patch(f"/api/tasks/{task.json()['id']}", json={"notes": notes})
        assert changed.status_code == 200, changed.text
        assert notes.encode() not in b"\n".join(_raw_messages(nats_url))
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    replayed = [e for e in nats_server.system.log.read(1, 100) if e.event == "Task Updated"]
    assert replayed and all("notes" not in e.properties for e in replayed)


def test_an_erasure_while_the_stream_is_away_changes_nothing_and_a_retry_completes_it(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With JetStream stopped, an erasure cannot read the stream for what stays of the person
    there: it fails saying nothing was erased, and indeed the store keeps the contact and the
    key store their key (not keys destroyed, then an error). Once JetStream is back, the same
    erasure completes."""
    if not Path(NATS_SERVER).exists():
        require_service("nats-server", f"{NATS_SERVER} is not installed")
    monkeypatch.setattr("vigie.log.nats._TIMEOUT", 2.0)
    monkeypatch.setattr("vigie.log.nats.PULL_TIMEOUT", 1.0)
    port = free_port()
    command = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open("127.0.0.1", port), "nats-server to listen")
        return server

    server = start()
    log = NatsEventLog.from_url(f"nats://127.0.0.1:{port}", rejects=SqlEventLog(engine))
    keys_url = f"sqlite:///{tmp_path}/keys.db"
    keys = SubjectKeys(connect(keys_url))
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    identify = Event(message_id="i1", type="identify", source="web", user_id=USER_ID,
                     timestamp=at, received_at=at, traits={"email": EMAIL})  # fmt: skip
    try:
        log.append(Shredder(keys).sealed([identify]), source="web")
        with engine.begin() as conn:
            conn.execute(
                contacts.insert(),
                {"id": "ct_away", "version": 1, "created_at": at, "updated_at": at,
                 "email": EMAIL, "external_id": USER_ID, "anonymous_ids": [], "consent": {}},
            )  # fmt: skip
        subjects = DataSubjects(
            engine=engine, clock=SystemClock(), forget_keys=keys.forget, log=log
        )
        server.terminate()
        server.wait(timeout=30)
        with pytest.raises(PrivacyError, match="nothing was erased"):
            subjects.erase("ct_away", actor=Actor(name="dpo", role="admin"))
        with engine.connect() as conn:
            kept = conn.execute(sa.select(contacts.c.email).where(contacts.c.id == "ct_away"))
            assert kept.scalar_one() == EMAIL
        assert SubjectKeys(connect(keys_url)).key_for(USER_ID, create=False) is not None
        assert list_audit(engine=engine, action="erase") == []

        server = start()

        def readable() -> bool:
            try:
                return log.last_offset() == 1
            except Exception:
                return False

        wait_until(readable, "the stream to be readable again")
        erased = subjects.erase("ct_away", actor=Actor(name="dpo", role="admin"))
        assert erased.keys_destroyed == 1 and erased.not_erased == []
        assert SubjectKeys(connect(keys_url)).key_for(USER_ID, create=False) is None
    finally:
        log.close()
        server.terminate()
        server.wait(timeout=30)


NOTED = ("interactions", "tasks", "tickets")


def test_after_an_erasure_the_store_holds_the_notes_a_replay_of_the_stream_rebuilds(
    nats_server: LiveServer,
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """A call's notes and a task's notes about a contact reach the stream sealed under the
    contact's key; once the contact is erased, their interactions, tasks and tickets in the
    store equal what a replay of the stream rebuilds: no notes left in the store that the
    log can no longer give back (the task's title and the ticket's subject, labels kept in
    clear to rebuild them, stay)."""
    notes = "Asked about her divorce settlement, prefers calls after 7pm"
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        call = api.post(
            "/api/interactions",
            json={"kind": "call", "contact_id": contact_id, "subject": "Settlement",
                  "summary": notes, "properties": {"mood": "tense"}},
        )  # fmt: skip
        assert call.status_code == 201, call.text
        task = api.post(
            "/api/tasks", json={"title": "Call back", "contact_id": contact_id, "notes": notes}
        )
        assert task.status_code == 201, task.text
        ticket = api.post("/api/tickets", json={"subject": "Billing", "contact_id": contact_id})
        assert ticket.status_code == 201, ticket.text
        assert notes.encode() not in b"\n".join(_raw_messages(nats_url))
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["not_erased"] == []
    store = _crm_rows(nats_server.system.engine, NOTED)
    assert _rebuilt(nats_server, tmp_path, "after", NOTED) == store
    [interaction] = store["interactions"]
    assert (interaction["subject"], interaction["summary"], interaction["properties"]) == (
        None, None, {}
    )  # fmt: skip
    [kept] = store["tasks"]
    assert (kept["title"], kept["notes"]) == ("Call back", None)
    assert [t["subject"] for t in store["tickets"]] == ["Billing"]


def test_free_text_logged_in_clear_on_the_stream_is_deleted_at_the_erasure(
    nats_server: LiveServer,
    nats_url: str,  # noqa: F811 (the fixture)
) -> None:
    """A call's notes about a contact, a change of their task's notes naming the task alone,
    and their chat's words logged on the stream in clear, before crypto-shredding sealed such
    fields (appended here unsealed): destroying keys
    cannot reach them, so the erasure deletes those messages from the stream and says how
    many, leaving nothing reported; another visitor's chat and the contact's sealed events
    stay on the stream."""
    from vigie.chat.conversations import MESSAGE, STARTED, chat_event

    notes = "Lost custody of her children, handle the overdue invoice gently"
    words = "I am in hospital until the twelfth"
    stranger = "Do you open on Sundays?"
    user = str(CONTACT["external_id"])
    with httpx.Client(base_url=nats_server.url, headers=nats_server.admin, timeout=120) as api:
        created = api.post("/api/contacts", json=CONTACT)
        assert created.status_code == 201, created.text
        contact_id = str(created.json()["id"])
        at = datetime.now(UTC)
        old_call = Event(
            message_id="old-call-1", type="track", source="crm", event="Interaction Created",
            timestamp=at, received_at=at,
            properties={"id": "int_old0000000000000001", "kind": "call",
                        "contact_id": contact_id, "summary": notes},
        )  # fmt: skip
        chats = [
            chat_event(STARTED, "conv-old", source="web", anonymous_id="anon-im", user_id=user,
                       at=at, properties={"visitor_key": "vk"}),
            chat_event(MESSAGE, "conv-old", source="web", anonymous_id="anon-im", user_id=user,
                       at=at, properties={"message_id": "m1", "sender": "visitor",
                                          "text": words}),
            chat_event(MESSAGE, "conv-other", source="web", anonymous_id="anon-other", at=at,
                       properties={"message_id": "m2", "sender": "visitor", "text": stranger}),
        ]  # fmt: skip
        task = api.post("/api/tasks", json={"title": "Call back", "contact_id": contact_id})
        assert task.status_code == 201, task.text
        old_change = Event(
            message_id="old-task-1", type="track", source="crm", event="Task Updated",
            timestamp=at, received_at=at, properties={"id": task.json()["id"], "notes": notes},
        )  # fmt: skip
        inner = nats_server.system.log.inner  # type: ignore[attr-defined]
        inner.append([old_call, old_change], source="crm")
        inner.append(chats, source="web")
        raw = b"\n".join(_raw_messages(nats_url))
        assert notes.encode() in raw and words.encode() in raw
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["log_messages_deleted"] == 3
    assert erased.json()["not_erased"] == []
    raw = b"\n".join(_raw_messages(nats_url))
    assert notes.encode() not in raw and words.encode() not in raw
    assert stranger.encode() in raw
    names = [e.event for e in nats_server.system.log.read(1, 100)]
    assert {"Contact Created", "Task Created", "Chat Started"} <= set(names)
