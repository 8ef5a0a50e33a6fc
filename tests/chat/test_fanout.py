"""The chat on two API nodes sharing one NATS JetStream stream (issue 16): a visitor on one
node and the agents on another talk live, in one order; a take on one node leaves a
salesperson's console on the other; presence, typing, invitations and "no agent on duty"
hold across nodes; a node started later serves the history; the transcript is stored once
(by a `vigie worker` of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
import yaml

from tests.chat.conftest import CONFIG, LUNCH, NIGHT, SHOP
from tests.conftest import (
    NATS_URL,
    WRITE_KEY,
    free_port,
    make_settings,
    port_open,
    require_service,
    user_token,
)
from tests.web.conftest import dashboard_db  # noqa: F401 - the SQLite and PostgreSQL stores
from vigie.chat import conversations as chat
from vigie.chat.fanout import HISTORY_PAGE, SharedHub
from vigie.chat.tables import conversations as conversations_table
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.crm import tables as crm
from vigie.events import Event
from vigie.log.eventlog import AppendJob
from vigie.log.nats import NatsEventLog, parse_nats_url
from vigie.log.sql import SqlEventLog
from vigie.playbooks.outputs import chat_invitations
from vigie.store import connect, upgrade
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

WAIT = 30.0


@dataclass
class Node:
    """One API node: its URL, its system and its clock."""

    url: str
    system: System
    clock: ManualClock


@dataclass
class Cluster:
    """Two API nodes on one stream and store, and the tokens of the people who use them."""

    a: Node
    b: Node
    log_url: str
    db_url: str
    tokens: dict[str, str]

    def headers(self, name: str) -> dict[str, str]:
        """Authenticate as `name`."""
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def at(self, moment: Any) -> None:
        """Set both nodes' clocks."""
        self.a.clock.set(moment)
        self.b.clock.set(moment)


def _nats_log_url() -> str:
    parsed = parse_nats_url(NATS_URL)
    host, _, port = parsed.servers.split("://", 1)[1].partition(":")
    if not port_open(host, int(port or 4222)):
        require_service("NATS JetStream", f"nothing listens on {host}:{port}")
    name = f"C{uuid.uuid4().hex[:10].upper()}"
    return f"{parsed.servers}?stream={name}&prefix=vigietest.{name.lower()}"


@contextlib.contextmanager
def _node(db_url: str, log_url: str, config: dict[str, Any] = CONFIG) -> Iterator[Node]:
    """An API node (in this process) on the shared store and stream."""
    parsed = parse_config(yaml.safe_dump(config), origin="chat fan-out test config")
    settings = make_settings(db_url, parsed)
    settings.log_url = log_url
    clock = ManualClock(LUNCH)
    system = build_system(settings, clock=clock, role="api")
    with BackgroundServer(create_app(system), port=free_port()) as server:
        yield Node(url=server.url, system=system, clock=clock)


@pytest.fixture(scope="module")
def cluster(
    dashboard_db: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Nodes A and B and a `vigie worker` (the transcripts' projection) on SQLite and on
    PostgreSQL, on a JetStream stream of their own, removed afterwards."""
    log_url = _nats_log_url()
    config_file = tmp_path_factory.mktemp("fanout") / "vigie.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    worker = None
    try:
        with _node(dashboard_db, log_url) as a, _node(dashboard_db, log_url) as b:
            tokens = {
                name: user_token(a.system, username=name, role=role)
                for name, role in (
                    ("ana", "support"),
                    ("admin", "admin"),
                    ("sam", "sales"),
                    ("sue", "sales"),
                )
            }
            worker = subprocess.Popen(
                [sys.executable, "-m", "vigie", "worker", "--db", dashboard_db, "--log", log_url,
                 "--config", str(config_file)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
            )  # fmt: skip
            yield Cluster(a=a, b=b, log_url=log_url, db_url=dashboard_db, tokens=tokens)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        engine = connect(dashboard_db)
        log = NatsEventLog.from_url(log_url, rejects=SqlEventLog(engine))
        log.delete_stream()
        log.close()
        engine.dispose()


def _visitor() -> str:
    return f"v-{uuid.uuid4().hex[:12]}"


def _session(node: Node, anonymous_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{node.url}/chat/v1/session",
        content=json.dumps({"writeKey": WRITE_KEY, "anonymousId": anonymous_id}),
        headers={"Content-Type": "text/plain", "Origin": SHOP},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _socket(node: Node, visitor: str, token: str, page: str = "/checkout") -> Any:
    url = node.url.replace("http", "ws") + "/chat/v1/ws"
    query = httpx.QueryParams(writeKey=WRITE_KEY, anonymousId=visitor, token=token, page=page)
    return await websockets.connect(f"{url}?{query}", origin=SHOP)  # type: ignore[arg-type]


async def _next(socket: Any, kind: str) -> dict[str, Any]:
    """The next message of type `kind` on a widget's socket."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout=WAIT))
        if message["type"] == kind:
            return message


async def _frame(socket: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a widget frame and its reply's result."""
    await socket.send(json.dumps(frame))
    reply = await _next(socket, "reply")
    assert reply["ok"], reply
    result: dict[str, Any] = reply["result"]
    return result


@contextlib.asynccontextmanager
async def _console(
    client: httpx.AsyncClient, node: Node, headers: dict[str, str]
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """An agent's console feed on `node`, connected (its hello read)."""
    async with client.stream("GET", f"{node.url}/api/chat/stream", headers=headers) as stream:
        lines = stream.aiter_lines()

        async def messages() -> AsyncIterator[dict[str, Any]]:
            async for line in lines:
                if line.startswith("data: "):
                    yield json.loads(line[6:])

        feed = messages()
        assert (await anext(feed))["type"] == "hello"
        yield feed


async def _until(feed: AsyncIterator[dict[str, Any]], kind: str, **match: Any) -> dict[str, Any]:
    """The next console message of type `kind` whose fields match."""

    async def find() -> dict[str, Any]:
        async for message in feed:
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message
        raise AssertionError(f"the console feed ended before a {kind!r}")

    return await asyncio.wait_for(find(), timeout=WAIT)


async def _said(feed: AsyncIterator[dict[str, Any]], sender: str) -> dict[str, Any]:
    """The next message `sender` said, on a console feed."""
    while True:
        message: dict[str, Any] = (await _until(feed, "message"))["message"]
        if message["sender"] == sender:
            return message


async def _listed(client: httpx.AsyncClient, node: Node, headers: dict[str, str], cid: str) -> None:
    """Wait until `node` lists conversation `cid` in the inbox `headers` read (another
    node's feed reads it within a moment)."""
    for _ in range(300):
        listed = await client.get(f"{node.url}/api/chat/inbox", headers=headers)
        if cid in {c["id"] for c in listed.json()["conversations"]}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{node.url} never listed {cid}")


def _conversation(node: Node, cid: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(f"{node.url}/api/chat/conversations/{cid}", headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_a_visitor_on_one_node_and_an_agent_on_another_talk_in_order(cluster: Cluster) -> None:
    """The visitor's widget on A opens a conversation that B's console is offered; the
    agent's reply on B reaches the widget on A, the visitor's next messages reach B in the
    order said, and the agent's typing crosses too."""
    cluster.at(LUNCH)
    visitor = _visitor()
    token = _session(cluster.a, visitor)["token"]
    ana = cluster.headers("ana")

    async def scenario() -> tuple[str, list[str]]:
        socket = await _socket(cluster.a, visitor, token)
        async with httpx.AsyncClient() as client, _console(client, cluster.b, ana) as console:
            started = await _frame(socket, {"type": "start", "ref": 1, "text": "bonjour ?"})
            cid = started["id"]
            offered = await _until(console, "conversation")
            assert offered["conversation"]["id"] == cid
            assert [m["text"] for m in offered["conversation"]["messages"]] == ["bonjour ?"]
            base = f"{cluster.b.url}/api/chat/conversations/{cid}"
            assert (await client.post(f"{base}/typing", headers=ana)).status_code == 200
            assert (await _next(socket, "typing"))["sender"] == "agent"
            reply = await client.post(f"{base}/messages", json={"text": "Oui ?"}, headers=ana)
            assert reply.status_code == 200, reply.text
            heard = await _next(socket, "message")
            assert heard["message"]["text"] == "Oui ?" and heard["message"]["author"] == "ana"
            for n in range(1, 4):
                await _frame(
                    socket, {"type": "say", "ref": n + 1, "conversationId": cid, "text": f"m{n}"}
                )
            said = [(await _said(console, "visitor"))["text"] for _ in range(3)]
        await socket.close()
        return cid, said

    cid, said = asyncio.run(scenario())
    assert said == ["m1", "m2", "m3"]
    texts = ["bonjour ?", "Oui ?", "m1", "m2", "m3"]
    for node in (cluster.a, cluster.b):
        assert [m["text"] for m in _conversation(node, cid, ana)["messages"]] == texts
    _stored_once(cluster, cid, texts)


def _stored_once(cluster: Cluster, cid: str, texts: list[str]) -> None:
    """The worker's projection holds one interaction for the conversation, whose transcript
    has each message once, in order."""
    engine = connect(cluster.db_url)
    try:
        for _ in range(600):
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(crm.interactions.c.properties).where(
                        crm.interactions.c.id == f"chat_{cid}"
                    )
                ).all()
            transcript = [m["text"] for m in rows[0].properties["transcript"]] if rows else []
            if transcript == texts:
                break
            asyncio.run(asyncio.sleep(0.1))
        with engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(crm.interactions)
                .where(crm.interactions.c.kind == "chat", crm.interactions.c.id.contains(cid))
            ).scalar_one()
    finally:
        engine.dispose()
    assert transcript == texts
    assert count == 1


def test_both_sides_at_once_give_one_order_on_every_node(cluster: Cluster) -> None:
    """Messages said at the same time on A (visitor) and B (agent) are held in the same
    order by both nodes: the stream's."""
    cluster.at(LUNCH)
    visitor = _visitor()
    token = _session(cluster.a, visitor)["token"]
    ana = cluster.headers("ana")

    async def scenario() -> str:
        socket = await _socket(cluster.a, visitor, token)
        cid = (await _frame(socket, {"type": "start", "ref": 0, "text": "start"}))["id"]
        base = f"{cluster.b.url}/api/chat/conversations/{cid}/messages"
        async with httpx.AsyncClient() as client:
            first = await client.post(base, json={"text": "a0"}, headers=ana)
            assert first.status_code == 200, first.text

            async def agent() -> None:
                for n in range(1, 6):
                    sent = await client.post(base, json={"text": f"a{n}"}, headers=ana)
                    assert sent.status_code == 200, sent.text

            async def widget() -> None:
                for n in range(5):
                    frame = {"type": "say", "ref": n + 1, "conversationId": cid, "text": f"v{n}"}
                    await _frame(socket, frame)

            await asyncio.gather(agent(), widget())
        await socket.close()
        return cid

    cid = asyncio.run(scenario())
    on_a = [m["id"] for m in _conversation(cluster.a, cid, ana)["messages"]]
    on_b = [m["id"] for m in _conversation(cluster.b, cid, ana)["messages"]]
    assert len(on_a) == 12 and len(set(on_a)) == 12
    assert on_a == on_b


def test_a_take_on_one_node_leaves_a_salespersons_console_on_another(cluster: Cluster) -> None:
    """The new conversation is in the queue Sue's console on B shows; when Sam takes it on A
    it is withdrawn from her console and her inbox on B; she may neither read it nor reply."""
    cluster.at(LUNCH)
    visitor = _visitor()
    token = _session(cluster.a, visitor)["token"]
    sue, sam = cluster.headers("sue"), cluster.headers("sam")

    async def scenario() -> str:
        socket = await _socket(cluster.a, visitor, token)
        async with httpx.AsyncClient() as client, _console(client, cluster.b, sue) as console:
            cid = (await _frame(socket, {"type": "start", "ref": 1, "text": "un devis ?"}))["id"]
            await _listed(client, cluster.b, sue, cid)
            taken = await client.post(
                f"{cluster.a.url}/api/chat/conversations/{cid}/assign",
                json={"to": "sam"},
                headers=sam,
            )
            assert taken.status_code == 200, taken.text
            await _until(console, "withdrawn", conversation_id=cid)
        await socket.close()
        return cid

    cid = asyncio.run(scenario())
    inbox = httpx.get(f"{cluster.b.url}/api/chat/inbox", headers=sue).json()
    assert cid not in {c["id"] for c in inbox["conversations"]}
    refused = httpx.post(
        f"{cluster.b.url}/api/chat/conversations/{cid}/messages", json={"text": "moi"}, headers=sue
    )
    assert refused.status_code == 403
    unseen = httpx.get(f"{cluster.b.url}/api/chat/conversations/{cid}", headers=sue)
    assert unseen.status_code == 404


def test_presence_and_invitations_cross_nodes(cluster: Cluster) -> None:
    """B lists the visitor whose widget is open on A and A the agent at B's console; a
    playbook run on A invites that visitor through B only while an agent is on duty and
    connected somewhere ("no agent on duty" at night, whoever is connected)."""
    visitor = _visitor()
    token = _session(cluster.b, visitor)["token"]
    ana, admin = cluster.headers("ana"), cluster.headers("admin")

    async def seen(node: Node, key: str, wanted: str) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                inbox = (await client.get(f"{node.url}/api/chat/inbox", headers=ana)).json()
                names = [v if isinstance(v, str) else v["anonymous_id"] for v in inbox[key]]
                if wanted in names:
                    return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{wanted} never listed in {key} on {node.url}")

    async def scenario() -> tuple[str, dict[str, Any]]:
        socket = await _socket(cluster.b, visitor, token, page="/lunch-deal/today")
        async with httpx.AsyncClient() as client, _console(client, cluster.b, ana):
            await seen(cluster.a, "visitors", visitor)
            await seen(cluster.a, "connected", "ana")
            cluster.at(NIGHT)
            night = await client.post(
                f"{cluster.a.url}/api/playbooks/invite-lunch/run", json={}, headers=admin
            )
            cluster.at(LUNCH + timedelta(seconds=2))
            ran = await client.post(
                f"{cluster.a.url}/api/playbooks/invite-lunch/run", json={}, headers=admin
            )
            assert ran.status_code == 200, ran.text
            invitation = await _next(socket, "invitation")
        await socket.close()
        return night.text, invitation

    night, invitation = asyncio.run(scenario())
    assert "no agent on duty" in night
    assert invitation["message"] == "Un souci ? / A problem?"


def test_a_node_started_later_serves_the_history_and_joins_the_talk(cluster: Cluster) -> None:
    """A node started after a conversation began gives the visitor's widget its history at
    once (read back from the log, whatever the projection's lag), and its agent's reply
    reaches the visitor on A."""
    cluster.at(LUNCH)
    visitor = _visitor()
    token = _session(cluster.a, visitor)["token"]
    ana = cluster.headers("ana")

    async def scenario() -> tuple[list[str] | None, dict[str, Any]]:
        socket = await _socket(cluster.a, visitor, token)
        cid = (await _frame(socket, {"type": "start", "ref": 1, "text": "avant"}))["id"]
        await _frame(socket, {"type": "say", "ref": 2, "conversationId": cid, "text": "encore"})
        with contextlib.ExitStack() as stack:
            c = await asyncio.to_thread(stack.enter_context, _node(cluster.db_url, cluster.log_url))
            async with httpx.AsyncClient() as client:
                mine = await client.post(
                    f"{c.url}/chat/v1/mine",
                    content=json.dumps(
                        {"writeKey": WRITE_KEY, "anonymousId": visitor, "token": token}
                    ),
                    headers={"Content-Type": "text/plain", "Origin": SHOP},
                )
                assert mine.status_code == 200, mine.text
                held = {
                    x["id"]: [m["text"] for m in x["messages"]]
                    for x in mine.json()["conversations"]
                }
                sent = await client.post(
                    f"{c.url}/api/chat/conversations/{cid}/messages",
                    json={"text": "réponse"},
                    headers=ana,
                )
                assert sent.status_code == 200, sent.text
            heard = await _next(socket, "message")
            await asyncio.to_thread(stack.close)
        await socket.close()
        return held.get(cid), heard

    history, heard = asyncio.run(scenario())
    assert history == ["avant", "encore"]
    assert heard["message"]["text"] == "réponse"


class _Wire:
    """An in-memory notes channel between `SharedHub`s (what NATS core pub/sub does)."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def last_offset(self) -> int:
        return 0

    def read_topic(self, topic: str, after: int = 0, limit: int | None = None) -> list[Any]:
        return []

    def follow_topics(self, on_event: Any, *, replay_seconds: float) -> None:
        return None

    def broadcast(self, channel: str, payload: bytes) -> None:
        for listener in list(self.listeners):
            listener(payload)

    def listen(self, channel: str, on_note: Any) -> None:
        self.listeners.append(on_note)


@contextlib.asynccontextmanager
async def _hubs(now: list[float]) -> AsyncIterator[tuple[_Wire, SharedHub, SharedHub]]:
    """Nodes A and B's hubs on one wire, started, on the clock `now[0]`."""
    wire = _Wire()
    a = SharedHub(wire, node="a", monotonic=lambda: now[0])
    b = SharedHub(wire, node="b", monotonic=lambda: now[0])
    await a.start()
    await b.start()
    try:
        yield wire, a, b
    finally:
        await a.stop()
        await b.stop()


@contextlib.contextmanager
def _relays(tmp_path: Any, count: int) -> Iterator[list[NatsEventLog]]:
    """`count` clients of one JetStream stream of their own (removed afterwards)."""
    log_url = _nats_log_url()
    engine = connect(f"sqlite:///{tmp_path}/relays.db")
    upgrade(engine)
    logs = [NatsEventLog.from_url(log_url, rejects=SqlEventLog(engine)) for _ in range(count)]
    try:
        yield logs
    finally:
        logs[0].delete_stream()
        for log in logs:
            log.close()
        engine.dispose()


def test_a_worker_hub_starts_once_an_api_node_said_who_it_has(tmp_path: Any) -> None:
    """A worker's hub, started beside an API node where ana's console is open, knows that
    node and ana as soon as its start returns: a rule it runs at once finds an agent on
    duty (before, it could say "no agent on duty" until the node's answer came)."""

    async def scenario() -> tuple[list[str], list[str]]:
        with _relays(tmp_path, 2) as (api_log, worker_log):
            api = SharedHub(api_log, node="api")
            worker = SharedHub(worker_log, node="worker", answer_seconds=WAIT)
            await api.start()
            api.connect_agent("ana")
            try:
                await asyncio.wait_for(worker.start(), WAIT + 5)
                return worker.peers(), worker.connected_agents()
            finally:
                await worker.stop()
                await api.stop()

    assert asyncio.run(scenario()) == (["api"], ["ana"])


class _SlowWire(_Wire):
    """A wire whose notes arrive `delay` s after they are sent; a new listener first hears
    the notes in `on_the_way`, sent before it listened and not yet delivered."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.on_the_way: list[bytes] = []

    def broadcast(self, channel: str, payload: bytes) -> None:
        asyncio.get_running_loop().call_later(self.delay, super().broadcast, channel, payload)

    def listen(self, channel: str, on_note: Any) -> None:
        super().listen(channel, on_note)
        for payload in self.on_the_way:
            on_note(payload)


def test_a_state_sent_before_the_hello_does_not_end_a_worker_hubs_wait() -> None:
    """The API node's state from before ana opened her console (its start's, still on its
    way) reaches the worker first: the worker's start waits on for the node's answer to its
    hello, and knows ana when it returns (it used to return at once, knowing nobody)."""

    async def scenario() -> list[str]:
        wire = _SlowWire(0.3)
        api = SharedHub(wire, node="api")
        await api.start()
        api.connect_agent("ana")
        wire.on_the_way.append(json.dumps({"k": "state", "node": "api"}).encode())
        worker = SharedHub(wire, node="worker", answer_seconds=WAIT)
        try:
            await asyncio.wait_for(worker.start(), WAIT + 5)
            return worker.connected_agents()
        finally:
            await worker.stop()
            await api.stop()

    assert asyncio.run(scenario()) == ["ana"]


def test_a_worker_hub_with_no_api_node_still_starts(tmp_path: Any) -> None:
    """With no other node on the notes subject, the worker's hub gives up waiting for an
    answer and starts, knowing nobody."""

    async def scenario() -> tuple[list[str], list[str]]:
        with _relays(tmp_path, 1) as (worker_log,):
            worker = SharedHub(worker_log, node="worker", answer_seconds=0.5)
            try:
                await asyncio.wait_for(worker.start(), WAIT)
                return worker.peers(), worker.connected_agents()
            finally:
                await worker.stop()

    assert asyncio.run(scenario()) == ([], [])


def test_a_node_not_heard_from_is_forgotten() -> None:
    """Node B lists the agent and visitor node A said it has, and forgets them once A has
    been silent for the TTL: a crashed node's connections do not linger."""
    now = [100.0]

    async def scenario() -> None:
        async with _hubs(now) as (_, a, b):
            a.connect_agent("ana")
            a.connect_visitor(
                anonymous_id="v1", source="web", page="/deal", language=None, now=LUNCH
            )
            a._send_state()
            assert b.connected_agents() == ["ana"]
            assert [v["anonymous_id"] for v in b.snapshot()] == ["v1"]
            assert b.present(page="/deal", now=LUNCH, limit=10) == ["v1"]
            now[0] += b.ttl_seconds + 1
            assert b.connected_agents() == [] and b.snapshot() == []

    asyncio.run(scenario())


def test_a_dismissal_and_a_count_of_invitations_cross_nodes() -> None:
    """A visitor who closed an invitation at node B is not invited by node A; an invitation
    sent from A to a visitor connected at B counts as delivered."""

    async def scenario() -> None:
        async with _hubs([0.0]) as (_, a, b):
            for visitor in ("v1", "v2"):
                b.connect_visitor(
                    anonymous_id=visitor, source="web", page="/deal", language=None, now=LUNCH
                )
            b._send_state()
            b.dismiss("v2", LUNCH + timedelta(minutes=30))
            assert a.present(page="/deal", now=LUNCH, limit=10) == ["v1"]
            sent = a.tell_visitors([("v1", {"type": "invitation"}), ("nobody", {"type": "x"})])
            assert sent == 1

    asyncio.run(scenario())


def test_a_malformed_note_is_dropped() -> None:
    """Garbage, a note of the wrong shape, one of an unknown kind and one naming visitors
    without an id on the notes subject change nothing and raise nothing."""

    async def scenario() -> None:
        async with _hubs([0.0]) as (wire, _, b):
            for payload in (
                b"\x00not json",
                b"[1,2]",
                b'{"k":"state"}',
                b'{"k":"?","node":"x"}',
                b'{"k":"state","node":"x","visitors":[{"page":1},{"anonymous_id":["v"]}]}',
            ):
                wire.broadcast("chat", payload)
            assert b.connected_agents() == [] and b.snapshot() == []
            assert b.tell_visitors([("v", {"type": "invitation"})]) == 0

    asyncio.run(scenario())


def test_a_stopped_node_is_not_listed_again_by_its_last_disconnections() -> None:
    """A node that said it leaves sends no more of who it has: the consoles its stop closes
    one by one (an agent's closed, another's not yet) do not make the other nodes list it,
    and its agents, again after its goodbye."""

    async def scenario() -> None:
        async with _hubs([0.0]) as (_, a, b):
            ana = a.connect_agent("ana")
            a.connect_agent("bo")
            a._send_state()
            assert b.connected_agents() == ["ana", "bo"]
            await a.stop()
            assert b.connected_agents() == []
            a.disconnect_agent("ana", ana)  # the web edge, as ana's socket closes
            await asyncio.sleep(0.3)  # past the state's coalescing delay
            assert b.connected_agents() == []

    asyncio.run(scenario())


def test_a_node_that_stops_without_a_goodbye_is_dropped_from_the_peers() -> None:
    """Nodes that said who they have, then died without a goodbye, are dropped from another
    node's peers once silent for the TTL, however many came and went: only the node still
    beating stays, and a dead node's agent is not listed again when a live node speaks."""
    now = [0.0]

    async def scenario() -> None:
        async with _hubs(now) as (wire, _, b):
            for n in range(50):
                note = {"k": "state", "node": f"gone-{n}", "agents": [f"agent-{n}"]}
                wire.broadcast("chat", json.dumps(note).encode())
            assert len(b.peers()) == 51
            now[0] += b.ttl_seconds + 1
            wire.broadcast("chat", b'{"k":"state","node":"c","agents":["cleo"]}')
            assert b.peers() == ["c"]
            assert b.connected_agents() == ["cleo"]
            assert len(b._peers) == 1

    asyncio.run(scenario())


class _Gated:
    """The log, whose first read of a conversation's subject waits until `release` is
    set; every read's page size is recorded."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self.entered = threading.Event()
        self.release = threading.Event()
        self.limits: list[int | None] = []

    def read_topic(self, topic: str, after: int = 0, limit: int | None = None) -> list[Event]:
        self.limits.append(limit)
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(WAIT)
        events: list[Event] = self.relay.read_topic(topic, after, limit)
        return events


def test_a_long_conversation_is_read_in_pages_while_the_node_serves_others(
    tmp_path: Any,
) -> None:
    """A node that never held a long conversation reads it from the log off its event loop,
    a page at a time: while the first page is held back, another request (the inbox) is
    answered; then the conversation comes whole, in order, and no read asked for more
    than a page."""
    log_url = _nats_log_url()
    config = parse_config(yaml.safe_dump(CONFIG), origin="chat fan-out test config")
    settings = make_settings(f"sqlite:///{tmp_path}/vigie.db", config)
    settings.log_url = log_url
    system = build_system(settings, clock=ManualClock(LUNCH), role="api")
    try:
        upgrade(system.engine)
        cid = chat.new_id()
        common: dict[str, Any] = {"source": "web", "anonymous_id": "v-long", "at": LUNCH}
        events = [chat.chat_event(chat.STARTED, cid, **common, properties={"visitor_key": "k"})]
        events += [
            chat.chat_event(
                chat.MESSAGE,
                cid,
                **common,
                properties={"message_id": f"m{n}", "sender": "visitor", "text": f"t{n}"},
            )
            for n in range(1200)
        ]
        for start in range(0, len(events), 300):
            system.log.append_many([AppendJob(events=events[start : start + 300], source="web")])
        assert system.chat.feed is not None
        gated = _Gated(system.chat.feed.relay)
        system.chat.feed.relay = gated

        async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], int]:
            reading = asyncio.create_task(system.chat.conversation(cid))
            assert await asyncio.to_thread(gated.entered.wait, WAIT)
            inbox = await system.chat.inbox()
            assert not reading.done()
            gated.release.set()
            found = await reading
            assert system.chat.feed is not None
            capped = await system.chat.feed.history(cid, after=0, most=700)
            return inbox, found, len(capped)

        inbox, found, capped = asyncio.run(scenario())
    finally:
        system.log.delete_stream()  # type: ignore[attr-defined]
        system.log.close()
        system.engine.dispose()
    assert inbox == []
    assert [m["text"] for m in found["messages"]] == [f"t{n}" for n in range(1200)]
    assert gated.limits[:3] == [HISTORY_PAGE, HISTORY_PAGE, HISTORY_PAGE]
    assert len(gated.limits) == 3 + 2  # 1201 events in pages of 500; then 700 in 500 + 200
    assert capped == 700


def _held_back(
    node: Node, db_url: str, cid: str, meanwhile: Callable[[str], None]
) -> Callable[[], Awaitable[None]]:
    """Make the next append on `node` wait, once its feed has read it back, until the store
    holds conversation `cid` that far; then run `meanwhile(cid)` and `forget` as an
    erasure elsewhere makes every process do (from a worker thread), before the append
    goes on. Returns an undo."""
    feed = node.system.chat.feed
    assert feed is not None
    reached = feed.reached
    armed = [True]

    def stored_at(offset: int) -> None:
        engine = connect(db_url)
        try:
            for _ in range(600):
                with engine.connect() as conn:
                    version = conn.execute(
                        sa.select(conversations_table.c.version).where(
                            conversations_table.c.id == cid
                        )
                    ).scalar()
                if version is not None and version >= offset:
                    return
                threading.Event().wait(0.05)
        finally:
            engine.dispose()
        raise AssertionError(f"the store never reached offset {offset}")

    async def held_back(offset: int, *, timeout: float = 5.0) -> bool:
        done = await reached(offset, timeout=timeout)
        if armed[0]:
            armed[0] = False
            await asyncio.to_thread(stored_at, offset)
            await asyncio.to_thread(meanwhile, cid)
            await asyncio.to_thread(node.system.chat.forget)
            await asyncio.sleep(0)
        return done

    feed.reached = held_back  # type: ignore[method-assign]

    async def undo() -> None:
        feed.reached = reached  # type: ignore[method-assign]

    return undo


def _erase_in_store(db_url: str, cid: str, token: str) -> None:
    """Rewrite the store's copy of conversation `cid` as an erasure does: its visitor's id
    replaced by `token`, the version kept."""
    engine = connect(db_url)
    try:
        with engine.begin() as conn:
            body = conn.execute(
                sa.select(conversations_table.c.body).where(conversations_table.c.id == cid)
            ).scalar_one()
            body = {**body, "anonymous_id": token}
            conn.execute(
                conversations_table.update()
                .where(conversations_table.c.id == cid)
                .values(anonymous_id=token, body=body)
            )
    finally:
        engine.dispose()


def _started_on_a(cluster: Cluster) -> tuple[str, str, str]:
    """A visitor's conversation opened on A at lunchtime; the visitor, their token and the
    conversation id."""
    cluster.at(LUNCH)
    visitor = _visitor()
    token = _session(cluster.a, visitor)["token"]
    started = httpx.post(
        f"{cluster.a.url}/chat/v1/start",
        content=json.dumps(
            {"writeKey": WRITE_KEY, "anonymousId": visitor, "token": token, "text": "allô ?"}
        ),
        headers={"Content-Type": "text/plain", "Origin": SHOP},
    )
    assert started.status_code == 200, started.text
    return visitor, token, started.json()["id"]


def _reply_with_forget_in_between(
    cluster: Cluster, meanwhile: Callable[[str], None]
) -> tuple[str, httpx.Response]:
    """A visitor's conversation on A, and ana's first reply on A, whose take is held back
    while `meanwhile` runs and A forgets the conversations the store holds as far."""
    _, _, cid = _started_on_a(cluster)
    undo = _held_back(cluster.a, cluster.db_url, cid, meanwhile)
    try:
        reply = httpx.post(
            f"{cluster.a.url}/api/chat/conversations/{cid}/messages",
            json={"text": "Oui ?"},
            headers=cluster.headers("ana"),
        )
    finally:
        asyncio.run(undo())
    return cid, reply


def test_a_forget_while_a_reply_is_stored_answers_with_the_reply(cluster: Cluster) -> None:
    """`forget` (an erasure somewhere) dropping the conversation while an agent's reply to
    it is being stored does not end in a 500: the reply is stored and answered, and the
    conversation read afterwards holds it once."""
    cid, reply = _reply_with_forget_in_between(cluster, lambda cid: None)
    assert reply.status_code == 200, reply.text
    assert reply.json()["text"] == "Oui ?"
    held = _conversation(cluster.a, cid, cluster.headers("ana"))
    assert [m["text"] for m in held["messages"]] == ["allô ?", "Oui ?"]
    assert held["owner"] == "ana"


def test_a_reply_to_a_conversation_erased_meanwhile_is_refused_and_not_stored(
    cluster: Cluster,
) -> None:
    """An agent's reply to a conversation whose visitor is erased between the agent's take
    and the reply answers 410 naming the conversation, and stores nothing: the
    conversation read afterwards is the erased one, without the reply."""
    erased = f"erased-{uuid.uuid4().hex[:8]}"
    cid, reply = _reply_with_forget_in_between(
        cluster, lambda cid: _erase_in_store(cluster.db_url, cid, erased)
    )
    assert reply.status_code == 410, reply.text
    assert cid in reply.json()["detail"] and reply.json()["field"] == "conversation_id"
    held = _conversation(cluster.a, cid, cluster.headers("ana"))
    assert held["anonymous_id"] == erased
    assert [m["text"] for m in held["messages"]] == ["allô ?"]


def _projected(cluster: Cluster, cid: str) -> dict[str, Any]:
    """The store's copy of conversation `cid` once the worker's projection has read every
    event of its subject in the stream."""
    feed = cluster.a.system.chat.feed
    assert feed is not None
    last = max(e.offset or 0 for e in feed.relay.read_topic(cid))
    engine = connect(cluster.db_url)
    try:
        for _ in range(600):
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(conversations_table.c.version, conversations_table.c.body).where(
                        conversations_table.c.id == cid
                    )
                ).first()
            if row is not None and row.version >= last:
                return dict(row.body)
            threading.Event().wait(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"the projection never read conversation {cid} to offset {last}")


def _started_everywhere(cluster: Cluster) -> tuple[str, str, str]:
    """A visitor's conversation opened on A, projected in the store and held by both
    nodes; returns the visitor, their token and the conversation id."""
    visitor, token, cid = _started_on_a(cluster)
    _projected(cluster, cid)
    for node in (cluster.a, cluster.b):
        assert _conversation(node, cid, cluster.headers("ana"))["anonymous_id"] == visitor
    return visitor, token, cid


def _visitor_says(node: Node, visitor: str, token: str, cid: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{node.url}/chat/v1/say",
        content=json.dumps(
            {
                "writeKey": WRITE_KEY,
                "anonymousId": visitor,
                "token": token,
                "conversationId": cid,
                "text": text,
            }
        ),
        headers={"Content-Type": "text/plain", "Origin": SHOP},
    )


def test_a_message_after_an_erasure_not_yet_followed_is_refused_on_every_node(
    cluster: Cluster,
) -> None:
    """Once an erasure rewrote a conversation in the store, a node that has not followed
    it yet (it does every second) still holds the old copy: the agent's reply on A and the
    erased visitor's message on B are refused with 410, and neither text reaches the
    stream or the store."""
    visitor, token, cid = _started_everywhere(cluster)
    erased = f"erased-{uuid.uuid4().hex[:8]}"
    _erase_in_store(cluster.db_url, cid, erased)
    reply = httpx.post(
        f"{cluster.a.url}/api/chat/conversations/{cid}/messages",
        json={"text": "Oui, Madame Durand ?"},
        headers=cluster.headers("ana"),
    )
    assert reply.status_code == 410, reply.text
    assert cid in reply.json()["detail"]
    said = _visitor_says(cluster.b, visitor, token, cid, "mon numéro: 0470 12 34 56")
    assert said.status_code == 410, said.text
    feed = cluster.a.system.chat.feed
    assert feed is not None
    logged = [e.properties.get("text") for e in feed.relay.read_topic(cid)]
    assert logged == [None, "allô ?"]
    body = _projected(cluster, cid)
    assert body["anonymous_id"] == erased
    assert [m["text"] for m in body["messages"]] == ["allô ?"]


def test_a_message_logged_just_after_an_erasure_is_in_no_conversation(
    cluster: Cluster,
) -> None:
    """An erasure that rewrites the store between a node's look at it and its append: the
    message is logged after the erasure, answered 410, and left out by every fold: the
    store's projection (its transcript too) and both nodes' copies read afterwards."""
    visitor, token, cid = _started_everywhere(cluster)
    erased = f"erased-{uuid.uuid4().hex[:8]}"
    committer = cluster.b.system.chat._committer
    append = committer.append

    async def erased_first(job: AppendJob) -> Any:
        committer.append = append  # type: ignore[method-assign]
        await asyncio.to_thread(_erase_in_store, cluster.db_url, cid, erased)
        return await append(job)

    committer.append = erased_first  # type: ignore[method-assign]
    try:
        said = _visitor_says(cluster.b, visitor, token, cid, "mon numéro: 0470 12 34 56")
    finally:
        committer.append = append  # type: ignore[method-assign]
    assert said.status_code == 410, said.text
    feed = cluster.a.system.chat.feed
    assert feed is not None
    assert "mon numéro: 0470 12 34 56" in [
        e.properties.get("text") for e in feed.relay.read_topic(cid)
    ]
    body = _projected(cluster, cid)
    assert [m["text"] for m in body["messages"]] == ["allô ?"]
    engine = connect(cluster.db_url)
    try:
        with engine.connect() as conn:
            summary = conn.execute(
                sa.select(crm.interactions.c.summary).where(crm.interactions.c.id == f"chat_{cid}")
            ).scalar_one()
    finally:
        engine.dispose()
    assert "0470" not in summary
    for node in (cluster.a, cluster.b):
        node.system.chat.forget()
        held = _conversation(node, cid, cluster.headers("ana"))
        assert (held["anonymous_id"], [m["text"] for m in held["messages"]]) == (
            erased,
            ["allô ?"],
        )


_ANY_HOUR = {"times": [{"start_time": "00:00", "end_time": "24:00"}]}
ALWAYS: dict[str, Any] = {
    **CONFIG,
    "schedule": {
        "time_intervals": [{"name": "always", "time_intervals": [_ANY_HOUR]}],
        "policy": {"earliest": "00:00", "latest": "24:00", "weekends": True},
        "people": [{"name": "ana", "working_hours": ["always"]}],
    },
    "chat": {"agents": ["ana"]},
    "metrics": [
        {
            "name": "lunch_views",
            "kind": "count",
            "where": {"event": "Lunch Deal Viewed"},
            "window": "1h",
        }
    ],
    "rules": [
        {
            "name": "lunch-rush",
            "kind": "threshold",
            "metric": "lunch_views",
            "op": ">=",
            "value": 1,
            "playbook": "invite-lunch",
        }
    ],
}
"""`CONFIG` with ana on duty at any hour (a worker runs on the real clock) and a rule that
runs the inviting playbook at the first view of the lunch deal."""


def _worker(db_url: str, log_url: str, config_file: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigie", "worker", "--db", db_url, "--log", log_url,
         "--config", str(config_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def _lunch_view(log_url: str, db_url: str, visitor: str) -> None:
    """A view of the lunch deal by `visitor`, now, appended to the stream."""
    engine = connect(db_url)
    log = NatsEventLog.from_url(log_url, rejects=SqlEventLog(engine))
    try:
        at = datetime.now(UTC)
        view = Event(
            message_id=uuid.uuid4().hex,
            type="track",
            event="Lunch Deal Viewed",
            anonymous_id=visitor,
            source="web",
            timestamp=at,
            received_at=at,
            properties={"page": "/lunch-deal/today"},
        )
        log.append_many([AppendJob(events=[view], source="web")])
    finally:
        log.close()
        engine.dispose()


@pytest.mark.parametrize("worker_first", [True, False], ids=["worker-running", "worker-starting"])
def test_a_playbook_run_by_a_worker_invites_a_visitor_on_an_api_node(
    tmp_path: Any, worker_first: bool
) -> None:
    """A rule fired in a `vigie worker` runs `chat.invite`: the worker learns from the API
    node that ana's console is open and the visitor is on the lunch deal, and the invitation
    reaches the visitor's widget on the API node, stored once in the store; whether the
    worker was running when the view came, or started after it."""
    log_url = _nats_log_url()
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    config_file = tmp_path / "vigie.yaml"
    config_file.write_text(yaml.safe_dump(ALWAYS))
    visitor = _visitor()
    worker = None
    try:
        with _node(db_url, log_url, ALWAYS) as node:
            node.clock.set(datetime.now(UTC))
            token = _session(node, visitor)["token"]
            ana_token = user_token(node.system, username="ana", role="support")
            ana = {"Authorization": f"Bearer {ana_token}"}

            async def scenario() -> dict[str, Any]:
                nonlocal worker
                hub = node.system.chat.hub
                assert isinstance(hub, SharedHub)
                socket = await _socket(node, visitor, token, page="/lunch-deal/today")
                async with httpx.AsyncClient() as client, _console(client, node, ana):
                    if worker_first:
                        worker = _worker(db_url, log_url, config_file)
                        for _ in range(1200):
                            if hub.peers():
                                break
                            await asyncio.sleep(0.05)
                        assert hub.peers(), "the worker never said who it has"
                    await asyncio.to_thread(_lunch_view, log_url, db_url, visitor)
                    if not worker_first:
                        worker = _worker(db_url, log_url, config_file)
                    invitation = await asyncio.wait_for(_next(socket, "invitation"), 120)
                await socket.close()
                return invitation

            invitation = asyncio.run(scenario())
        engine = connect(db_url)
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(chat_invitations.c.id, chat_invitations.c.message).where(
                    chat_invitations.c.anonymous_id == visitor
                )
            ).all()
        engine.dispose()
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        engine = connect(db_url)
        log = NatsEventLog.from_url(log_url, rejects=SqlEventLog(engine))
        log.delete_stream()
        log.close()
        engine.dispose()
    assert invitation["message"] == "Un souci ? / A problem?"
    assert [(row.id, row.message) for row in stored] == [(invitation["id"], invitation["message"])]
