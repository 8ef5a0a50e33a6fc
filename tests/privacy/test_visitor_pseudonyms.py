"""Issue 17: visitor ids pseudonymised with a keyed hash, whoever appends. A browser's page
views (ingested) and its chat (appended by the chat) land in the log under one pseudonym and
never under the id the browser holds, while everything the browser or a user asks for by that
id — its chat, its journey, its events, its chat invitations — is still found."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.chat.conftest import CONFIG, LUNCH, ChatServer
from tests.chat.test_api import invite_one_of_two
from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.web.conftest import dashboard_db  # noqa: F401 - the SQLite and PostgreSQL stores
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.events.event import decode_event
from vigie.privacy.pseudonyms import Pseudonymiser
from vigie.privacy.shredding import SEALED
from vigie.store import connect, schema
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

KEY = "pseudonym-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def server(dashboard_db: str) -> Iterator[ChatServer]:  # noqa: F811
    """The chat test server (agents on duty, a playbook inviting `/lunch-deal/*` visitors)
    with `privacy.visitor_ids.pseudonymise: true`, on SQLite and on PostgreSQL."""
    config_doc = copy.deepcopy(CONFIG)
    config_doc["privacy"] = {"visitor_ids": {"pseudonymise": True, "key": KEY}}
    config = parse_config(yaml.safe_dump(config_doc), origin="pseudonym test config")
    clock = ManualClock(LUNCH)
    app = create_app(build_system(make_settings(dashboard_db, config), clock=clock))
    with BackgroundServer(app, port=free_port()) as running:
        system: System = app.state.system
        tokens = {
            name: user_token(system, username=name, role=role)
            for name, role in (("ana", "support"), ("admin", "admin"))
        }
        yield ChatServer(url=running.url, system=system, clock=clock, tokens=tokens)


def _browser() -> str:
    return f"browser-{uuid.uuid4().hex[:12]}"


def _page_view(server: ChatServer, browser: str, path: str) -> None:
    sent = httpx.post(
        f"{server.url}/v1/batch",
        auth=(WRITE_KEY, ""),
        json={"batch": [{"type": "page", "anonymousId": browser, "name": path,
                         "properties": {"path": path}, "context": {"ip": "203.0.113.42"}}]},
        timeout=30,
    )  # fmt: skip
    assert sent.status_code == 200, sent.text


def _stored_rows(server: ChatServer) -> list[tuple[str | None, bytes]]:
    """Every event row of the store as written: its visitor id column and its body."""
    table = schema.events
    with server.system.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.anonymous_id, table.c.body)).all()
    return [(row[0], bytes(row[1])) for row in rows]


def test_a_browsers_page_view_and_chat_land_under_one_pseudonym(server: ChatServer) -> None:
    """The ingested page view and the chat the same browser starts are stored under the
    browser id's keyed hash (the same for both), never under the id itself; the widget still
    finds its open conversation by the id it holds, and the visitor's words reach it."""
    server.clock.set(LUNCH)
    browser = _browser()
    pseudonym = Pseudonymiser(KEY)(browser)
    _page_view(server, browser, "/lunch-deal/checkout")
    token = server.session(browser)["token"]
    started = server.widget("start", {"anonymousId": browser, "token": token, "text": "Bonjour"})
    assert started.status_code == 200, started.text
    assert [m["text"] for m in started.json()["messages"]] == ["Bonjour"]

    mine = [c["id"] for c in server.session(browser, token)["conversations"]]
    assert mine == [started.json()["id"]]
    rows = _stored_rows(server)
    assert not [body for _, body in rows if browser.encode() in body]
    assert browser not in {visitor for visitor, _ in rows}
    theirs = [decode_event(body) for visitor, body in rows if visitor == pseudonym]
    assert sorted(str(e.event or e.type) for e in theirs) == [
        "Chat Message", "Chat Started", "page"
    ]  # fmt: skip
    (page,) = [e for e in theirs if e.type == "page"]
    assert page.context["ip"] == "203.0.113.0"
    seen_by_agent = httpx.get(
        f"{server.url}/api/chat/conversations/{started.json()['id']}",
        headers=server.agent("ana"),
        timeout=30,
    ).json()
    assert seen_by_agent["anonymous_id"] == pseudonym


def test_the_journey_and_the_events_are_found_by_the_browsers_own_id(server: ChatServer) -> None:
    """`/api/visitors/{id}/journey`, `/api/profiles/{id}` and `/api/events?anonymous_id=`
    asked with the id the browser holds answer with the pseudonymised visitor's pages."""
    browser = _browser()
    pseudonym = Pseudonymiser(KEY)(browser)
    _page_view(server, browser, "/pricing")
    admin = server.agent("admin")
    journey = httpx.get(
        f"{server.url}/api/visitors/{browser}/journey", headers=admin, timeout=30
    ).json()
    assert journey["visitor_ids"] == [pseudonym]
    assert [s["path"] for sess in journey["sessions"] for s in sess["steps"]] == ["/pricing"]
    profile = httpx.get(f"{server.url}/api/profiles/{browser}", headers=admin, timeout=30).json()
    assert profile["profile_id"] == pseudonym
    events = httpx.get(
        f"{server.url}/api/events", params={"anonymous_id": browser}, headers=admin, timeout=30
    ).json()["events"]
    assert [(e["type"], e["anonymous_id"]) for e in events] == [("page", pseudonym)]
    by_pseudonym = httpx.get(
        f"{server.url}/api/visitors/{pseudonym}/journey", headers=admin, timeout=30
    ).json()
    assert by_pseudonym["sessions"] == journey["sessions"], "a stored id is its own pseudonym"


def test_invitations_reach_the_browser_and_consent_follows_the_contacts_ids(
    server: ChatServer,
) -> None:
    """A contact created with the browser's own id is stored with its pseudonym, so that
    `chat.invite` leaves out the browser of a contact without marketing consent, and reaches
    an unknown browser whose widget connected with the id it holds."""
    server.clock.set(LUNCH + timedelta(minutes=5))
    admin = server.agent("admin")
    refusing, unknown = _browser(), _browser()
    contact = httpx.post(
        f"{server.url}/api/contacts",
        json={"first_name": "Noé", "anonymous_ids": [refusing]},
        headers=admin,
        timeout=30,
    )
    assert contact.status_code == 201, contact.text
    assert contact.json()["anonymous_ids"] == [Pseudonymiser(KEY)(refusing)]

    invitation, stray = asyncio.run(
        invite_one_of_two(server, admin, (unknown, "/lunch-deal/"), (refusing, "/lunch-deal/"))
    )
    assert invitation["message"] == "Un souci ? / A problem?"
    assert not stray, "the contact without marketing consent was invited"
    assert json.dumps(contact.json()).find(refusing) == -1


def test_with_crypto_shredding_a_chat_is_sealed_for_the_pseudonym(tmp_path: Path) -> None:
    """With both safeguards on, the writer pseudonymises before it seals: the visitor's
    words are stored sealed under the key of their pseudonym (the key store knows no raw id),
    and the log's readers see them opened."""
    config_doc = copy.deepcopy(CONFIG)
    config_doc["privacy"] = {
        "visitor_ids": {"pseudonymise": True, "key": KEY},
        "shredding": {"keys": f"sqlite:///{tmp_path}/keys.db"},
    }
    config = parse_config(yaml.safe_dump(config_doc), origin="pseudonym test config")
    settings = make_settings(f"sqlite:///{tmp_path}/vigie.db", config)
    clock = ManualClock(LUNCH)
    app = create_app(build_system(settings, clock=clock))
    with BackgroundServer(app, port=free_port()) as running:
        system: System = app.state.system
        server = ChatServer(url=running.url, system=system, clock=clock, tokens={})
        browser = _browser()
        token = server.session(browser)["token"]
        words = "call me on +32 470 55 66 77"
        started = server.widget("start", {"anonymousId": browser, "token": token, "text": words})
        assert started.status_code == 200, started.text
        rows = _stored_rows(server)
        assert not [body for _, body in rows if browser.encode() in body or b"470 55" in body]
        (message,) = [e for _, body in rows if (e := decode_event(body)).event == "Chat Message"]
        assert message.anonymous_id == Pseudonymiser(KEY)(browser) and SEALED in message.properties
        (opened,) = system.log.recent(event="Chat Message", limit=5)
        assert opened.properties["text"] == words
    keys = connect(f"sqlite:///{tmp_path}/keys.db")
    with keys.connect() as conn:
        subjects = conn.exec_driver_sql("SELECT subject FROM subject_keys").scalars().all()
    keys.dispose()
    assert subjects == [Pseudonymiser(KEY)(browser)]
