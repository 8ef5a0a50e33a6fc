"""Data-subject export and erasure over the whole store, on SQLite and PostgreSQL (issue 17)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa

from tests.conftest import LiveServer, user_token
from vigie.events import NOTICE_TYPE
from vigie.events.event import decode_event

EMAIL = "zoe.quintavalle@example.org"
FIRST, LAST = "Zoé", "Quintavalle"
PHONE = "+32 470 99 88 77"
USER_ID = "user-zq-7731"
ANON_IDS = ["anon-zq-0001", "anon-zq-0002"]
IDENTIFIERS = [EMAIL, LAST, FIRST, f"{FIRST} {LAST}", PHONE, USER_ID, *ANON_IDS]


def _forms(identifier: str) -> list[bytes]:
    return [identifier.encode(), json.dumps(identifier)[1:-1].encode()]


def _person(server: LiveServer) -> str:
    """Creates the person, their events (and a bystander's); returns the contact id."""
    api = httpx.Client(base_url=server.url, headers=server.admin, timeout=60)
    contact = api.post(
        "/api/contacts",
        json={
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PHONE,
            "external_id": USER_ID,
            "anonymous_ids": [ANON_IDS[0]],
        },
    )
    assert contact.status_code == 201, contact.text
    batch = [
        {"type": "page", "anonymousId": ANON_IDS[1], "name": "Pricing",
         "context": {"ip": "203.0.113.42"}, "messageId": "m1"},
        {"type": "identify", "anonymousId": ANON_IDS[1], "userId": USER_ID, "messageId": "m2",
         "traits": {"email": EMAIL, "firstName": FIRST, "lastName": LAST, "phone": PHONE}},
        {"type": "track", "userId": USER_ID, "event": "Order Completed", "messageId": "m3",
         "properties": {"amount": 120.5, "note": f"for {FIRST} {LAST}"}},
        {"type": "track", "anonymousId": "bystander-1", "event": "Order Completed",
         "messageId": "m4", "properties": {"amount": 30}},
        {"type": "track", "userId": USER_ID, "event": 42, "messageId": "m5",
         "properties": {"email": EMAIL}},
    ]  # fmt: skip
    ingest = httpx.post(
        f"{server.url}/v1/batch", json={"batch": batch}, auth=(server.write_key, ""), timeout=60
    )
    assert ingest.status_code == 400  # m5 is refused and kept, with the e-mail in it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = api.get("/api/interactions", params={"contact_id": contact.json()["id"]})
        if found.status_code == 200 and found.json()["total"] >= 1:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the order never became an interaction of the contact")
    return str(contact.json()["id"])


def _aggregates(engine: sa.Engine) -> tuple[Counter[str], float, int]:
    """Events per name, the sum of amounts and distinct visitors: what KPIs are made of
    (Vigie's own notices to its processes, which name nobody, aside)."""
    with engine.connect() as conn:
        bodies = [bytes(b) for (b,) in conn.execute(sa.text("SELECT body FROM events"))]
    events = [e for e in map(decode_event, bodies) if e.type != NOTICE_TYPE]
    names = Counter(e.event or e.type for e in events)
    amounts = sum(float(e.properties.get("amount", 0)) for e in events)
    visitors = len({e.anonymous_id for e in events if e.anonymous_id})
    return names, amounts, visitors


def _table_dump(engine: sa.Engine) -> bytes:
    """Every value of every table, as bytes."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    out = bytearray()
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        out += bytes(value)
                    else:
                        out += json.dumps(value, default=str).encode()
                        out += str(value).encode()
    return bytes(out)


def _files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _leaks(data: bytes) -> list[str]:
    return [i for i in IDENTIFIERS if any(form in data for form in _forms(i))]


def test_erasure_leaves_no_identifier_anywhere_and_kpis_unchanged(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """After erase, no table, log body, rejected payload, columnar segment or file of the
    store (WAL included) holds the person's e-mail, name, phone, user or visitor ids, and
    the events' counts, amounts and distinct visitors are the same."""
    system = live_server.system
    contact_id = _person(live_server)
    assert system.columns is not None or system.engine.dialect.name == "postgresql"
    if system.columns is not None:
        system.columns.segment_offsets = 2
        system.columns.catch_up()
        assert _leaks(_files(system.columns.folder))
    assert set(_leaks(_table_dump(system.engine))) == set(IDENTIFIERS)
    before = _aggregates(system.engine)

    erased = httpx.post(
        f"{live_server.url}/api/privacy/contacts/{contact_id}/erase",
        headers=live_server.admin,
        timeout=120,
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["rows"]["events"] >= 4

    assert _leaks(_table_dump(system.engine)) == []
    assert _aggregates(system.engine) == before
    if system.columns is not None:
        assert _leaks(_files(system.columns.folder)) == []
        database = Path(str(system.engine.url.database))
        assert _leaks(_files(database.parent)) == []
    trail = httpx.get(
        f"{live_server.url}/api/audit",
        params={"entity_id": contact_id, "action": "erase"},
        headers=live_server.admin,
    ).json()
    assert len(trail["items"]) == 1


def test_export_holds_the_persons_records_and_is_audited(live_server: LiveServer) -> None:
    """The export has the contact, their events, their interaction and identity links, the
    task about them, and the history of their consent (the CRM events that changed it)."""
    contact_id = _person(live_server)
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=60) as api:
        consent = {"email_marketing": True}
        changed = api.patch(f"/api/contacts/{contact_id}", json={"consent": consent})
        assert changed.status_code == 200, changed.text
        task = api.post("/api/tasks", json={"title": "Call back", "contact_id": contact_id})
        assert task.status_code == 201, task.text
    response = httpx.get(
        f"{live_server.url}/api/privacy/contacts/{contact_id}/export",
        headers=live_server.admin,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    data: dict[str, Any] = msgspec.json.decode(response.content)
    assert data["contact"]["email"] == EMAIL
    messages = {e["message_id"] for e in data["events"]}
    assert {"m1", "m2", "m3"} <= messages and "m4" not in messages
    page = next(e for e in data["events"] if e["message_id"] == "m1")
    assert page["context"]["ip"] == "203.0.113.0"  # truncated before it was stored
    assert data["records"]["crm_interactions"][0]["contact_id"] == contact_id
    assert any(r["visitor_id"] == ANON_IDS[1] for r in data["records"]["analytics_identities"])
    assert any(EMAIL in json.dumps(r) for r in data["records"]["rejected_events"])
    assert [t["title"] for t in data["records"]["crm_tasks"]] == ["Call back"]
    consents = [e["properties"].get("consent") for e in data["events"] if e["source"] == "crm"]
    assert {"email_marketing": True} in consents, consents


def test_erasure_is_for_admins_only(live_server: LiveServer) -> None:
    """A manager may not erase; a contact outside the caller's scope (a manager without a
    team owning it) is not exported either; an unknown contact is 404, no credentials 401,
    a NUL byte in the id 422."""
    contact_id = _person(live_server)
    token = user_token(live_server.system, username="mgr", role="manager")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{live_server.url}/api/privacy/contacts"
    assert httpx.post(f"{url}/{contact_id}/erase", headers=headers).status_code == 403
    assert httpx.get(f"{url}/{contact_id}/export", headers=headers).status_code == 404
    missing = httpx.post(f"{url}/con_missing/erase", headers=live_server.admin)
    assert missing.status_code == 404
    assert httpx.post(f"{url}/{contact_id}/erase").status_code == 401
    assert httpx.get(f"{url}/{contact_id}/export").status_code == 401
    assert httpx.get(f"{url}/x%00y/export", headers=live_server.admin).status_code == 422


def test_erasing_twice_is_harmless(live_server: LiveServer) -> None:
    """A second erasure of the same contact succeeds and leaves the contact erased."""
    contact_id = _person(live_server)
    url = f"{live_server.url}/api/privacy/contacts/{contact_id}"
    for _ in range(2):
        assert httpx.post(f"{url}/erase", headers=live_server.admin, timeout=120).status_code == 200
    exported = httpx.get(f"{url}/export", headers=live_server.admin, timeout=60).json()
    assert exported["contact"]["email"] is None and exported["contact"]["archived_at"]
    assert _leaks(json.dumps(exported).encode()) == []


def test_a_cli_erasure_reaches_a_running_servers_memory(live_server: LiveServer) -> None:
    """`vigie privacy erase` run beside a server: the server follows the erasure's notice in
    the log and drops what it kept in memory, so neither its reads of the log (answered from
    the bodies it committed last) nor its live feed show the person's e-mail or user id."""
    from typer.testing import CliRunner

    from tests.privacy.test_rings import wait_until
    from vigie.cli import app as cli_app

    contact_id = _person(live_server)
    system = live_server.system
    assert any(e.traits.get("email") == EMAIL for e in system.log.read(1, 100))
    assert USER_ID in json.dumps(system.live.snapshot())
    url = system.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli_app, ["privacy", "erase", "--contact", contact_id, "--yes", "--db", url]
    )
    assert result.exit_code == 0, result.output

    def forgotten() -> bool:
        bodies = json.dumps([msgspec.to_builtins(e) for e in system.log.read(1, 100)])
        return EMAIL not in bodies and USER_ID not in bodies

    wait_until(forgotten, "the server to drop the erased person's bodies")
    assert USER_ID not in json.dumps(system.live.snapshot())


def test_a_server_sends_the_erasure_notice_a_dead_process_owed(live_server: LiveServer) -> None:
    """An erasure notice left owed in the store (its process died before the log took it) is
    sent by the running server's timer, and the debt is cleared."""
    from tests.privacy.test_rings import wait_until
    from vigie.privacy.erasures import ERASED
    from vigie.privacy.tables import erasure_notices

    system = live_server.system
    with system.engine.begin() as conn:
        conn.execute(erasure_notices.insert().values(at_us=1))

    def sent() -> bool:
        with system.engine.connect() as conn:
            owed = conn.execute(sa.select(sa.func.count()).select_from(erasure_notices)).scalar()
        return owed == 0 and any(e.event == ERASED for e in system.log.read(1, 1000))

    wait_until(sent, "the owed erasure notice to be sent")


def test_after_an_erasure_a_replay_of_the_stored_log_rebuilds_the_store_s_records(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """On the SQL log without crypto-shredding, a call's and a task's notes about the person
    are logged in clear: the erasure blanks them in the store and takes them out of the
    stored events, so that a replay of the log rebuilds the same interactions (the order
    they placed, an integration's fact, keep what it said) and tasks, notes gone."""
    from vigie.crm.entities import ENTITIES
    from vigie.crm.processor import CrmProcessor
    from vigie.store import connect, upgrade

    notes = "Asked about a payment plan after losing her job"
    contact_id = _person(live_server)
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=60) as api:
        call = api.post(
            "/api/interactions",
            json={"kind": "call", "contact_id": contact_id, "subject": "Payment plan",
                  "summary": notes, "properties": {"mood": "worried"}},
        )  # fmt: skip
        assert call.status_code == 201, call.text
        task = api.post(
            "/api/tasks", json={"title": "Send plan", "contact_id": contact_id, "notes": notes}
        )
        assert task.status_code == 201, task.text
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase", timeout=120)
    assert erased.status_code == 200, erased.text
    system = live_server.system

    def rows(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
        with engine.connect() as conn:
            return {
                name: [
                    {k: v.isoformat() if hasattr(v, "isoformat") else v
                     for k, v in row._mapping.items()}
                    for row in conn.execute(sa.select(ENTITIES[name].table).order_by("id"))
                ]
                for name in ("interactions", "tasks")
            }  # fmt: skip

    store = rows(system.engine)
    assert notes not in json.dumps(store) and notes.encode() not in _table_dump(system.engine)
    replayed = connect(f"sqlite:///{tmp_path}/replayed.db")
    upgrade(replayed)
    CrmProcessor(replayed).process(system.log.read(1, 1000))
    again = rows(replayed)
    assert again["tasks"] == store["tasks"]
    # The replay refuses the person's stored `Contact Created` (its scrubbed e-mail is no
    # e-mail), so links no order to them: the facts' interactions are compared on what they say.
    said = ("id", "kind", "subject", "summary", "properties")
    assert [{k: i[k] for k in said} for i in again["interactions"]] == [
        {k: i[k] for k in said} for i in store["interactions"]
    ]
    [call] = [i for i in store["interactions"] if i["kind"] == "call"]
    assert call == next(i for i in again["interactions"] if i["id"] == call["id"])
    assert (call["subject"], call["summary"], call["properties"]) == (None, None, {})


def _task_with_changed_notes(server: LiveServer, notes: str) -> tuple[str, str]:
    """The person (contact id) and a task about them whose notes were changed to `notes`."""
    contact_id = _person(server)
    with httpx.Client(base_url=server.url, headers=server.admin, timeout=60) as api:
        task = api.post(
            "/api/tasks", json={"title": "Call back", "contact_id": contact_id, "notes": "later"}
        )
        assert task.status_code == 201, task.text
        changed = api.patch(f"/api/tasks/{task.json()['id']}", json={"notes": notes})
        assert changed.status_code == 200, changed.text
    return contact_id, str(task.json()["id"])


def test_a_tasks_changed_notes_leave_the_stored_log_at_the_erasure(live_server: LiveServer) -> None:
    """A task's notes changed after its creation are taken out of the stored log with the
    rest of the person's notes (a replay would give the erased person's task them back)."""
    notes = "Changed: her son is in hospital, do not call before noon"
    contact_id, _ = _task_with_changed_notes(live_server, notes)
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=120) as api:
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert notes.encode() not in _table_dump(live_server.system.engine)


def test_a_tasks_notes_changed_before_changes_named_the_contact_leave_the_stored_log(
    live_server: LiveServer,
) -> None:
    """A `Task Updated` logged before a task's changes carried its contact (its record's id
    and notes alone) is found by the task's id: the erasure takes its notes out too."""
    from datetime import UTC, datetime

    from vigie.events import Event

    notes = "Older change: diagnosed with diabetes, send the low-sugar offers"
    contact_id, task_id = _task_with_changed_notes(live_server, "later still")
    now = datetime.now(UTC)
    old = Event(
        message_id=f"old-{task_id}", type="track", source="crm", event="Task Updated",
        timestamp=now, received_at=now, properties={"id": task_id, "notes": notes},
    )  # fmt: skip
    live_server.system.log.append([old], source="crm")
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=120) as api:
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert notes.encode() not in _table_dump(live_server.system.engine)
