"""What a person wrote, or what staff wrote about them, is gone after their erasure: an
integration's interaction edited through the API, and the website chat's transcripts, on
SQLite and PostgreSQL, with crypto-shredding on and off (the store, its event log as stored,
and the API's answers are searched for the text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import WRITE_KEY, LiveServer, free_port, make_settings, user_token
from tests.privacy.test_erasure import _table_dump
from tests.privacy.test_rings import wait_until
from vigie.chat.conversations import MESSAGE, STARTED, chat_event
from vigie.chat.processor import ChatProcessor
from vigie.chat.tables import conversations
from vigie.config import Config, Source
from vigie.log.eventlog import AppendJob
from vigie.privacy.config import PrivacyConfig, ShreddingSettings
from vigie.store import connect, upgrade
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

USER_ID = "user-ft-5150"
VISITOR = "anon-ft-0042"
CONTACT = {"first_name": "Ines", "last_name": "Marlowe", "email": "ines.marlowe@example.org",
           "external_id": USER_ID, "anonymous_ids": [VISITOR]}  # fmt: skip


@pytest.fixture(params=["clear", "sealed"])
def served(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on `db_url` with its log in the store, crypto-shredding off or on."""
    keys = f"sqlite:///{tmp_path}/keys.db" if request.param == "sealed" else None
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=ShreddingSettings(keys=keys)),
    )
    app = create_app(build_system(make_settings(db_url, config)))
    with BackgroundServer(app, port=free_port()) as running:
        system = app.state.system
        token = user_token(system, username="dpo", role="admin")
        yield LiveServer(url=running.url, write_key=WRITE_KEY, system=system, admin_token=token)


def _contact(api: httpx.Client) -> str:
    created = api.post("/api/contacts", json=CONTACT)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _interactions(api: httpx.Client, contact_id: str, kind: str) -> list[dict[str, Any]]:
    found = api.get("/api/interactions", params={"contact_id": contact_id, "kind": kind})
    assert found.status_code == 200, found.text
    return [i for i in found.json()["items"] if i["kind"] == kind]


def _answers(api: httpx.Client, contact_id: str) -> str:
    """What the API says of the contact: their interactions and their timeline."""
    answers = [
        api.get("/api/interactions", params={"contact_id": contact_id}),
        api.get(f"/api/contacts/{contact_id}/timeline"),
    ]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return json.dumps([a.json() for a in answers])


def test_staffs_edit_of_an_integrations_interaction_is_gone_after_erasure(
    served: LiveServer,
) -> None:
    """A call an integration reported (`Call Ended`) becomes the contact's interaction; staff
    write notes on it through the API. After the contact's erasure neither the store (its
    stored log included) nor the API holds those notes, while the interaction keeps what the
    integration said (its kind, its fact-named subject), as a replay of the log gives it."""
    notes = "She cried about her husband's redundancy, wants the cheaper plan"
    with httpx.Client(base_url=served.url, headers=served.admin, timeout=120) as api:
        contact_id = _contact(api)
        sent = httpx.post(
            f"{served.url}/v1/batch",
            auth=(WRITE_KEY, ""),
            json={"batch": [{"type": "track", "userId": USER_ID, "event": "Call Ended",
                             "messageId": "ft-call-1", "properties": {"duration": 300}}]},
            timeout=60,
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
        wait_until(lambda: _interactions(api, contact_id, "call"), "the call's interaction")
        [call] = _interactions(api, contact_id, "call")
        edited = api.patch(
            f"/api/interactions/{call['id']}",
            json={"summary": notes, "properties": {"mood": notes}},
        )
        assert edited.status_code == 200, edited.text
        wait_until(lambda: notes in json.dumps(_interactions(api, contact_id, "call")), "the edit")
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        answers = _answers(api, contact_id)
        [after] = _interactions(api, contact_id, "call")
    assert notes not in answers
    assert notes.encode() not in _table_dump(served.system.engine)
    assert (after["id"], after["subject"], after["summary"]) == (call["id"], "Call Ended", None)


def _chat(served: LiveServer, conversation: str, words: list[tuple[str, str]]) -> None:
    """A chat of the contact's visitor: its start, then each (sender, text) said."""
    at = datetime.now(UTC)
    events = [
        chat_event(STARTED, conversation, source="web", anonymous_id=VISITOR, at=at,
                   properties={"visitor_key": "vk-ft", "page": "/pricing"}),
        *(chat_event(MESSAGE, conversation, source="web", anonymous_id=VISITOR, at=at,
                     properties={"message_id": f"m{i}", "sender": sender, "text": text,
                                 **({"author": "agent-ana"} if sender == "agent" else {})})
          for i, (sender, text) in enumerate(words)),
    ]  # fmt: skip
    served.system.log.append_many([AppendJob(events=events, source="web")])


def test_a_known_visitors_chat_leaves_no_words_after_the_contacts_erasure(
    served: LiveServer, tmp_path: Path
) -> None:
    """The chat of a visitor stitched to a contact becomes the contact's interaction with its
    transcript. After the contact's erasure the words of both sides are nowhere in the store,
    its stored log or the API, the conversation keeps its messages' count, times and senders,
    and a replay of the log rebuilds the same transcript."""
    said = "My knee surgery went badly and I cannot work until March"
    answered = "So sorry to hear about your knee, I can pause the plan"
    with httpx.Client(base_url=served.url, headers=served.admin, timeout=120) as api:
        contact_id = _contact(api)
        _chat(served, "conv-ft-1", [("visitor", said), ("agent", answered)])
        wait_until(lambda: said in json.dumps(_interactions(api, contact_id, "chat")), "the chat")
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        answers = _answers(api, contact_id)
        [chat] = _interactions(api, contact_id, "chat")
    dump = _table_dump(served.system.engine)
    for words in (said, answered, "knee"):
        assert words not in answers and words.encode() not in dump, words
    transcript = chat["properties"]["transcript"]
    assert [(m["sender"], m["author"], m["text"]) for m in transcript] == [
        ("visitor", None, ""), ("agent", "agent-ana", "")
    ]  # fmt: skip
    replayed = connect(f"sqlite:///{tmp_path}/replayed.db")
    upgrade(replayed)
    ChatProcessor(replayed).process(served.system.log.read(1, 1000))
    with replayed.connect() as conn:
        body = conn.execute(sa.select(conversations.c.body)).scalar_one()
    assert [m["text"] for m in body["messages"]] == ["", ""]
    with served.system.engine.connect() as conn:
        stored = conn.execute(
            sa.select(conversations.c.body).where(conversations.c.id == "conv-ft-1")
        ).scalar_one()
    assert [(m["sender"], m["text"]) for m in stored["messages"]] == [
        ("visitor", ""), ("agent", "")
    ]  # fmt: skip


def test_a_strangers_chat_keeps_its_words(served: LiveServer) -> None:
    """Erasing a contact leaves another visitor's chat as it was."""
    words = "Do you deliver to Namur on Saturdays?"
    with httpx.Client(base_url=served.url, headers=served.admin, timeout=120) as api:
        contact_id = _contact(api)
        at = datetime.now(UTC)
        served.system.log.append_many([AppendJob(events=[
            chat_event(STARTED, "conv-ft-other", source="web", anonymous_id="anon-other",
                       at=at, properties={"visitor_key": "vk-o"}),
            chat_event(MESSAGE, "conv-ft-other", source="web", anonymous_id="anon-other",
                       at=at, properties={"message_id": "o1", "sender": "visitor",
                                          "text": words}),
        ], source="web")])  # fmt: skip

        def folded() -> bool:
            with served.system.engine.connect() as conn:
                return words.encode() in _table_dump(served.system.engine) and bool(
                    conn.execute(sa.select(conversations.c.id)).first()
                )

        wait_until(folded, "the stranger's chat")
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
    with served.system.engine.connect() as conn:
        body = conn.execute(sa.select(conversations.c.body)).scalar_one()
    assert [m["text"] for m in body["messages"]] == [words]


def test_a_chat_whose_conversation_was_purged_loses_its_transcript_at_erasure(
    served: LiveServer,
) -> None:
    """A chat interaction whose conversation the retention purge already took keeps its
    transcript in its summary and properties: the erasure blanks them (nothing can rebuild
    the conversation's words, which are then nowhere in the store)."""
    said = "The divorce means I need to move the delivery address"
    with httpx.Client(base_url=served.url, headers=served.admin, timeout=120) as api:
        contact_id = _contact(api)
        _chat(served, "conv-ft-purged", [("visitor", said)])
        wait_until(lambda: said in json.dumps(_interactions(api, contact_id, "chat")), "the chat")
        with served.system.engine.begin() as conn:
            conn.execute(conversations.delete().where(conversations.c.id == "conv-ft-purged"))
        erased = api.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        answers = _answers(api, contact_id)
    assert said not in answers and said.encode() not in _table_dump(served.system.engine)
