"""The console on any API node: two API-role servers on one NATS JetStream log, a visitor's
messages posted to one reach a salesperson's console connected to the other."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.chat.conftest import CONFIG, LUNCH, SHOP
from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.log.nats import NatsEventLog
from vigie.log.sql import SqlEventLog
from vigie.store import connect, upgrade
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


def _node(db_url: str, log_url: str) -> System:
    config = parse_config(yaml.safe_dump(CONFIG), origin="chat test config")
    settings = make_settings(db_url, config)
    settings.log_url = log_url
    return build_system(settings, role="api", clock=ManualClock(LUNCH))


def _widget(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A widget request to the node at `url`, as the widget sends it."""
    response = httpx.post(
        f"{url}/chat/v1/{path}",
        content=json.dumps({"writeKey": WRITE_KEY, **body}),
        headers={"Content-Type": "text/plain", "Origin": SHOP},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


class _Console:
    """A console's event stream on one node, read in a thread of its own."""

    def __init__(self, url: str, token: str) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.url, self.token = url, token
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with (
            httpx.Client(timeout=httpx.Timeout(60, read=None)) as client,
            client.stream("GET", f"{self.url}/api/chat/stream", headers=headers) as stream,
        ):
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    self.received.put(json.loads(line[len("data: ") :]))

    def wait_for(self, kind: str, check: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                message = self.received.get(timeout=0.5)
            except queue.Empty:
                continue
            if message.get("type") == kind and check(message):
                return message
        raise AssertionError(f"no {kind!r} message reached the console")


@pytest.fixture
def nodes(
    db_url: str,
    nats_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """Two API nodes on one store and one stream; their URLs and the tokens of agent ana and
    of salesperson sue."""
    upgrade(connect(db_url))
    first, second = _node(db_url, nats_url), _node(db_url, nats_url)
    try:
        with (
            BackgroundServer(create_app(first), port=free_port()) as a,
            BackgroundServer(create_app(second), port=free_port()) as b,
        ):
            yield (
                a.url,
                b.url,
                {
                    "ana": user_token(first, username="ana", role="support"),
                    "sue": user_token(first, username="sue", role="sales"),
                },
            )
    finally:
        stream = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(first.engine))
        stream.delete_stream()
        stream.close()


def test_a_visitors_messages_on_one_node_reach_a_console_on_another(
    nodes: tuple[str, str, dict[str, str]],
) -> None:
    """The visitor starts a conversation and writes again through node A; agent ana's
    console, connected to node B, is offered the conversation and then gets the message;
    once ana answers through node A, salesperson sue's console on node B is told the
    conversation left her view (`withdrawn`)."""
    a, b, tokens = nodes
    console, sales = _Console(b, tokens["ana"]), _Console(b, tokens["sue"])
    console.wait_for("hello", lambda m: True)
    sales.wait_for("hello", lambda m: True)
    visitor = f"v-{uuid.uuid4().hex[:12]}"
    session = _widget(a, "session", {"anonymousId": visitor})
    base = {"anonymousId": visitor, "token": session["token"]}
    opened = _widget(a, "start", {**base, "text": "Où est ma commande ?"})
    cid = opened["id"]
    offered = console.wait_for("conversation", lambda m: m["conversation"]["id"] == cid)
    assert [m["text"] for m in offered["conversation"]["messages"]] == ["Où est ma commande ?"]
    _widget(a, "say", {**base, "conversationId": cid, "text": "Numéro 4410"})
    said = console.wait_for("message", lambda m: m["conversation_id"] == cid)
    assert said["message"]["text"] == "Numéro 4410"
    assert said["message"]["sender"] == "visitor"
    answered = httpx.post(
        f"{a}/api/chat/conversations/{cid}/messages",
        json={"text": "Je regarde"},
        headers={"Authorization": f"Bearer {tokens['ana']}"},
        timeout=60,
    )
    assert answered.status_code == 200, answered.text
    sales.wait_for("withdrawn", lambda m: m["conversation_id"] == cid)
    reply = console.wait_for("message", lambda m: m["message"]["sender"] == "agent")
    assert reply["message"]["text"] == "Je regarde"
