"""Issue 17: crypto-shredding. Traits reach the log sealed with a key per person, kept in a
store of its own; erasure deletes the key, so that the copies it cannot rewrite (a backup of
the store, a NATS JetStream stream) no longer yield them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from vigie.chat.conversations import chat_event
from vigie.config import Config, Source
from vigie.events import Event
from vigie.events.event import decode_event, encode_event
from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendJob, LogUnavailable
from vigie.log.nats import NatsEventLog
from vigie.log.sql import SqlEventLog
from vigie.privacy.config import PrivacyConfig, ShreddingSettings
from vigie.privacy.shredding import SEALED, ShreddedLog, Shredder, SubjectKeys
from vigie.privacy.tables import erasure_notices
from vigie.store import connect, upgrade
from vigie.system import Role, System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

EMAIL = "ada.quill@example.org"
USER_ID = "user-aq-4410"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _identify(user_id: str, traits: dict[str, object]) -> Event:
    return Event(
        message_id=f"m-{user_id}",
        type="identify",
        source="web",
        user_id=user_id,
        timestamp=T0,
        received_at=T0,
        traits=traits,
    )


def test_sealed_traits_open_for_their_subject_until_the_key_is_forgotten(tmp_path: Path) -> None:
    """Sealed traits hold no clear value, open back to what was sent (big integers too), do
    not open under another subject's id, and open to nothing once the key is forgotten while
    a bystander's still open."""
    keys = SubjectKeys(connect(f"sqlite:///{tmp_path}/keys.db"))
    shredder = Shredder(keys)
    traits = {"email": EMAIL, "name": "Ada Quill", "ltv": 2**70, "tags": ["vip"]}
    sent = [_identify(USER_ID, dict(traits)), _identify("other", {"email": "o@x.be"})]
    person, bystander = shredder.sealed(sent)
    assert sent[0].traits == traits, "the sender's own event is left in clear"
    assert list(person.traits) == [SEALED]
    assert EMAIL.encode() not in encode_event(person)

    stored = decode_event(encode_event(person))
    assert shredder.open([stored])[0].traits == traits
    moved = decode_event(encode_event(person))
    moved.user_id = "other"
    assert shredder.open([moved])[0].traits == {}

    assert keys.forget([USER_ID]) == 1
    assert shredder.open([decode_event(encode_event(person))])[0].traits == {}
    assert shredder.open([decode_event(encode_event(bystander))])[0].traits == {"email": "o@x.be"}
    assert EMAIL.encode() not in (tmp_path / "keys.db").read_bytes()


def test_a_key_erased_by_another_process_stops_opening_here_within_the_cache_time(
    tmp_path: Path,
) -> None:
    """Two processes share one key database (an API node and a worker): once one of them
    erases a person's key, the other no longer opens that person's data after its cache
    time, instead of until it restarts."""
    url = f"sqlite:///{tmp_path}/keys.db"
    here, there = SubjectKeys(connect(url), cache_seconds=0.2), SubjectKeys(connect(url))
    sealed = Shredder(there).sealed([_identify(USER_ID, {"email": EMAIL})])[0]
    reader = Shredder(here)
    assert reader.open([decode_event(encode_event(sealed))])[0].traits == {"email": EMAIL}
    assert there.forget([USER_ID]) == 1
    time.sleep(0.3)
    assert reader.open([decode_event(encode_event(sealed))])[0].traits == {}


def test_an_event_loop_never_writes_a_new_persons_key_itself(tmp_path: Path) -> None:
    """An append from an event loop (ingestion, the chat) with shredding on has its events
    sealed, and a new person's key written, by another thread: the loop that serves every
    request never waits on the key store."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    keys = SubjectKeys(connect(f"sqlite:///{tmp_path}/keys.db"))
    writers: list[str] = []
    key_for = keys.key_for

    def recording(subject: str, *, create: bool) -> bytes | None:
        writers.append(threading.current_thread().name)
        return key_for(subject, create=create)

    keys.key_for = recording  # type: ignore[method-assign]
    log = ShreddedLog(SqlEventLog(engine), Shredder(keys))
    committer = GroupCommitter(log)
    committer.start()

    async def append() -> tuple[int, str]:
        job = AppendJob(events=[_identify(USER_ID, {"email": EMAIL})], source="web")
        result = await committer.append(job)
        return result.accepted, threading.current_thread().name

    try:
        accepted, loop_thread = asyncio.run(append())
    finally:
        committer.stop()
    assert accepted == 1
    assert writers and loop_thread not in writers
    (stored,) = log.inner.read(1)
    assert list(stored.traits) == [SEALED]
    engine.dispose()


def _settings(db_url: str, keys_url: str, log_url: str | None = None) -> object:
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=ShreddingSettings(keys=keys_url)),
    )
    settings = make_settings(db_url, config)
    settings.log_url = log_url
    return settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, System, str]]:
    """A server with crypto-shredding on, its SQLite store and its key store in tmp_path."""
    settings = _settings(f"sqlite:///{tmp_path}/vigie.db", f"sqlite:///{tmp_path}/keys.db")
    app = create_app(build_system(settings))  # type: ignore[arg-type]
    with BackgroundServer(app, port=free_port()) as running:
        system = app.state.system
        yield running.url, system, user_token(system, username="dpo", role="admin")


def _person(url: str, token: str) -> str:
    """The person as a contact, and their identify call with traits; returns the contact id."""
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    contact = api.post(
        "/api/contacts", json={"first_name": "Ada", "last_name": "Quill", "external_id": USER_ID}
    )
    assert contact.status_code == 201, contact.text
    sent = httpx.post(
        f"{url}/v1/batch",
        auth=(WRITE_KEY, ""),
        json={"batch": [
            {"type": "identify", "userId": USER_ID, "messageId": "i1",
             "traits": {"email": EMAIL, "phone": "+32 470 11 22 33"}},
            {"type": "track", "userId": USER_ID, "event": "Order Completed", "messageId": "t1",
             "properties": {"amount": 42}},
        ]},
        timeout=60,
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    return str(contact.json()["id"])


def _traits_in(log: SqlEventLog | NatsEventLog, shredder: Shredder) -> list[dict[str, object]]:
    events = log.read(0, 100)
    assert all(EMAIL.encode() not in encode_event(e) for e in events)
    return [e.traits for e in shredder.open(events) if e.type == "identify"]


def test_a_backup_taken_before_erasure_no_longer_yields_the_person(
    server: tuple[str, System, str], tmp_path: Path
) -> None:
    """A copy of the store taken before the erasure holds the traits only sealed: readable
    with the person's key before, unreadable once erasure destroyed it; the API (a reader of
    the live log) showed them opened before, and the erasure reports the key destroyed."""
    url, system, token = server
    contact_id = _person(url, token)
    shown = system.log.recent(user_id=USER_ID, limit=10)
    assert any(e.traits.get("email") == EMAIL for e in shown)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(tmp_path / "vigie.db") as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    shredder = system.log.shredder  # type: ignore[attr-defined]
    copy_engine = connect(f"sqlite:///{backup}")
    assert _traits_in(SqlEventLog(copy_engine), shredder)[0]["email"] == EMAIL

    erased = httpx.post(
        f"{url}/api/privacy/contacts/{contact_id}/erase",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert erased.status_code == 200, erased.text
    assert _traits_in(SqlEventLog(copy_engine), shredder) == [{}]
    copy_engine.dispose()
    assert EMAIL.encode() not in (tmp_path / "keys.db").read_bytes()


def test_a_jetstream_stream_no_longer_yields_the_person_after_erasure(
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """With the log on NATS JetStream (append-only: the erasure cannot rewrite it), the
    stream's messages hold the traits sealed, the processors' durable consumers see them
    opened; after erasure they open to nothing."""
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    upgrade(connect(db_url))
    settings = _settings(db_url, f"sqlite:///{tmp_path}/keys.db", nats_url)
    app = create_app(build_system(settings))  # type: ignore[arg-type]
    system: System = app.state.system
    with BackgroundServer(app, port=free_port()) as running:
        token = user_token(system, username="dpo", role="admin")
        contact_id = _person(running.url, token)
        stream = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(system.engine))
        try:
            shredder = system.log.shredder  # type: ignore[attr-defined]
            deadline = time.monotonic() + 30
            while not _traits_in(stream, shredder) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _traits_in(stream, shredder)[0]["email"] == EMAIL
            # The processors read through durable consumers: they see the traits opened.
            consumed = system.log.consume("shredding-test", Event, 1, 100)  # type: ignore[attr-defined]
            assert next(e.traits for e in consumed if e.type == "identify")["email"] == EMAIL
            erased = httpx.post(
                f"{running.url}/api/privacy/contacts/{contact_id}/erase",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            assert erased.status_code == 200, erased.text
            assert _traits_in(stream, shredder) == [{}]
        finally:
            stream.delete_stream()
            stream.close()


def test_personal_properties_and_context_are_sealed_beside_the_clear_ones(
    tmp_path: Path,
) -> None:
    """Only the personal keys of `properties` and `context` are sealed: the amount and the
    page stay readable in the stored copy (KPIs unchanged), the e-mail, a chat message's text,
    the context's traits and the IP do not; readers see them all opened, and after the key is
    forgotten the clear keys remain while the personal ones are gone."""
    keys = SubjectKeys(connect(f"sqlite:///{tmp_path}/keys.db"))
    shredder = Shredder(keys, properties=["email", "text"], context=["traits", "ip"])
    properties = {"amount": 42, "email": EMAIL, "text": "call me on +32 470 11 22 33"}
    context = {"page": {"path": "/checkout"}, "ip": "203.0.113.0", "traits": {"email": EMAIL}}
    event = Event(
        message_id="t-1", type="track", source="web", event="Chat Message", user_id=USER_ID,
        timestamp=T0, received_at=T0, properties=dict(properties), context=dict(context),
    )  # fmt: skip
    (sealed,) = shredder.sealed([event])
    stored = encode_event(sealed)
    for secret in (EMAIL, "+32 470", "203.0.113.0"):
        assert secret.encode() not in stored
    assert sealed.properties["amount"] == 42 and sealed.context["page"] == {"path": "/checkout"}
    (opened,) = shredder.open([decode_event(stored)])
    assert opened.properties == properties and opened.context == context
    keys.forget([USER_ID])
    (erased,) = shredder.open([decode_event(stored)])
    assert erased.properties == {"amount": 42}
    assert erased.context == {"page": {"path": "/checkout"}}


def test_a_chat_message_reaches_the_log_sealed_and_the_agent_in_clear(
    server: tuple[str, System, str],
) -> None:
    """What the chat appends goes through the served log like ingestion: the visitor's words
    are sealed in the stored row, while the event the chat folds into its open conversation
    is left in clear and the log's readers see them opened."""
    _url, system, _token = server
    words = "my e-mail is ada.quill@example.org"
    message = chat_event(
        "Chat Message", "conv-1", source="web", anonymous_id="visitor-9", at=T0,
        properties={"message_id": "m1", "sender": "visitor", "text": words},
    )  # fmt: skip
    (result,) = system.log.append_many([AppendJob(events=[message], source="web")])
    assert message.properties["text"] == words
    raw = SqlEventLog(system.engine).read(result.offsets[0], 1)[0]
    assert EMAIL.encode() not in encode_event(raw) and SEALED in raw.properties
    assert system.log.read(result.offsets[0], 1)[0].properties["text"] == words


def test_a_contacts_own_events_are_sealed_under_the_contacts_key(tmp_path: Path) -> None:
    """A `Contact Created` carries no user id: its identifying properties are sealed under
    the contact's key (its id and owner stay in clear), open back in the log's readers and in
    the export's records, and open to nothing once that key is forgotten; a hostile event
    naming no contact id is sealed as before, by its user id."""
    keys = SubjectKeys(connect(f"sqlite:///{tmp_path}/keys.db"))
    shredder = Shredder(keys, properties=["email"], records={"Contact Created": ["email", "phone"]})
    properties = {"id": "ct_1", "email": EMAIL, "phone": "+32 470 00 11 22", "owner_id": "st_1"}
    created = Event(
        message_id="m-ct",
        type="track",
        source="crm",
        event="Contact Created",
        timestamp=T0,
        received_at=T0,
        properties=dict(properties),
    )
    nameless = msgspec.structs.replace(
        created, message_id="m-x", user_id=USER_ID, properties={"id": 7, "email": EMAIL}
    )
    sealed, other = shredder.sealed([created, nameless])
    assert set(sealed.properties) == {"id", "owner_id", SEALED}
    assert EMAIL.encode() not in encode_event(sealed)
    assert set(other.properties) == {"id", SEALED}
    assert keys.key_for("ct_1", create=False) is not None
    opened = decode_event(encode_event(sealed), Event)
    assert shredder.open([opened])[0].properties == properties
    record = msgspec.to_builtins(sealed)
    shredder.open_record(record)
    assert record["properties"] == properties
    assert keys.forget(["ct_1"]) == 1
    erased = shredder.open([decode_event(encode_event(sealed), Event)])[0]
    assert erased.properties == {"id": "ct_1", "owner_id": "st_1"}
    assert shredder.open([other])[0].properties == {"id": 7, "email": EMAIL}


def test_an_erasure_completes_when_the_log_refuses_its_notice(
    server: tuple[str, System, str], tmp_path: Path
) -> None:
    """With the log away when the erasure's notice is sent, the erasure still destroys the
    person's keys and is audited, and the API answers 200 (not a 503 saying nothing was
    stored, which a retry could not undo); the notice stays owed in the store."""
    url, system, token = server
    contact_id = _person(url, token)

    def away() -> None:
        raise LogUnavailable("NATS is away")

    assert system.privacy.announcements is not None
    system.privacy.announcements.announce = away
    erased = httpx.post(
        f"{url}/api/privacy/contacts/{contact_id}/erase",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["keys_destroyed"] >= 1
    assert EMAIL.encode() not in (tmp_path / "keys.db").read_bytes()
    trail = httpx.get(
        f"{url}/api/audit",
        params={"entity_id": contact_id, "action": "erase"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert len(trail["items"]) == 1
    with system.engine.connect() as conn:
        owed = conn.execute(sa.select(sa.func.count()).select_from(erasure_notices)).scalar()
    assert owed == 1


@pytest.mark.parametrize("role", ["ingest", "worker", "api", "all"])
def test_every_node_drops_an_erased_persons_key_when_another_process_erases_them(
    tmp_path: Path, role: Role
) -> None:
    """A node of any role (an ingest-only node and a worker follow no erasure notice in the
    log) that read a person's sealed traits stops opening them once another process (here
    `vigie privacy erase`'s parts) has erased the person: its erasures timer sees the
    erasure in the store and drops its cached keys, without waiting out the keys' cache."""
    from vigie.auth.audit import Actor
    from vigie.clock import SystemClock
    from vigie.crm.tables import contacts
    from vigie.lifecycle import Periodic
    from vigie.privacy import DataSubjects

    db_url, keys_url = f"sqlite:///{tmp_path}/vigie.db", f"sqlite:///{tmp_path}/keys.db"
    node = build_system(_settings(db_url, keys_url), role=role)  # type: ignore[arg-type]
    upgrade(node.engine)
    try:
        (timer,) = [c for c in node.services.components if c.name == "erasures-followed"]
        assert isinstance(timer, Periodic)
        timer.job()  # as when the node started
        (result,) = node.log.append_many(
            [AppendJob(events=[_identify(USER_ID, {"email": EMAIL})], source="web")]
        )
        offset = result.offsets[0]
        assert node.log.read(offset, 1)[0].traits == {"email": EMAIL}  # its key now cached
        with node.engine.begin() as conn:
            conn.execute(
                contacts.insert(),
                {"id": "ct_ada", "version": 1, "created_at": T0, "updated_at": T0,
                 "external_id": USER_ID, "anonymous_ids": [], "consent": {}},
            )  # fmt: skip
        elsewhere = SubjectKeys(connect(keys_url))
        DataSubjects(engine=node.engine, clock=SystemClock(), forget_keys=elsewhere.forget).erase(
            "ct_ada", actor=Actor(name="cli:dpo", role="admin")
        )
        timer.job()
        assert node.log.read(offset, 1)[0].traits == {}
    finally:
        node.engine.dispose()
