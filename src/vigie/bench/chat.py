"""`vigie bench chat`: N visitors with an open widget (one WebSocket each) and M agents at
the console (one event stream each) on one server.

Measured in the same run: the delivery of one proactive invitation to every open widget
(from the playbook run's request), a visitor's message reaching the agents' consoles, an
agent's reply reaching the visitor's widget, and — the baseline — a plain event's ingest
acknowledgement (`/v1/track`, committed to the log). The clients run in a child process,
so the server's resident memory before and after the widgets connect gives the memory per
open widget.

With `--nodes 2 --log nats://…` two API nodes share the chat through NATS (`vigie.chat.fanout`):
the widgets are open on the first, the consoles (and the agents' replies) on the second, so
every message crosses from one node to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.bench.ingest import _bench_log, _stored
from vigie.bench.live import _free_port, _percentile
from vigie.config import parse_config
from vigie.settings import Settings
from vigie.system import Role, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

WRITE_KEY = "bench-chat-write-key-0123456789"
PAGE = "/lunch-deal/"


def _config(agents: int) -> dict[str, Any]:
    always = {"times": [{"start_time": "00:00", "end_time": "24:00"}]}
    return {
        "secret_key": "bench-chat-secret-key-0123456789",
        "sources": [{"name": "bench", "write_key": WRITE_KEY, "tracker": {"chat": True}}],
        "schedule": {
            "time_intervals": [{"name": "always", "time_intervals": [always]}],
            "policy": {"earliest": "00:00", "latest": "24:00", "weekends": True},
            "people": [{"name": f"agent-{i}", "working_hours": ["always"]} for i in range(agents)],
        },
        "playbooks": [
            {
                "name": "invite",
                "steps": [
                    {
                        "action": "chat.invite",
                        "params": {"page": "/lunch-deal/*", "max_visitors": 1_000_000},
                    }
                ],
            }
        ],
        "chat": {"source_messages_per_minute": 1_000_000},
    }


def _rss() -> int:
    """This process's resident memory in bytes (Linux's /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _ms(values: list[float], q: float) -> float | None:
    return round(_percentile(values, q) * 1000, 2) if values else None


async def _clients(
    urls: list[str], tokens: dict[str, str], widgets: int, messages: int, pipe: Connection
) -> dict[str, Any]:
    """The child's work: connect (the widgets to the first node, the consoles to the last),
    tell the parent, then measure."""
    loop = asyncio.get_running_loop()
    url, desk_url = urls[0], urls[-1]
    ws_url = url.replace("http", "ws") + "/chat/v1/ws"
    import websockets

    limits = httpx.Limits(max_connections=64)
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http,
        httpx.AsyncClient(base_url=desk_url, timeout=60, limits=limits) as desk,
    ):

        async def session(i: int) -> str:
            body = {"writeKey": WRITE_KEY, "anonymousId": f"w{i}"}
            response = await http.post("/chat/v1/session", content=json.dumps(body))
            response.raise_for_status()
            return str(response.json()["token"])

        visitor_tokens: list[str] = []
        for start in range(0, widgets, 100):
            chunk = range(start, min(widgets, start + 100))
            visitor_tokens += await asyncio.gather(*(session(i) for i in chunk))

        invited: dict[int, float] = {}
        replies: dict[str, float] = {}
        seen_by_agents: dict[str, float] = {}
        sockets: list[Any] = []
        conversations: dict[int, str] = {}
        tasks: list[asyncio.Task[None]] = []

        async def read(i: int, socket: Any) -> None:
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "invitation":
                    invited[i] = time.monotonic()
                elif message["type"] == "message" and message["message"]["sender"] == "agent":
                    replies[message["message"]["text"]] = time.monotonic()
                elif message["type"] == "reply" and message.get("result", {}).get("id"):
                    conversations[i] = message["result"]["id"]

        async def connect(i: int) -> None:
            query = httpx.QueryParams(
                writeKey=WRITE_KEY, anonymousId=f"w{i}", token=visitor_tokens[i], page=PAGE
            )
            socket = await websockets.connect(f"{ws_url}?{query}", max_queue=None)
            sockets.append(socket)
            tasks.append(asyncio.create_task(read(i, socket)))

        for start in range(0, widgets, 50):
            await asyncio.gather(*(connect(i) for i in range(start, min(widgets, start + 50))))

        async def follow(name: str, ready: asyncio.Event) -> None:
            headers = {"Authorization": f"Bearer {tokens[name]}"}
            async with desk.stream("GET", "/api/chat/stream", headers=headers) as stream:
                async for line in stream.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    ready.set()
                    message = json.loads(line[6:])
                    if message["type"] == "conversation":
                        last = message["conversation"]["messages"][-1]["text"]
                        seen_by_agents.setdefault(last, time.monotonic())

        agent_names = [n for n in tokens if n.startswith("agent-")]
        ready_events = [asyncio.Event() for _ in agent_names]
        for name, ready in zip(agent_names, ready_events, strict=True):
            tasks.append(asyncio.create_task(follow(name, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready_events)), 60)

        pipe.send("connected")
        await loop.run_in_executor(None, pipe.recv)

        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        started = time.monotonic()
        ran = await http.post("/api/playbooks/invite/run", json={}, headers=admin)
        run_ack = time.monotonic() - started
        ran.raise_for_status()
        deadline = time.monotonic() + 30
        while len(invited) < widgets and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        invitations = [at - started for at in invited.values()]

        to_agent: list[float] = []
        to_visitor: list[float] = []
        acks: list[float] = []
        auth = httpx.BasicAuth(WRITE_KEY, "")
        talk_started = time.monotonic()
        for k in range(messages):
            i = k % widgets
            t0 = time.monotonic()
            track = await http.post(
                "/v1/track", json={"event": "Bench Event", "anonymousId": f"b{k}"}, auth=auth
            )
            track.raise_for_status()
            acks.append(time.monotonic() - t0)
            text = f"question {k}"
            t0 = time.monotonic()
            await sockets[i].send(json.dumps({"type": "start", "text": text, "page": PAGE}))
            while text not in seen_by_agents and time.monotonic() - t0 < 10:
                await asyncio.sleep(0.0005)
            if text in seen_by_agents:
                to_agent.append(seen_by_agents[text] - t0)
            while i not in conversations and time.monotonic() - t0 < 10:
                await asyncio.sleep(0.0005)
            cid = conversations.pop(i)
            answer = f"answer {k}"
            agent = agent_names[k % len(agent_names)]
            t0 = time.monotonic()
            reply = await desk.post(
                f"/api/chat/conversations/{cid}/messages",
                json={"text": answer},
                headers={"Authorization": f"Bearer {tokens[agent]}"},
            )
            reply.raise_for_status()
            while answer not in replies and time.monotonic() - t0 < 10:
                await asyncio.sleep(0.0005)
            if answer in replies:
                to_visitor.append(replies[answer] - t0)
        talk_seconds = time.monotonic() - talk_started
        for socket in sockets:
            await socket.close()
        for task in tasks:
            task.cancel()
    return {
        "invited": len(invited),
        "run_ack": run_ack,
        "invitations": invitations,
        "to_agent": to_agent,
        "to_visitor": to_visitor,
        "acks": acks,
        "talk_seconds": talk_seconds,
    }


def _child(
    urls: list[str], tokens: dict[str, str], widgets: int, messages: int, pipe: Connection
) -> None:
    result = asyncio.run(_clients(urls, tokens, widgets, messages, pipe))
    pipe.send(result)


def run_chat_bench(
    *,
    widgets: int,
    agents: int,
    messages: int,
    db_url: str | None,
    console: Console,
    nodes: int = 1,
    log_url: str | None = None,
) -> dict[str, Any]:
    """Open `widgets` widgets and `agents` consoles; time invitations and messages. With
    `nodes=2` (and a NATS `log_url`) the widgets are on one API node, the consoles on another."""
    if nodes not in (1, 2) or (nodes == 2 and not log_url):
        raise ValueError("--nodes: 1, or 2 with --log nats://HOST:PORT")
    log = _bench_log(log_url)
    with tempfile.TemporaryDirectory(prefix="vigie-bench-chat-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'vigie.db'}"
        config = parse_config(yaml.safe_dump(_config(agents)), origin="bench chat config")
        node_role: Role = "api" if nodes == 2 else "all"

        def node() -> Any:
            return create_app(
                build_system(Settings(db_url=url, config=config, log_url=log), role=node_role)
            )

        app = node()
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(BackgroundServer(app, port=_free_port()))
            urls = [server.url]
            if nodes == 2:
                other = node()
                urls.append(stack.enter_context(BackgroundServer(other, port=_free_port())).url)
            system = app.state.system
            now = system.clock.now()
            tokens: dict[str, str] = {}
            people = [("admin", "admin")] + [(f"agent-{i}", "support") for i in range(agents)]
            for name, role in people:
                user = create_user(
                    engine=system.engine,
                    username=name,
                    password="bench-password-123",
                    role=role,
                    now=now,
                )
                tokens[name] = issue_token(
                    engine=system.engine, user_id=user.id, name="bench", now=now
                ).token
            before = _rss()
            parent, child = mp.get_context("spawn").Pipe()
            process = mp.get_context("spawn").Process(
                target=_child, args=(urls, tokens, widgets, messages, child)
            )
            process.start()
            if not parent.poll(600):
                raise RuntimeError("the widgets did not connect within 10 minutes")
            parent.recv()
            time.sleep(1.0)
            after = _rss()
            present = len(system.chat.hub.visitors)
            parent.send("go")
            if not parent.poll(900):
                raise RuntimeError("the chat benchmark did not finish within 15 minutes")
            result: dict[str, Any] = parent.recv()
            process.join(60)
        if log is not None:
            _stored(url, log)
    figures = {
        "nodes": nodes,
        "widgets": widgets,
        "present": present,
        "agents": agents,
        "messages": messages,
        "invited": result["invited"],
        "invitation_run_ack_ms": round(result["run_ack"] * 1000, 2),
        "invitation_ms_p50": _ms(result["invitations"], 0.5),
        "invitation_ms_p99": _ms(result["invitations"], 0.99),
        "visitor_to_agent_ms_p50": _ms(result["to_agent"], 0.5),
        "visitor_to_agent_ms_p99": _ms(result["to_agent"], 0.99),
        "agent_to_visitor_ms_p50": _ms(result["to_visitor"], 0.5),
        "agent_to_visitor_ms_p99": _ms(result["to_visitor"], 0.99),
        "messages_per_s": round(2 * messages / result["talk_seconds"], 1)
        if result["talk_seconds"] > 0
        else None,
        "ingest_ack_ms_p50": _ms(result["acks"], 0.5),
        "ingest_ack_ms_p99": _ms(result["acks"], 0.99),
        "server_kib_per_widget": round((after - before) / 1024 / max(1, widgets), 1),
    }
    base = statistics.median(result["acks"]) if result["acks"] else None
    table = Table(title=f"{widgets} open widgets, {agents} agents, {messages} conversations")
    for column in ("", "p50 ms", "p99 ms", "p50 / ingest ack"):
        table.add_column(column)
    for label, key, values in (
        ("ingest ack of one event (baseline)", "ingest_ack", result["acks"]),
        ("invitation on every open widget", "invitation", result["invitations"]),
        ("visitor's message on the consoles", "visitor_to_agent", result["to_agent"]),
        ("agent's reply on the widget", "agent_to_visitor", result["to_visitor"]),
    ):
        ratio = f"{statistics.median(values) / base:.1f}x" if values and base else "-"
        table.add_row(label, str(figures[f"{key}_ms_p50"]), str(figures[f"{key}_ms_p99"]), ratio)
    console.print(table)
    console.print(
        f"{result['invited']}/{widgets} widgets invited; server memory "
        f"{figures['server_kib_per_widget']} KiB per open widget; "
        f"{figures['messages_per_s']} messages/s on {nodes} node(s)"
    )
    return figures
