"""Who is on the site now and who is at the console: the open connections, in memory.

A visitor is present while at least one of their widgets holds a connection (WebSocket or
event stream); each page they open connects anew with its path, so presence says where they
are now, not where an old event said they were. Messages for a connection wait in its
outbox as JSON text, encoded once however many connections get them, which the web edge
drains; pushes from other threads (a playbook step) go through the event loop.

What no log holds (presence, typing, read receipts, invitations) is *told* (`tell_agents`,
`tell_visitors`): here, to this process's connections; on several API nodes, to every node's
(`vigie.chat.fanout.SharedHub`). What the log holds is pushed by each node as it reads it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from vigie.chat.pages import matcher, normalise

OUTBOX = 500
"""Messages a connection may have waiting; a client that far behind is disconnected."""


def encode(message: dict[str, Any]) -> str:
    """A message as the connections send it: JSON text."""
    return msgspec.json.encode(message).decode()


class Connection:
    """One open widget or console tab: an outbox of messages (JSON text) for it."""

    def __init__(self, *, own_only: bool = False) -> None:
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX)
        self.closed = False
        self.own_only = own_only
        """A console that sees only its agent's conversations (a salesperson's)."""

    def push(self, message: str) -> None:
        """Queue `message` (on the event loop's thread); a full outbox ends the connection."""
        if self.closed:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        """End the connection: its reader gets None and stops."""
        if not self.closed:
            self.closed = True
            while True:
                try:
                    self.outbox.put_nowait(None)
                    return
                except asyncio.QueueFull:
                    self.outbox.get_nowait()


@dataclass
class Visitor:
    """A visitor on the site now: their page and open widgets."""

    anonymous_id: str
    source: str
    page: str
    language: str | None
    since: datetime
    connections: list[Connection] = field(default_factory=list)
    journey: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The visitor as the console shows them."""
        return {
            "anonymous_id": self.anonymous_id,
            "source": self.source,
            "page": self.page,
            "language": self.language,
            "since": self.since.isoformat(),
            "journey": self.journey[-10:],
        }


class ChatHub:
    """The live connections of visitors and agents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.visitors: dict[str, Visitor] = {}
        self.agents: dict[str, list[Connection]] = {}
        self._dismissed: dict[str, datetime] = {}
        self._queued: list[Callable[[], None]] = []
        self._flush_scheduled = False

    name = "chat-hub"

    async def start(self) -> None:
        """Bind to the running event loop, where the connections are drained."""
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Close every connection."""
        self.close()

    def close(self) -> None:
        """End every open widget and console connection (on the event loop's thread): a
        stopping server tells them so instead of cutting them after its grace period."""
        with self._lock:
            connections = [c for v in self.visitors.values() for c in v.connections]
            connections += [c for cs in self.agents.values() for c in cs]
        for connection in connections:
            connection.close()

    def _call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the event loop's thread (now, when already there). Calls from other
        threads are queued and run together: a playbook inviting a thousand visitors wakes
        the loop once, not a thousand times."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            fn()
            return
        with self._lock:
            self._queued.append(fn)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            queued, self._queued = self._queued, []
            self._flush_scheduled = False
        for fn in queued:
            fn()

    def connect_visitor(
        self, *, anonymous_id: str, source: str, page: str, language: str | None, now: datetime
    ) -> Connection:
        """A new widget connection of a visitor, on `page`."""
        connection = Connection()
        path = normalise(page)
        with self._lock:
            visitor = self.visitors.get(anonymous_id)
            if visitor is None:
                visitor = Visitor(anonymous_id, source, path, language, now)
                self.visitors[anonymous_id] = visitor
            visitor.page = path
            visitor.language = language or visitor.language
            if not visitor.journey or visitor.journey[-1] != path:
                visitor.journey.append(path)
            visitor.connections.append(connection)
        self.tell_agents({"type": "presence", "visitor": visitor.describe(), "present": True})
        return connection

    def disconnect_visitor(self, anonymous_id: str, connection: Connection) -> None:
        """A widget connection ended; the visitor leaves with their last one."""
        connection.close()
        with self._lock:
            visitor = self.visitors.get(anonymous_id)
            if visitor is None:
                return
            visitor.connections = [c for c in visitor.connections if c is not connection]
            gone = not visitor.connections
            if gone:
                del self.visitors[anonymous_id]
        if gone:
            self.tell_agents({"type": "presence", "visitor": visitor.describe(), "present": False})

    def connect_agent(self, name: str, *, own_only: bool = False) -> Connection:
        """A new console connection of agent `name`; `own_only`: it is not sent what is said
        in a conversation another agent has taken."""
        connection = Connection(own_only=own_only)
        with self._lock:
            self.agents.setdefault(name, []).append(connection)
        return connection

    def disconnect_agent(self, name: str, connection: Connection) -> None:
        """A console connection ended."""
        connection.close()
        with self._lock:
            left = [c for c in self.agents.get(name, []) if c is not connection]
            if left:
                self.agents[name] = left
            else:
                self.agents.pop(name, None)

    def to_visitor(self, anonymous_id: str, message: dict[str, Any]) -> bool:
        """Push `message` to every open widget of a visitor; whether one was open."""
        return self.to_visitors([(anonymous_id, message)]) > 0

    def to_visitors(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Push each `(anonymous_id, message)` to that visitor's open widgets, all in one
        call on the event loop; how many of the visitors had a widget open."""
        with self._lock:
            found = [
                (list(visitor.connections), message)
                for anonymous_id, message in messages
                if (visitor := self.visitors.get(anonymous_id)) is not None
            ]
        batch = [(targets, encode(message)) for targets, message in found if targets]
        if batch:
            self._call(_batch_pusher(batch))
        return len(batch)

    def to_agents(
        self,
        message: dict[str, Any],
        names: list[str] | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Push `message` to the consoles of `names` (every agent connected when None); when
        it is about a conversation `owner` has taken, not to the own-only consoles of others."""
        with self._lock:
            targets = [
                c
                for name, cs in self.agents.items()
                if names is None or name in names
                for c in cs
                if owner is None or not c.own_only or name == owner
            ]
        if targets:
            self._call(_batch_pusher([(targets, encode(message))]))

    def tell_visitors(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """`to_visitors` for what no log holds, wherever the visitors are connected; how many
        of them are known to have a widget open."""
        return self.to_visitors(messages)

    def tell_agents(
        self,
        message: dict[str, Any],
        names: list[str] | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """`to_agents` for what no log holds, wherever the consoles are connected."""
        self.to_agents(message, names, owner=owner)

    def withdraw(self, conversation_id: str, *, owner: str) -> None:
        """Tell the own-only consoles of everyone but `owner` that the conversation left
        their view (`owner` took it, or it was handed to them), so that it leaves their
        screen at once instead of at their next reload."""
        with self._lock:
            targets = [
                c for name, cs in self.agents.items() if name != owner for c in cs if c.own_only
            ]
        if targets:
            message = encode({"type": "withdrawn", "conversation_id": conversation_id})
            self._call(_batch_pusher([(targets, message)]))

    def dismiss(self, anonymous_id: str, until: datetime) -> None:
        """The visitor closed an invitation: invite them no more until `until`."""
        with self._lock:
            self._dismissed[anonymous_id] = until

    def present(self, *, page: str | None, now: datetime, limit: int) -> list[str]:
        """The visitors with an open widget (on a page matching `page` when given) who have
        not closed an invitation this session."""
        on_page = matcher(page) if page is not None else None
        with self._lock:
            self._dismissed = {k: v for k, v in self._dismissed.items() if v > now}
            found = [
                v.anonymous_id
                for v in self.visitors.values()
                if v.anonymous_id not in self._dismissed and (on_page is None or on_page(v.page))
            ]
        return found[:limit]

    def snapshot(self) -> list[dict[str, Any]]:
        """The visitors on the site now, for the console."""
        with self._lock:
            return [v.describe() for v in self.visitors.values()]

    def connected_agents(self) -> list[str]:
        """The agents with a console open."""
        with self._lock:
            return sorted(self.agents)


def _batch_pusher(batch: list[tuple[list[Connection], str]]) -> Callable[[], None]:
    def push() -> None:
        for targets, message in batch:
            for connection in targets:
                connection.push(message)

    return push


def session_end(now: datetime, minutes: int) -> datetime:
    """When a visitor's session ends, for a dismissal made `now`."""
    return now + timedelta(minutes=minutes)
