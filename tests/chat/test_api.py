"""The chat over HTTP and WebSocket against a real server: conversations into the CRM,
who may read what, invitations to the visitors present now, bad input and floods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
import websockets

from tests.chat.conftest import LUNCH, NIGHT, SHOP, ChatServer
from tests.conftest import WRITE_KEY, user_token
from vigie.clock import ManualClock
from vigie.system import build_system


def _visitor() -> str:
    return f"v-{uuid.uuid4().hex[:12]}"


def _start(
    server: ChatServer, anonymous_id: str, token: str, text: str, **more: Any
) -> dict[str, Any]:
    response = server.widget(
        "start", {"anonymousId": anonymous_id, "token": token, "text": text, **more}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _interaction(server: ChatServer, conversation_id: str) -> dict[str, Any]:
    """The CRM interaction of a conversation, once the projection has written it."""
    for _ in range(300):
        response = httpx.get(
            f"{server.url}/api/interactions/chat_{conversation_id}",
            headers=server.agent("admin"),
            timeout=30,
        )
        if response.status_code == 200:
            data: dict[str, Any] = response.json()
            return data
        asyncio.run(asyncio.sleep(0.05))
    raise AssertionError(f"no interaction for {conversation_id}: {response.text}")


def _lea_at_lunch(server: ChatServer) -> tuple[str, str]:
    """At lunchtime, a new visitor and the contact Léa they are: the visitor's id and the
    contact's."""
    server.clock.set(LUNCH)
    visitor = _visitor()
    contact = httpx.post(
        f"{server.url}/api/contacts",
        json={"first_name": "Léa", "anonymous_ids": [visitor]},
        headers=server.agent("admin"),
        timeout=30,
    )
    assert contact.status_code in (200, 201), contact.text
    return visitor, str(contact.json()["id"])


def test_a_conversation_lands_on_the_contacts_timeline(chat_server: ChatServer) -> None:
    """Visitor and agent talk; tags, outcome and the transcript show on the 360° timeline."""
    server = chat_server
    visitor, contact_id = _lea_at_lunch(server)
    token = server.session(visitor)["token"]
    opened = _start(
        server,
        visitor,
        token,
        "Le paiement <b>plante</b>",
        page="/lunch-deal/checkout",
        campaign={"name": "lunch-deal", "source": "newsletter"},
    )
    cid = opened["id"]
    ana = server.agent("ana")
    reply = httpx.post(
        f"{server.url}/api/chat/conversations/{cid}/messages",
        json={"text": "Je regarde ça"},
        headers=ana,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    # One owner: bo may not answer ana's conversation.
    other = httpx.post(
        f"{server.url}/api/chat/conversations/{cid}/messages",
        json={"text": "moi aussi"},
        headers=server.agent("bo"),
        timeout=30,
    )
    assert other.status_code == 403
    tagged = httpx.post(
        f"{server.url}/api/chat/conversations/{cid}/tags",
        json={"tags": ["Bug at checkout"]},
        headers=ana,
        timeout=30,
    )
    assert tagged.json()["tags"] == ["bug at checkout"]
    closed = httpx.post(
        f"{server.url}/api/chat/conversations/{cid}/close",
        json={"outcome": "bug reported"},
        headers=ana,
        timeout=30,
    )
    assert closed.json()["status"] == "closed"
    interaction = _interaction(server, cid)
    for _ in range(300):
        if interaction["properties"]["status"] == "closed":
            break
        asyncio.run(asyncio.sleep(0.05))
        interaction = _interaction(server, cid)
    props = interaction["properties"]
    assert props["tags"] == ["bug at checkout"] and props["outcome"] == "bug reported"
    assert props["campaign"] == "lunch-deal" and props["page"] == "/lunch-deal/checkout"
    assert [m["text"] for m in props["transcript"]] == [
        "Le paiement <b>plante</b>",
        "Je regarde ça",
    ]
    assert interaction["staff_id"] == "ana" and interaction["sentiment"] is not None
    timeline = httpx.get(
        f"{server.url}/api/contacts/{contact_id}/timeline",
        headers=server.agent("admin"),
        timeout=30,
    ).json()
    chats = [i for i in timeline["items"] if i["kind"] == "chat"]
    assert len(chats) == 1 and chats[0]["details"]["tags"] == ["bug at checkout"]
    assert chats[0]["details"]["outcome"] == "bug reported"
    assert "Je regarde ça" in chats[0]["details"]["transcript"]


def test_another_browser_cannot_read_or_write_the_conversation(chat_server: ChatServer) -> None:
    """A second token for the same anonymous id opens none of the first browser's chats."""
    server = chat_server
    server.clock.set(LUNCH)
    visitor = _visitor()
    first = server.session(visitor)
    cid = _start(server, visitor, first["token"], "mon adresse est 3 rue X")["id"]
    assert [c["id"] for c in server.session(visitor, first["token"])["conversations"]] == [cid]
    intruder = server.session(visitor)  # knows the anonymous id, not the token
    assert intruder["token"] != first["token"] and intruder["conversations"] == []
    said = server.widget(
        "say",
        {"anonymousId": visitor, "token": intruder["token"], "conversationId": cid, "text": "hi"},
    )
    assert said.status_code == 404
    forged = server.widget("mine", {"anonymousId": visitor, "token": first["token"][:-2] + "xx"})
    assert forged.status_code == 401 and forged.json()["field"] == "token"
    other_key = server.widget(
        "mine", {"anonymousId": visitor, "token": first["token"], "writeKey": "nope"}
    )
    assert other_key.status_code == 401 and other_key.json()["field"] == "writeKey"


def test_bad_input_gets_clear_errors_and_nothing_is_stored(chat_server: ChatServer) -> None:
    """Oversize, empty, NUL, non-JSON bodies and unknown ids are refused with the field."""
    server = chat_server
    server.clock.set(LUNCH + timedelta(minutes=5))
    visitor = _visitor()
    token = server.session(visitor)["token"]
    cid = _start(server, visitor, token, "bonjour")["id"]
    base = {"anonymousId": visitor, "token": token, "conversationId": cid}
    cases = [
        ({**base, "text": "x" * 2001}, 413, "text"),
        ({**base, "text": "   "}, 422, "text"),
        ({**base, "text": "a\x00b"}, 422, "text"),
        ({**base, "text": {"deep": [[[[1]]]]}}, 422, "text"),
        ({**base, "conversationId": "nope", "text": "hi"}, 404, "conversation_id"),
    ]
    for body, status, field in cases:
        response = server.widget("say", body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    huge = httpx.post(f"{server.url}/chat/v1/say", content=b"{" + b" " * 70_000 + b"}", timeout=30)
    assert huge.status_code == 413
    garbage = httpx.post(f"{server.url}/chat/v1/say", content=b"\xff\xfe", timeout=30)
    assert garbage.status_code == 400 and garbage.json()["field"] == "body"
    mine = server.widget("mine", {"anonymousId": visitor, "token": token}).json()
    assert [m["text"] for m in mine["conversations"][0]["messages"]] == ["bonjour"]


def test_a_flood_gets_429_with_retry_after(chat_server: ChatServer) -> None:
    """Past the visitor's limit the widget is told to wait; time passing lets it talk again."""
    server = chat_server
    server.clock.set(LUNCH + timedelta(minutes=10))
    visitor = _visitor()
    token = server.session(visitor)["token"]
    cid = _start(server, visitor, token, "1")["id"]
    statuses = [
        server.widget(
            "say", {"anonymousId": visitor, "token": token, "conversationId": cid, "text": str(i)}
        ).status_code
        for i in range(9)
    ]
    assert statuses[:7] == [200] * 7 and statuses[7:] == [429, 429]
    refused = server.widget(
        "say", {"anonymousId": visitor, "token": token, "conversationId": cid, "text": "x"}
    )
    assert int(refused.headers["retry-after"]) >= 1
    server.clock.advance(timedelta(minutes=1))
    ok = server.widget(
        "say", {"anonymousId": visitor, "token": token, "conversationId": cid, "text": "y"}
    )
    assert ok.status_code == 200


def test_the_offline_form_makes_a_ticket_due_next_morning(chat_server: ChatServer) -> None:
    """At night nobody is on duty: the widget says so and the form's ticket is due in the
    next working period (Tuesday 09:00 Brussels plus the response time), nobody pinged."""
    server = chat_server
    server.clock.set(NIGHT)
    try:
        visitor = _visitor()
        session = server.session(visitor)
        assert session["online"] is False
        bad = server.widget(
            "offline", {"anonymousId": visitor, "token": session["token"], "text": "hi"}
        )
        assert bad.status_code == 422 and bad.json()["field"] == "email"
        done = server.widget(
            "offline",
            {
                "anonymousId": visitor,
                "token": session["token"],
                "email": "lea@example.be",
                "text": "Rappelez-moi",
            },
        )
        assert done.status_code == 200, done.text
        assert done.json()["due_at"].startswith("2026-05-05T08:")  # 09:00 + 60 min in Brussels
    finally:
        server.clock.set(LUNCH)


async def _socket(server: ChatServer, visitor: str, token: str, page: str) -> Any:
    url = server.url.replace("http", "ws") + "/chat/v1/ws"
    query = httpx.QueryParams(writeKey=WRITE_KEY, anonymousId=visitor, token=token, page=page)
    return await websockets.connect(f"{url}?{query}", origin=SHOP)  # type: ignore[arg-type]


async def _next(socket: Any, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
        if message["type"] == kind:
            return message


async def invite_one_of_two(
    server: ChatServer,
    admin: dict[str, str],
    invited: tuple[str, str],
    passed_over: tuple[str, str],
) -> tuple[dict[str, Any], bool]:
    """Two visitors' widgets open on their pages and an agent's console on the stream, run the
    `invite-lunch` playbook: the invitation `invited` received, and whether `passed_over`
    received one too (within half a second)."""
    first = await _socket(server, invited[0], server.session(invited[0])["token"], invited[1])
    second = await _socket(
        server, passed_over[0], server.session(passed_over[0])["token"], passed_over[1]
    )
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "GET", f"{server.url}/api/chat/stream", headers=server.agent("ana")
        ) as console,
    ):
        lines = console.aiter_lines()  # kept open: leaving it would hang up
        while "hello" not in await anext(lines):
            pass
        ran = await client.post(
            f"{server.url}/api/playbooks/invite-lunch/run", json={}, headers=admin
        )
        assert ran.status_code == 200, ran.text
        invitation = await _next(first, "invitation")
    try:
        await asyncio.wait_for(_next(second, "invitation"), timeout=0.5)
        stray = True
    except TimeoutError:
        stray = False
    await first.close()
    await second.close()
    return invitation, stray


def test_invitations_reach_present_visitors_on_matching_pages(chat_server: ChatServer) -> None:
    """With an agent at the console, `chat.invite` pushes to the open widgets on
    `/lunch-deal/*` (not other pages); without one, the run says "no agent on duty"."""
    server = chat_server
    server.clock.set(LUNCH)
    admin = server.agent("admin")
    nobody = httpx.post(
        f"{server.url}/api/playbooks/invite-lunch/run", json={}, headers=admin, timeout=30
    )
    assert "no agent on duty" in nobody.text
    server.clock.advance(timedelta(seconds=1))  # a manual run is once per instant

    lunch, other = _visitor(), _visitor()
    invitation, stray = asyncio.run(
        invite_one_of_two(server, admin, (lunch, "/lunch-deal/?utm=x"), (other, "/about"))
    )
    assert invitation["message"] == "Un souci ? / A problem?" and invitation["run_id"]
    assert not stray


def test_messages_go_both_ways_over_the_websocket(chat_server: ChatServer) -> None:
    """The widget's frames open and continue a conversation; the agent's reply, typing and
    read receipts arrive on the socket; a bad frame is answered, not fatal."""
    server = chat_server
    server.clock.set(LUNCH)
    visitor = _visitor()
    token = server.session(visitor)["token"]

    async def scenario() -> list[dict[str, Any]]:
        socket = await _socket(server, visitor, token, "/checkout")
        await socket.send("not json")
        bad = await _next(socket, "reply")
        assert bad["ok"] is False and bad["error"]["field"] == "body"
        await socket.send(json.dumps({"type": "start", "ref": 1, "text": "allo ?"}))
        started = await _next(socket, "reply")
        assert started["ok"], started
        cid = started["result"]["id"]
        async with httpx.AsyncClient(timeout=30) as client:
            base = f"{server.url}/api/chat/conversations/{cid}"
            ana = server.agent("ana")
            await client.post(f"{base}/typing", headers=ana)
            await client.post(f"{base}/messages", json={"text": "Oui ?"}, headers=ana)
            message_id = started["result"]["messages"][0]["id"]
            await client.post(f"{base}/read", json={"message_id": message_id}, headers=ana)
        got = [await _next(socket, kind) for kind in ("typing", "message", "read")]
        await socket.close()
        return got

    typing, message, read = asyncio.run(scenario())
    assert typing["sender"] == "agent" and read["sender"] == "agent"
    assert message["message"]["text"] == "Oui ?" and message["message"]["author"] == "ana"


def test_a_page_elsewhere_may_not_open_the_socket(chat_server: ChatServer) -> None:
    """A WebSocket from a site the source does not list is refused (no CORS for sockets)."""
    server = chat_server
    visitor = _visitor()
    token = server.session(visitor)["token"]

    async def scenario() -> None:
        url = server.url.replace("http", "ws") + "/chat/v1/ws"
        query = httpx.QueryParams(writeKey=WRITE_KEY, anonymousId=visitor, token=token)
        socket = await websockets.connect(f"{url}?{query}", origin="https://evil.example")  # type: ignore[arg-type]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), timeout=30)

    # Refused during the handshake is refused too.
    with contextlib.suppress(websockets.InvalidStatus):
        asyncio.run(scenario())
    response = server.widget("mine", {"anonymousId": visitor, "token": token})
    assert response.headers["access-control-allow-origin"] == SHOP
    elsewhere = httpx.post(
        f"{server.url}/chat/v1/mine",
        headers={"Origin": "https://evil.example"},
        content=json.dumps({"writeKey": WRITE_KEY, "anonymousId": visitor, "token": token}),
        timeout=30,
    )
    assert "access-control-allow-origin" not in elsewhere.headers


def test_a_visitor_who_closes_an_invitation_is_not_invited_again(chat_server: ChatServer) -> None:
    """After "No thanks" the visitor is left alone for the session; other visitors are not,
    and the next session may be invited again."""
    server = chat_server
    server.clock.set(LUNCH + timedelta(minutes=30))
    shy, keen = _visitor(), _visitor()
    tokens = {v: server.session(v)["token"] for v in (shy, keen)}
    assert server.widget("dismiss", {"anonymousId": shy, "token": tokens[shy]}).status_code == 200

    async def scenario() -> tuple[dict[str, Any], bool, list[str]]:
        quiet = await _socket(server, shy, tokens[shy], "/lunch-deal")
        invited = await _socket(server, keen, tokens[keen], "/lunch-deal")
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream(
                "GET", f"{server.url}/api/chat/stream", headers=server.agent("ana")
            ) as console,
        ):
            lines = console.aiter_lines()  # kept open: leaving it would hang up
            while "hello" not in await anext(lines):
                pass
            ran = await client.post(
                f"{server.url}/api/playbooks/invite-lunch/run",
                json={},
                headers=server.agent("admin"),
            )
            assert ran.status_code == 200, ran.text
            invitation = await _next(invited, "invitation")
        try:
            await asyncio.wait_for(_next(quiet, "invitation"), timeout=0.5)
            bothered = True
        except TimeoutError:
            bothered = False
        server.clock.advance(timedelta(minutes=31))  # the session is over
        later = server.system.chat.present(page="/lunch-deal", limit=10)
        await quiet.close()
        await invited.close()
        return invitation, bothered, later

    invitation, bothered, later = asyncio.run(scenario())
    assert invitation["type"] == "invitation" and not bothered
    assert shy in later and keen in later


def _kpis(server: ChatServer) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/chat/kpis", headers=server.agent("ana"), timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_the_chat_kpis_follow_conversations_live(chat_server: ChatServer) -> None:
    """A conversation answered, tagged and closed as a sale, then an order from the visitor,
    show in the live KPIs: one more conversation, closed and resolved, its objection under
    its campaign, and a conversion after a chat the visitor opened."""
    import time

    server = chat_server
    server.clock.set(LUNCH)
    before = _kpis(server)
    visitor = _visitor()
    token = server.session(visitor)["token"]
    cid = _start(server, visitor, token, "Trop cher ?", campaign={"name": "kpi-week"})["id"]
    ana = server.agent("ana")
    for path, body in (
        ("messages", {"text": "Voici un code promo"}),
        ("tags", {"tags": ["price"]}),
        ("close", {"outcome": "sale"}),
    ):
        answer = httpx.post(
            f"{server.url}/api/chat/conversations/{cid}/{path}", json=body, headers=ana, timeout=30
        )
        assert answer.status_code == 200, answer.text
    order = httpx.post(
        f"{server.url}/v1/track",
        json={"event": "Order Completed", "anonymousId": visitor},
        auth=(WRITE_KEY, ""),
        timeout=30,
    )
    assert order.status_code == 200, order.text
    deadline = time.monotonic() + 30
    after = _kpis(server)
    while time.monotonic() < deadline and (
        after["closed"] == before["closed"] or "kpi-week" not in after["objections"]
    ):
        time.sleep(0.1)
        after = _kpis(server)
    assert after["conversations"] == before["conversations"] + 1
    assert after["closed"] == before["closed"] + 1
    assert after["resolved"] == before["resolved"] + 1
    assert after["answered"] == before["answered"] + 1
    assert after["objections"]["kpi-week"] == {"price": 1}
    reactive = before["conversations"] - before["proactive"]
    converted_before = round((before["conversion_after_visitor_chat"] or 0) * reactive)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = _kpis(server)
        rate = after["conversion_after_visitor_chat"] or 0
        if round(rate * (reactive + 1)) == converted_before + 1:
            break
        time.sleep(0.1)
    assert round(after["conversion_after_visitor_chat"] * (reactive + 1)) == converted_before + 1


def test_the_chat_kpis_need_a_signed_in_user(chat_server: ChatServer) -> None:
    """Nobody reads the chat's KPIs without signing in."""
    assert httpx.get(f"{chat_server.url}/api/chat/kpis", timeout=30).status_code == 401


def test_a_salesperson_reads_the_queue_and_their_own_chats_not_a_colleagues(
    chat_server: ChatServer,
) -> None:
    """Issue 17: a conversation nobody has answered is the whole desk's; once a salesperson
    answers it, another salesperson neither finds it in the inbox nor reads it (404), while
    its agent and the support desk (who see every chat) still do."""
    server = chat_server
    server.clock.set(LUNCH)
    sales = {
        name: {"Authorization": f"Bearer {user_token(server.system, username=name, role='sales')}"}
        for name in ("sam", "sue")
    }
    visitor = _visitor()
    cid = _start(server, visitor, server.session(visitor)["token"], "un devis ?")["id"]
    url = f"{server.url}/api/chat/conversations/{cid}"

    def inbox(headers: dict[str, str]) -> set[str]:
        listed = httpx.get(f"{server.url}/api/chat/inbox", headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        return {c["id"] for c in listed.json()["conversations"]}

    assert cid in inbox(sales["sue"]) and httpx.get(url, headers=sales["sue"]).status_code == 200
    taken = httpx.post(f"{url}/messages", json={"text": "Bonjour"}, headers=sales["sam"])
    assert taken.status_code == 200, taken.text
    assert cid not in inbox(sales["sue"])
    assert httpx.get(url, headers=sales["sue"]).status_code == 404
    assert cid in inbox(sales["sam"]) and httpx.get(url, headers=sales["sam"]).status_code == 200
    assert cid in inbox(server.agent("ana"))
    assert httpx.get(url, headers=server.agent("ana")).json()["owner"] == "sam"


def test_a_website_write_key_cannot_forge_chat_events(chat_server: ChatServer) -> None:
    """The chat's own events sent to the public ingestion with the site's write key (an
    agent's reply and a close in the visitor's real conversation, a whole made-up one) are
    refused naming the field and the reason, kept as rejects, and count nowhere: neither in
    the chat's KPIs nor in the conversation; the batch's other events are kept."""
    import time

    server = chat_server
    server.clock.set(LUNCH + timedelta(minutes=40))
    visitor = _visitor()
    token = server.session(visitor)["token"]
    cid = _start(server, visitor, token, "Ça marche ?")["id"]
    before = _kpis(server)
    forged_cid = uuid.uuid4().hex
    at = (LUNCH + timedelta(minutes=41)).isoformat()

    def track(name: str, conversation: str, **properties: Any) -> dict[str, Any]:
        return {"type": "track", "event": name, "anonymousId": visitor, "timestamp": at,
                "messageId": uuid.uuid4().hex,
                "properties": {"conversation_id": conversation, **properties}}  # fmt: skip

    forged = [
        track("Chat Message", cid, sender="agent", author="ana", text="Commandez ici"),
        track("Chat Closed", cid, outcome="sale"),
        track("Chat Started", forged_cid),
        track("Chat Message", forged_cid, sender="visitor", text="?"),
        track("Chat Message", forged_cid, sender="agent", author="bo", text="!"),
        track("Chat Tagged", forged_cid, tags=["forged"]),
        track("Chat Offline Message", forged_cid, text="hi"),
    ]
    kept = track("Newsletter Opened", cid)
    answer = httpx.post(
        f"{server.url}/v1/batch", json={"batch": [*forged, kept]}, auth=(WRITE_KEY, ""), timeout=30
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["accepted"] == 1
    refused = {r["messageId"]: r for r in body["rejected"]}
    assert set(refused) == {m["messageId"] for m in forged}
    for message in forged:
        rejection = refused[message["messageId"]]
        assert rejection["field"] == "event"
        assert f"{message['event']!r} is reserved" in rejection["reason"]
    stored = httpx.get(f"{server.url}/api/rejected", headers=server.agent("admin"), timeout=30)
    reasons = {r.get("message_id"): r["reason"] for r in stored.json()["rejected"]}
    assert all("is reserved" in reasons.get(m["messageId"], "") for m in forged), reasons

    system = server.system
    last = system.log.last_offset()
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and min(system.runner.position(name) for name in ("chat", "chat-kpis")) <= last
    ):
        time.sleep(0.05)
    after = _kpis(server)
    for figure in ("conversations", "answered", "closed", "resolved", "objections"):
        assert after[figure] == before[figure], figure
    seen = httpx.get(
        f"{server.url}/api/chat/conversations/{cid}", headers=server.agent("ana"), timeout=30
    ).json()
    assert [(m["sender"], m["text"]) for m in seen["messages"]] == [("visitor", "Ça marche ?")]
    assert seen["status"] == "open"
    assert not system.log.recent(event="Chat Offline Message", anonymous_id=visitor, limit=5)


def test_a_closed_conversation_read_after_its_visitors_erasure_shows_none_of_them(
    chat_server: ChatServer,
) -> None:
    """Conversations closed, or still open, at their visitor's erasure are read afterwards
    as the erasure left the store: neither the visitor's id nor the e-mail they typed."""
    server = chat_server
    server.clock.set(LUNCH)
    visitor = _visitor()
    email = f"{visitor}@example.org"
    contact = httpx.post(
        f"{server.url}/api/contacts",
        json={"first_name": "Léa", "email": email, "anonymous_ids": [visitor]},
        headers=server.agent("admin"),
        timeout=30,
    )
    assert contact.status_code in (200, 201), contact.text
    token = server.session(visitor)["token"]
    cid = _start(server, visitor, token, f"Écrivez-moi à {email}")["id"]
    still_open = _start(server, visitor, token, f"Toujours {email}")["id"]
    closed = httpx.post(
        f"{server.url}/api/chat/conversations/{cid}/close",
        json={"outcome": "answered"},
        headers=server.agent("ana"),
        timeout=30,
    )
    assert closed.status_code == 200, closed.text
    erased = httpx.post(
        f"{server.url}/api/privacy/contacts/{contact.json()['id']}/erase",
        headers=server.agent("admin"),
        timeout=60,
    )
    assert erased.status_code == 200, erased.text
    for conversation in (cid, still_open):
        read = httpx.get(
            f"{server.url}/api/chat/conversations/{conversation}",
            headers=server.agent("admin"),
            timeout=30,
        )
        assert read.status_code == 200, read.text
        assert email not in read.text and visitor not in read.text


def test_a_conversation_id_with_a_nul_or_wildcards_is_unknown(chat_server: ChatServer) -> None:
    """A conversation id holding a NUL, NATS wildcards or 65 characters, in the widget's
    body, answers 404 naming the field (it was a 500 on PostgreSQL for the NUL); in the
    console's path, 404, or 422 for the NUL every path refuses: never a store's error."""
    server = chat_server
    server.clock.set(LUNCH + timedelta(minutes=7))
    visitor = _visitor()
    token = server.session(visitor)["token"]
    for cid in ("a\x00b", "*", ">", "c1.>", "x" * 65):
        said = server.widget(
            "say", {"anonymousId": visitor, "token": token, "conversationId": cid, "text": "hi"}
        )
        assert (said.status_code, said.json().get("field")) == (404, "conversation_id"), cid
        read = httpx.get(
            f"{server.url}/api/chat/conversations/{quote(cid, safe='')}",
            headers=server.agent("ana"),
            timeout=30,
        )
        assert read.status_code == (422 if "\x00" in cid else 404), (cid, read.text)


def test_a_fresh_nodes_inbox_reads_the_stored_conversations_in_one_query(
    chat_server: ChatServer,
) -> None:
    """A node that holds no conversation yet (just started) lists the same inbox, in the
    same order, as the node that served them, reading their stored copies in one query
    rather than one each."""
    server = chat_server
    server.clock.set(LUNCH)
    for n in range(5):
        visitor = _visitor()
        server.clock.set(LUNCH + timedelta(seconds=n))
        _start(server, visitor, server.session(visitor)["token"], f"question {n}")
    served = httpx.get(f"{server.url}/api/chat/inbox", headers=server.agent("admin"), timeout=30)
    expected = served.json()["conversations"]
    for conversation in expected:
        _interaction(server, conversation["id"])  # the projection has stored it
    fresh = build_system(server.system.settings, clock=ManualClock(LUNCH))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "chat_conversations" in statement:
            statements.append(statement)

    sa.event.listen(fresh.engine, "before_cursor_execute", seen)
    try:
        listed = asyncio.run(fresh.chat.inbox())
    finally:
        sa.event.remove(fresh.engine, "before_cursor_execute", seen)
        fresh.engine.dispose()
    assert listed == expected
    assert len(statements) == 2  # the open conversations' ids, then their stored copies


def test_a_conversation_whose_visitor_was_erased_takes_no_more_messages(
    chat_server: ChatServer,
) -> None:
    """An open conversation whose visitor is erased is closed to changes: an agent's reply
    afterwards answers 410 naming it, the conversation keeps what the erasure left of it
    (its one message, without its words), and it leaves the inbox (nobody can answer it)."""
    server = chat_server
    visitor, contact_id = _lea_at_lunch(server)
    cid = _start(server, visitor, server.session(visitor)["token"], "Vous êtes là ?")["id"]
    _interaction(server, cid)  # the projection has stored it
    erased = httpx.post(
        f"{server.url}/api/privacy/contacts/{contact_id}/erase",
        headers=server.agent("admin"),
        timeout=60,
    )
    assert erased.status_code == 200, erased.text
    url = f"{server.url}/api/chat/conversations/{cid}"
    reply = httpx.post(
        f"{url}/messages", json={"text": "Oui !"}, headers=server.agent("ana"), timeout=30
    )
    assert reply.status_code == 410, reply.text
    assert cid in reply.json()["detail"]
    seen = httpx.get(url, headers=server.agent("ana"), timeout=30).json()
    assert [(m["sender"], m["text"]) for m in seen["messages"]] == [("visitor", "")]
    inbox = httpx.get(f"{server.url}/api/chat/inbox", headers=server.agent("ana"), timeout=30)
    assert cid not in {c["id"] for c in inbox.json()["conversations"]}
