"""The chat on several API nodes, through NATS: each node reads the conversations' events
back from the JetStream log as they are stored, and tells the others what no log holds.

A visitor's widget may reach one node and the agents' consoles another. Each chat event is
published on its conversation's own subject of the log (`NatsEventLog.topic_subject`); every
node follows those subjects alone (`ChatFeed`: a JetStream ordered consumer, in stream order,
none skipped, none twice), folds each event into the conversation it holds and pushes it to
its own connections. A node that appends an event answers its caller once its feed has read
the event back, so every node folds every conversation in the one order of the stream. A
node that starts reads back the last `REPLAY_SECONDS` of conversations; an older one comes
from the store's projection, completed from its subject.

Presence (who is on the site, which agents are at a console), typing, read receipts,
dismissed invitations and invitations are not worth a log entry: they travel as core NATS
messages, at most once, on the installation's notes subject (`SharedHub`). Each node sends
who is connected to it on every change and every `BEAT_SECONDS`, and forgets a node not
heard from for `TTL_SECONDS` (one that stopped says so). A node that serves nobody (a
`vigie worker`) waits at its start, at most `ANSWER_SECONDS`, for a first answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import msgspec

from vigie.chat.conversations import conversation_of
from vigie.chat.hub import ChatHub, Connection
from vigie.chat.pages import matcher
from vigie.events import Event

logger = logging.getLogger(__name__)

CHANNEL = "chat"
"""The notes channel the chat's nodes share."""
REPLAY_SECONDS = 24 * 3600.0
"""How far back a starting node reads the conversations' events."""
BEAT_SECONDS = 10.0
TTL_SECONDS = 30.0
ANSWER_SECONDS = 2.0
"""How long a `vigie worker`'s hub waits at its start for a first node to say who it has:
a rule it runs at once then finds the agents and visitors of the API nodes (it starts
anyway when none answers: there may be no API node)."""
APPLIED_SECONDS = 5.0
"""How long a node waits for its feed to read back what it appended before it reads the
conversation's subject itself."""
HISTORY_PAGE = 500
"""How many of a conversation's events one read of its subject asks for."""
HISTORY_MAX = 20_000
"""The most events read from a conversation's subject to complete the store's copy: past
it the rest is left to the projection (a conversation that long is a flood, not a talk)."""


class Relay(Protocol):
    """What the chat needs of a log shared between nodes (`vigie.log.nats.NatsEventLog`)."""

    def last_offset(self) -> int: ...

    def read_topic(self, topic: str, after: int = 0, limit: int | None = None) -> list[Event]: ...

    def follow_topics(
        self, on_event: Callable[[Event], None], *, replay_seconds: float
    ) -> None: ...

    def broadcast(self, channel: str, payload: bytes) -> None: ...

    def listen(self, channel: str, on_note: Callable[[bytes], None]) -> None: ...


Opener = Callable[[Sequence[Event]], Sequence[Event]]
"""What a reader does to the events it reads (crypto-shredding opens them)."""


class ChatFeed:
    """Follows the conversations' events in the shared log and hands each, in stream order,
    to `on_event` on this node's event loop."""

    name = "chat-feed"

    def __init__(
        self, relay: Relay, *, shown: Opener | None = None, replay_seconds: float = REPLAY_SECONDS
    ) -> None:
        self.relay = relay
        self.replay_seconds = replay_seconds
        self._shown: Opener = shown or (lambda events: events)
        self.on_event: Callable[[Event], None] | None = None
        """Folds and pushes one event (the chat service's)."""
        self.heard = 0
        """The offset of the last event handed over."""
        self.live_from = 0
        """Events up to this offset were stored before this node started: read back, and
        pushed to nobody (no one was connected here when they were said)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._moved = asyncio.Event()

    async def start(self) -> None:
        """Read back the recent conversations, then follow them."""
        self._loop = asyncio.get_running_loop()
        self._moved = asyncio.Event()
        self.live_from = await asyncio.to_thread(self.relay.last_offset)
        await asyncio.to_thread(
            self.relay.follow_topics, self._delivered, replay_seconds=self.replay_seconds
        )

    async def stop(self) -> None:
        """Nothing of its own: closing the log ends the subscription."""
        self.on_event = None

    def _delivered(self, event: Event) -> None:
        """An event stored (on the log client's thread): hand it to the event loop, in order."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._hand_over, event)

    def _hand_over(self, event: Event) -> None:
        offset = event.offset or 0
        try:
            if self.on_event is not None:
                for opened in self._shown([event]):
                    self.on_event(opened)
        except Exception:
            logger.exception("the chat could not apply event %s of the log", offset)
        self.heard = max(self.heard, offset)
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    def live(self, event: Event) -> bool:
        """Whether `event` was stored since this node started (its pushes are news)."""
        return (event.offset or 0) > self.live_from

    async def reached(self, offset: int, *, timeout: float = APPLIED_SECONDS) -> bool:
        """Wait until the event at `offset` was handed over; False after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.heard < offset:
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), left)
        return True

    async def history(
        self, conversation_id: str, *, after: int, page: int = HISTORY_PAGE, most: int = HISTORY_MAX
    ) -> list[Event]:
        """The events of a conversation past offset `after`, read from its subject (where
        two ids made the same subject token, only this one's), `page` events at a time off
        the event loop, at most `most` of them: the node serves its other requests while a
        long conversation is read."""
        found: list[Event] = []
        read = 0
        while read < most:
            wanted = min(page, most - read)
            events = await asyncio.to_thread(self.relay.read_topic, conversation_id, after, wanted)
            read += len(events)
            if events:
                after = max(e.offset or 0 for e in events)
            found += [e for e in self._shown(events) if conversation_of(e) == conversation_id]
            if len(events) < wanted:
                return found
        logger.warning(
            "conversation %s: read its first %d events from the log, the rest is left to the "
            "store's projection",
            conversation_id[:64],
            most,
        )
        return found


class _Note(msgspec.Struct, kw_only=True):
    """One message between the chat's nodes; `k` says what it is."""

    k: str
    node: str
    agents: list[str] = []
    visitors: list[dict[str, Any]] = []
    message: dict[str, Any] = {}
    names: list[str] | None = None
    owner: str | None = None
    items: list[tuple[str, dict[str, Any]]] = []
    anonymous_id: str = ""
    until: datetime | None = None
    to: str | None = None
    """For a `state` that answers a `hello`: the node that said hello."""


_DECODER = msgspec.json.Decoder(_Note)


@dataclass
class _Peer:
    """What another node last said it has connected."""

    agents: list[str] = field(default_factory=list)
    visitors: list[dict[str, Any]] = field(default_factory=list)
    heard_at: float = 0.0


class SharedHub(ChatHub):
    """The chat's connections on this node, and those other nodes say they have: presence,
    typing, read receipts and invitations reach the visitors and agents connected anywhere."""

    def __init__(
        self,
        relay: Relay,
        *,
        node: str | None = None,
        beat_seconds: float = BEAT_SECONDS,
        ttl_seconds: float = TTL_SECONDS,
        answer_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.answer_seconds = answer_seconds
        """How long `start` waits for a first node to say who it has (0: not at all)."""
        self._answered = asyncio.Event()
        self.relay = relay
        self.node = node or uuid.uuid4().hex[:12]
        self.beat_seconds = beat_seconds
        self.ttl_seconds = ttl_seconds
        self._monotonic = monotonic
        self._peers: dict[str, _Peer] = {}
        self._peers_lock = threading.Lock()
        self._beat: asyncio.Task[None] | None = None
        self._state_due = False
        self._stopped = False
        """Said goodbye: it tells no more of who it has (its closing connections would
        list it, and them, at the other nodes again)."""

    async def start(self) -> None:
        """Listen to the other nodes, ask them who they have, and say who is here; then wait
        up to `answer_seconds` for a first one to answer."""
        await super().start()
        self._stopped = False
        self._answered = asyncio.Event()
        await asyncio.to_thread(self.relay.listen, CHANNEL, self._heard)
        self._send(_Note(k="hello", node=self.node))
        self._send_state()
        self._beat = asyncio.create_task(self._beating(), name="vigie-chat-beat")
        if self.answer_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), self.answer_seconds)

    async def stop(self) -> None:
        """Say this node leaves, then close its connections."""
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        self._stopped = True
        self._send(_Note(k="bye", node=self.node))
        await super().stop()

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.beat_seconds)
            self._send_state()
            self._expire()

    # Telling the other nodes.

    def _send(self, note: _Note) -> None:
        try:
            self.relay.broadcast(CHANNEL, msgspec.json.encode(note))
        except Exception:
            logger.exception("the chat could not tell the other nodes (%s)", note.k)

    def _send_state(self) -> None:
        self._state_due = False
        self._say_state(None)

    def _say_state(self, to: str | None) -> None:
        """Say who is connected here; `to`: the node whose hello this answers."""
        if self._stopped:
            return
        with self._lock:
            agents = sorted(self.agents)
            visitors = [v.describe() for v in self.visitors.values()]
        self._send(_Note(k="state", node=self.node, agents=agents, visitors=visitors, to=to))

    def _changed(self) -> None:
        """Who is connected here changed: say so soon, once for a burst of changes."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._state_due:
            return
        self._state_due = True
        loop.call_soon_threadsafe(loop.call_later, 0.05, self._send_state)

    def connect_visitor(
        self, *, anonymous_id: str, source: str, page: str, language: str | None, now: datetime
    ) -> Connection:
        connection = super().connect_visitor(
            anonymous_id=anonymous_id, source=source, page=page, language=language, now=now
        )
        self._changed()
        return connection

    def disconnect_visitor(self, anonymous_id: str, connection: Connection) -> None:
        super().disconnect_visitor(anonymous_id, connection)
        self._changed()

    def connect_agent(self, name: str, *, own_only: bool = False) -> Connection:
        connection = super().connect_agent(name, own_only=own_only)
        self._changed()
        return connection

    def disconnect_agent(self, name: str, connection: Connection) -> None:
        super().disconnect_agent(name, connection)
        self._changed()

    def tell_agents(
        self,
        message: dict[str, Any],
        names: list[str] | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Push to the consoles here, and ask the other nodes to push to theirs."""
        self.to_agents(message, names, owner=owner)
        self._send(_Note(k="agents", node=self.node, message=message, names=names, owner=owner))

    def tell_visitors(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Push to the widgets here and elsewhere; how many of the visitors are known to
        have one open (here, or at another node when it last said)."""
        here = self.to_visitors(messages)
        if not messages:
            return here
        self._send(_Note(k="visitors", node=self.node, items=list(messages)))
        with self._lock:
            local = set(self.visitors)
        elsewhere = {v["anonymous_id"] for v in self._remote_visitors()} - local
        return here + len({aid for aid, _ in messages if aid in elsewhere})

    def dismiss(self, anonymous_id: str, until: datetime) -> None:
        """Remember it here, and at every node the visitor's next page may reach."""
        super().dismiss(anonymous_id, until)
        self._send(_Note(k="dismiss", node=self.node, anonymous_id=anonymous_id, until=until))

    # What the other nodes said.

    def _heard(self, payload: bytes) -> None:
        """A note from a node (on the log client's thread); a malformed one is dropped."""
        try:
            note = _DECODER.decode(payload)
        except msgspec.DecodeError:
            logger.warning("dropped a malformed chat note of %d bytes", len(payload))
            return
        if note.node == self.node:
            return
        if note.k == "state":
            visitors = [
                v
                for v in note.visitors
                if isinstance(v.get("anonymous_id"), str) and isinstance(v.get("page"), str)
            ]
            with self._peers_lock:
                self._peers[note.node] = _Peer(list(note.agents), visitors, self._monotonic())
            self._expire()
            if note.to == self.node:
                self._answer()
        elif note.k == "hello":
            self._say_state(note.node)
        elif note.k == "bye":
            with self._peers_lock:
                self._peers.pop(note.node, None)
        elif note.k == "agents":
            self.to_agents(note.message, note.names, owner=note.owner)
        elif note.k == "visitors":
            self.to_visitors(note.items)
        elif note.k == "dismiss" and note.anonymous_id and note.until is not None:
            super().dismiss(note.anonymous_id, note.until)

    def _answer(self) -> None:
        """A node answered this one's hello with who it has: `start` waits no more (on the log
        client's thread). A state it sent before it heard the hello (its own start's, its
        last beat) may be older than what it has now, and does not end the wait."""
        loop = self._loop
        if self._answered.is_set() or loop is None or loop.is_closed():
            return
        if _running(loop):
            self._answered.set()
        else:
            loop.call_soon_threadsafe(self._answered.set)

    def _expire(self) -> None:
        """Forget the nodes not heard from for `ttl_seconds` (stopped without a goodbye):
        their connections are listed no more, and the map does not grow with every node
        that ever ran."""
        since = self._monotonic() - self.ttl_seconds
        with self._peers_lock:
            for node in [n for n, p in self._peers.items() if p.heard_at < since]:
                del self._peers[node]

    def peers(self) -> list[str]:
        """The other nodes heard from within `ttl_seconds`."""
        self._expire()
        with self._peers_lock:
            return sorted(self._peers)

    def _live_peers(self) -> list[_Peer]:
        self._expire()
        with self._peers_lock:
            return list(self._peers.values())

    def _remote_visitors(self) -> list[dict[str, Any]]:
        return [v for peer in self._live_peers() for v in peer.visitors]

    def connected_agents(self) -> list[str]:
        """The agents with a console open on any node."""
        remote = {a for peer in self._live_peers() for a in peer.agents}
        return sorted(set(super().connected_agents()) | remote)

    def snapshot(self) -> list[dict[str, Any]]:
        """The visitors on the site now, whatever node their widget reached."""
        found = super().snapshot()
        seen = {v["anonymous_id"] for v in found}
        for visitor in self._remote_visitors():
            if visitor.get("anonymous_id") not in seen:
                seen.add(visitor.get("anonymous_id"))
                found.append(visitor)
        return found

    def present(self, *, page: str | None, now: datetime, limit: int) -> list[str]:
        """`ChatHub.present` over every node's widgets."""
        found = super().present(page=page, now=now, limit=limit)
        on_page = matcher(page) if page is not None else None
        seen = set(found)
        with self._lock:
            dismissed = set(self._dismissed)
        for visitor in self._remote_visitors():
            aid = visitor.get("anonymous_id")
            if not isinstance(aid, str) or aid in seen or aid in dismissed:
                continue
            if on_page is None or on_page(str(visitor.get("page", ""))):
                seen.add(aid)
                found.append(aid)
        return found[:limit]


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread runs `loop`."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
