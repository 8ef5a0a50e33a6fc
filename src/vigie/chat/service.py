"""`ChatService`: what the widget and the console may do, checked, logged, then pushed live.

Every change is an event appended to the log first (so a replay rebuilds it) and folded into
the open conversation the service holds; only then is it pushed to the connections. Typing
and read receipts are pushed only: they are not facts worth a log entry.

With the log on NATS several API nodes serve the chat (`vigie.chat.fanout`): each folds and
pushes the events its feed reads back from the log, its own included, so that a visitor on
one node and an agent on another see one conversation, in one order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.auth.roles import Role
from vigie.auth.users import Principal
from vigie.chat import conversations as chat
from vigie.chat.config import ChatConfig
from vigie.chat.conversations import Conversation, Message
from vigie.chat.fanout import ChatFeed
from vigie.chat.hub import ChatHub, Connection, session_end
from vigie.chat.kpis import ChatKpis
from vigie.chat.limits import RateLimiter
from vigie.chat.processor import load, load_many
from vigie.chat.tables import conversations as conversations_table
from vigie.chat.tokens import issue, verify
from vigie.clock import Clock
from vigie.crm.entities import ENTITIES
from vigie.crm.service import CrmService
from vigie.events import Event
from vigie.log import GroupCommitter
from vigie.log.eventlog import AppendJob
from vigie.privacy.scrubbing import TOKEN_PREFIX
from vigie.schedule.schedules import ScheduleConfig, is_on_duty, next_working_instant

logger = logging.getLogger(__name__)

MAX_TAGS = 20
MAX_TAG_CHARS = 60
MAX_FIELD_CHARS = 500
CLOSED_KEPT = 1000
_IN_CHUNK = 500
"""Closed conversations kept in memory, for the answers about them just after closing."""


class ChatError(Exception):
    """A chat request that cannot be done; the message says why (in English and French)."""

    status = 400
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthorized(ChatError):
    status = 401


class NotYours(ChatError):
    status = 403


class UnknownConversation(ChatError):
    status = 404


class Conflict(ChatError):
    status = 409


class TooLarge(ChatError):
    status = 413


class Gone(ChatError):
    """The conversation was erased while a change to it was under way: nothing was stored."""

    status = 410


class Invalid(ChatError):
    status = 422


class TooMany(ChatError):
    """A flood: the visitor or the site sent too much; retry after `retry_after` seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class VisitorId:
    """A visitor whose token was checked: their source, anonymous id (as stored: its
    pseudonym when visitor ids are pseudonymised) and browser key."""

    def __init__(self, source: str, anonymous_id: str, key: str) -> None:
        self.source = source
        self.anonymous_id = anonymous_id
        self.key = key


def _text(value: object, *, field: str, limit: int) -> str:
    """A message's text: a non-empty string without NUL, at most `limit` characters."""
    if not isinstance(value, str):
        raise Invalid(f"{field}: a string is required / texte requis", field=field)
    text = value.strip()
    if not text:
        raise Invalid(f"{field}: must not be empty / ne peut être vide", field=field)
    if "\x00" in text:
        raise Invalid(f"{field}: must not contain NUL characters / caractère NUL", field=field)
    if len(text) > limit:
        raise TooLarge(
            f"{field}: {len(text)} characters, at most {limit} / {limit} caractères au plus",
            field=field,
        )
    return text


def _short(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    return _text(value, field=field, limit=MAX_FIELD_CHARS)


CHAT_PRINCIPAL = Principal(id=0, username="chat", role=Role.ADMIN)
"""Who writes the offline form's ticket to the CRM: the chat itself."""


class ChatService:
    """Conversations between the site's visitors and the agents on duty."""

    def __init__(
        self,
        *,
        config: ChatConfig,
        schedule: ScheduleConfig,
        secret: Callable[[], str],
        source_for_key: Callable[[str], str | None],
        engine: sa.Engine,
        committer: GroupCommitter,
        crm: CrmService,
        clock: Clock,
        hub: ChatHub | None = None,
        kpis: ChatKpis | None = None,
        visitor_id: Callable[[str], str] = str,
        feed: ChatFeed | None = None,
    ) -> None:
        self.config = config
        self._visitor_id = visitor_id
        """The id stored for the visitor a browser names (`Safeguards.visitor_id`): the chat
        knows visitors by it, as the log, the journeys and the contacts do."""
        self.kpis = kpis or ChatKpis(
            conversion_event=config.conversion_event, conversion_hours=config.conversion_hours
        )
        """The chat's KPIs, folded from the log by the processors (see `vigie.chat.kpis`)."""
        self.schedule = schedule
        self._secret = secret
        self._source_for_key = source_for_key
        self._engine = engine
        self._committer = committer
        self._crm = crm
        self.clock = clock
        self.hub = hub or ChatHub()
        self._open: dict[str, Conversation] = {}
        self._closed: OrderedDict[str, Conversation] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop that holds the conversations: only it changes them."""
        self._loading: dict[str, asyncio.Task[Conversation | None]] = {}
        """The conversations being read from the store and the log, one read each."""
        self._waiting: dict[str, list[Event]] = {}
        """The feed's events of a conversation being read, folded once it is."""
        self._appending: dict[str, int] = {}
        """How many appends to each conversation are under way."""
        self._stale: set[str] = set()
        """Conversations an erasure made stale while an append was under way: dropped once
        it is done."""
        self._forgotten = 0
        """How many times held copies were dropped: a read that began before is redone."""
        self.feed = feed
        """With the log shared between nodes, what folds the conversations here: every
        event, this node's and the others', as the feed reads it back from the log."""
        if feed is not None:
            feed.on_event = self._heard
        self._visitor_limit = RateLimiter(config.visitor_messages_per_minute)
        self._source_limit = RateLimiter(config.source_messages_per_minute)

    # The visitor's side.

    def session(self, *, write_key: str, anonymous_id: str, token: str | None) -> dict[str, Any]:
        """The widget's session: a token for this browser (the one given, when valid), and
        whether an agent is on duty to answer now."""
        source = self._source(write_key)
        anonymous_id = _id(anonymous_id, "anonymousId")
        if (
            token is None
            or verify(self._secret(), token, source=source, anonymous_id=anonymous_id) is None
        ):
            token = issue(self._secret(), source=source, anonymous_id=anonymous_id)
        return {"token": token, "online": bool(self.agents_on_duty()), "source": source}

    def visitor(self, *, write_key: str, anonymous_id: str, token: str) -> VisitorId:
        """The visitor a request comes from; `Unauthorized` when the token is not theirs. The
        token is bound to the id the browser holds; the visitor is known by its stored id."""
        source = self._source(write_key)
        key = verify(self._secret(), token, source=source, anonymous_id=anonymous_id)
        if key is None:
            raise Unauthorized("invalid visitor token / jeton de visiteur invalide", field="token")
        return VisitorId(source, self._visitor_id(anonymous_id), key)

    def connect(self, visitor: VisitorId, *, page: str, language: str | None) -> Connection:
        """Open a live connection for a widget on `page`."""
        return self.hub.connect_visitor(
            anonymous_id=visitor.anonymous_id,
            source=visitor.source,
            page=page[:MAX_FIELD_CHARS],
            language=language,
            now=self.clock.now(),
        )

    async def mine(self, visitor: VisitorId) -> list[dict[str, Any]]:
        """The visitor's open conversations opened from this browser, with their messages."""
        query = sa.select(conversations_table.c.id).where(
            conversations_table.c.anonymous_id == visitor.anonymous_id,
            conversations_table.c.status == "open",
        )
        ids = await asyncio.to_thread(self._ids, query)
        found = [c for c in await asyncio.gather(*map(self._get, ids)) if c is not None]
        found += [
            c
            for c in self._open.values()
            if c.anonymous_id == visitor.anonymous_id and c not in found
        ]
        return [
            _for_visitor(c) for c in found if c.visitor_key == visitor.key and c.status == "open"
        ]

    async def start(self, visitor: VisitorId, body: dict[str, Any]) -> dict[str, Any]:
        """Open a conversation with the visitor's first message."""
        text = _text(body.get("text"), field="text", limit=self.config.max_message_chars)
        self._limit(visitor)
        invitation = body.get("invitationId")
        if invitation is not None and not (isinstance(invitation, int) and invitation > 0):
            raise Invalid("invitationId: a positive integer / entier positif", field="invitationId")
        campaign = body.get("campaign")
        if campaign is not None and not isinstance(campaign, dict):
            raise Invalid("campaign: an object / un objet", field="campaign")
        now = self.clock.now()
        cid = chat.new_id()
        common: dict[str, Any] = {
            "source": visitor.source,
            "anonymous_id": visitor.anonymous_id,
            "at": now,
        }
        started = chat.chat_event(
            chat.STARTED,
            cid,
            **common,
            properties={
                "visitor_key": visitor.key,
                "page": _short(body.get("page"), "page"),
                "funnel_step": _short(body.get("funnelStep"), "funnelStep"),
                "invitation_id": invitation,
                "run_id": _short(body.get("runId"), "runId"),
                "language": _short(body.get("language"), "language"),
            },
            context={"campaign": {k: str(v)[:200] for k, v in (campaign or {}).items()}},
        )
        message = chat.chat_event(
            chat.MESSAGE,
            cid,
            **common,
            properties={"message_id": chat.new_id(), "sender": "visitor", "text": text},
        )
        conversation = await self._append(None, [started, message])
        return _for_visitor(conversation)

    async def visitor_says(self, visitor: VisitorId, cid: str, text: object) -> dict[str, Any]:
        """A visitor's message in one of their conversations."""
        body = _text(text, field="text", limit=self.config.max_message_chars)
        conversation = await self._visitor_conversation(visitor, cid)
        self._limit(visitor)
        message = await self._say(conversation, "visitor", None, body)
        return _message(message)

    async def visitor_typing(self, visitor: VisitorId, cid: str) -> None:
        """The visitor is typing: tell the conversation's agents."""
        conversation = await self._visitor_conversation(visitor, cid)
        self.hub.tell_agents(
            {"type": "typing", "conversation_id": cid, "sender": "visitor"},
            _owners(conversation),
        )

    async def visitor_read(self, visitor: VisitorId, cid: str, message_id: str) -> None:
        """The visitor has read up to `message_id`: a read receipt for the agents."""
        conversation = await self._visitor_conversation(visitor, cid)
        self.hub.tell_agents(
            {"type": "read", "conversation_id": cid, "sender": "visitor", "message_id": message_id},
            _owners(conversation),
        )

    def dismiss(self, visitor: VisitorId) -> None:
        """The visitor closed an invitation: none again this session."""
        now = self.clock.now()
        self.hub.dismiss(
            visitor.anonymous_id, session_end(now, self.config.invitation_session_minutes)
        )

    async def offline(self, visitor: VisitorId, body: dict[str, Any]) -> dict[str, Any]:
        """The offline form: a support ticket due in the next working period (nobody pinged)."""
        text = _text(body.get("text"), field="text", limit=self.config.max_message_chars)
        email = _short(body.get("email"), "email")
        name = _short(body.get("name"), "name")
        if email is None or "@" not in email:
            raise Invalid("email: an email address is required / adresse requise", field="email")
        self._limit(visitor)
        now = self.clock.now()
        starts = self._next_working(now)
        minutes = max(1, math.ceil((starts - now).total_seconds() / 60))
        minutes += self.config.offline_response_minutes
        ticket = await self._crm.create(
            ENTITIES["tickets"],
            {
                "subject": f"Chat offline: {name or email}"[:200],
                "channel": "chat",
                "queue": "chat",
                "opened_at": now.isoformat(),
                "sla_first_response_minutes": min(minutes, 525600),
            },
            CHAT_PRINCIPAL,
            Actor(name=f"chat:{visitor.source}"),
        )
        record = ticket.model_dump(mode="json")
        message = chat.chat_event(
            chat.OFFLINE,
            chat.new_id(),
            source=visitor.source,
            anonymous_id=visitor.anonymous_id,
            at=now,
            properties={"ticket_id": record["id"], "text": text},
        )
        message.traits = {"email": email, "name": name}
        await self._committer.append(AppendJob(events=[message], source=visitor.source))
        return {"ticket_id": record["id"], "due_at": record["first_response_due_at"]}

    # The agent's side.

    async def inbox(self, *, reader: str | None = None) -> list[dict[str, Any]]:
        """The open conversations, newest first; for a `reader` who sees only their own (a
        salesperson), those nobody has taken yet and theirs. Those whose visitor was erased
        are left out: nobody can answer them any more."""
        query = (
            sa.select(conversations_table.c.id)
            .where(
                conversations_table.c.status == "open",
                ~conversations_table.c.anonymous_id.startswith(TOKEN_PREFIX, autoescape=True),
            )
            .order_by(conversations_table.c.started_at_us.desc())
            .limit(200)
        )
        ids = await asyncio.to_thread(self._ids, query)
        loaded = await self._get_many(ids)
        found = {c.id: c for c in loaded if c is not None}
        found.update({c.id: c for c in self._open.values()})
        listed = sorted(found.values(), key=lambda c: c.started_at, reverse=True)
        return [
            c.describe()
            for c in listed
            if c.status == "open" and _readable(c, reader) and not _erased(c)
        ]

    async def conversation(self, cid: str, *, reader: str | None = None) -> dict[str, Any]:
        """One conversation, open or closed; for a `reader` who sees only their own, a
        colleague's is as unknown (404) as a CRM record out of their scope."""
        found = await self._get(cid)
        if found is None or not _readable(found, reader):
            raise UnknownConversation(_unknown(cid), field="conversation_id")
        return found.describe()

    async def agent_says(self, agent: str, cid: str, text: object) -> dict[str, Any]:
        """An agent's reply; the first agent to reply owns the conversation."""
        body = _text(text, field="text", limit=self.config.max_message_chars)
        conversation = await self._agent_conversation(agent, cid)
        if conversation.owner is None:
            await self._append(
                conversation, [self._event(conversation, chat.ASSIGNED, agent=agent)]
            )
        message = await self._say(conversation, "agent", agent, body)
        return _message(message)

    async def assign(self, agent: str, cid: str, to: str) -> dict[str, Any]:
        """Take an unowned conversation, or transfer one's own to another agent on duty."""
        conversation = await self._agent_conversation(agent, cid, claiming=True)
        if to != agent and to not in self.agents_on_duty():
            raise Invalid(f"to: {to!r} is not an agent on duty / pas de service", field="to")
        updated = await self._append(
            conversation, [self._event(conversation, chat.ASSIGNED, agent=to)]
        )
        return updated.describe()

    async def tag(self, agent: str, cid: str, tags: object) -> dict[str, Any]:
        """Tag a conversation's objections ("price", "delivery time", "bug at checkout")."""
        if not isinstance(tags, list) or not tags or len(tags) > MAX_TAGS:
            raise Invalid(f"tags: a list of 1 to {MAX_TAGS} tags / liste de tags", field="tags")
        clean = [_text(t, field="tags", limit=MAX_TAG_CHARS).lower() for t in tags]
        conversation = await self._agent_conversation(agent, cid)
        updated = await self._append(
            conversation, [self._event(conversation, chat.TAGGED, tags=clean)]
        )
        return updated.describe()

    async def close(self, agent: str, cid: str, outcome: object) -> dict[str, Any]:
        """Close a conversation with its outcome; the visitor's widget is told."""
        result = _text(outcome, field="outcome", limit=MAX_TAG_CHARS)
        conversation = await self._agent_conversation(agent, cid)
        updated = await self._append(
            conversation, [self._event(conversation, chat.CLOSED, outcome=result, agent=agent)]
        )
        return updated.describe()

    async def agent_typing(self, agent: str, cid: str) -> None:
        """The agent is typing: tell the visitor."""
        conversation = await self._agent_conversation(agent, cid)
        self.hub.tell_visitors(
            [
                (
                    conversation.anonymous_id,
                    {"type": "typing", "conversation_id": cid, "sender": "agent"},
                )
            ]
        )

    async def agent_read(self, agent: str, cid: str, message_id: str) -> None:
        """The agent has read up to `message_id`: a read receipt for the visitor."""
        conversation = await self._agent_conversation(agent, cid)
        self.hub.tell_visitors(
            [
                (
                    conversation.anonymous_id,
                    {
                        "type": "read",
                        "conversation_id": cid,
                        "sender": "agent",
                        "message_id": message_id,
                    },
                )
            ]
        )

    def canned(self) -> dict[str, dict[str, str]]:
        """The canned answers in each language."""
        return self.config.canned_answers

    # Who answers, and the playbooks' door (`vigie.playbooks.actions.port.LiveChat`).

    def agents(self) -> list[str]:
        """The people who answer the chat: `chat.agents` (teams expanded), else everybody."""
        names: list[str] = []
        for name in self.config.agents or [p.name for p in self.schedule.people]:
            members = self.schedule.members(name) if self.schedule.team(name) else []
            names += [m.name for m in members] or [name]
        return sorted(set(names))

    def agents_on_duty(self) -> list[str]:
        """The chat's agents on duty now (working hours or on call)."""
        now = self.clock.now()
        return [
            name
            for name in self.agents()
            if (person := self.schedule.person(name)) is not None
            and is_on_duty(self.schedule, person, now)
        ]

    def can_answer(self) -> list[str]:
        """The agents on duty with the console open: who could answer an invitation now."""
        connected = set(self.hub.connected_agents())
        return [a for a in self.agents_on_duty() if a in connected]

    def present(self, *, page: str | None, limit: int) -> list[str]:
        """The visitors with an open widget now, on `page` (a tolerant pattern) if given."""
        return self.hub.present(page=page, now=self.clock.now(), limit=limit)

    def deliver(self, invitations: Sequence[tuple[str, int]], *, message: str, run_id: str) -> int:
        """Push each invitation `(anonymous_id, invitation_id)` to that visitor's open
        widgets, in one go; how many of the visitors had a widget open."""
        return self.hub.tell_visitors(
            [
                (
                    anonymous_id,
                    {
                        "type": "invitation",
                        "id": invitation_id,
                        "message": message,
                        "run_id": run_id,
                    },
                )
                for anonymous_id, invitation_id in invitations
            ]
        )

    # Inside.

    def _source(self, write_key: str) -> str:
        source = self._source_for_key(write_key) if write_key else None
        if source is None:
            raise Unauthorized("unknown write key / clé d'écriture inconnue", field="writeKey")
        return source

    def _limit(self, visitor: VisitorId) -> None:
        now = self.clock.now()
        wait = self._source_limit.take(visitor.source, now)
        if wait:
            raise TooMany(
                f"too many messages from source {visitor.source!r}; retry later / trop de messages",
                retry_after=wait,
            )
        wait = self._visitor_limit.take(f"{visitor.source}\x00{visitor.anonymous_id}", now)
        if wait:
            raise TooMany("too many messages; retry later / trop de messages", retry_after=wait)

    def _next_working(self, now: datetime) -> datetime:
        """When the next working period of the chat's agents starts (now, when on duty)."""
        starts = [
            at
            for name in self.agents()
            if (person := self.schedule.person(name)) is not None
            and (at := next_working_instant(self.schedule, person, now)) is not None
        ]
        return min(starts, default=now)

    def _ids(self, query: sa.Select[tuple[str]]) -> list[str]:
        """The conversation ids `query` selects (on a worker thread)."""
        with self._engine.connect() as conn:
            return [str(cid) for cid in conn.execute(query).scalars()]

    def _stored_visitor(self, cid: str) -> str | None:
        """The visitor the store's copy of the conversation names, None when it has none
        yet (on a worker thread)."""
        query = sa.select(conversations_table.c.anonymous_id).where(conversations_table.c.id == cid)
        with self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)

    def _stored_many(self, ids: list[str]) -> dict[str, Conversation]:
        """The conversations of `ids` the store's projection holds (on a worker thread)."""
        found: dict[str, Conversation] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                found.update(load_many(conn, ids[start : start + _IN_CHUNK]))
        return found

    async def _get_many(self, ids: list[str]) -> list[Conversation | None]:
        """`_get` of each of `ids`, in order; those neither held nor being read are read
        from the store in one query (a fresh node's inbox), then each completed from the
        log as `_get` does."""
        wanted = [cid for cid in ids if self._held(cid) is None and cid not in self._loading]
        if wanted:
            forgotten = self._forgotten
            stored = await asyncio.to_thread(self._stored_many, wanted)
            for cid in wanted:
                if self._held(cid) is None and cid not in self._loading:
                    self._load(cid, (forgotten, stored.get(cid)))
        return list(await asyncio.gather(*map(self._get, ids)))

    def _stored(self, cid: str) -> Conversation | None:
        """The conversation as the store's projection holds it (on a worker thread)."""
        with self._engine.connect() as conn:
            return load(conn, cid)

    async def _get(self, cid: str) -> Conversation | None:
        """The conversation held here, else read (once, however many ask at the same time)
        from the store and completed from the log, off the event loop."""
        held = self._held(cid)
        if held is not None:
            return held
        if not cid or len(cid) > 64 or "\x00" in cid:
            return None  # no conversation has such an id (and PostgreSQL refuses a NUL)
        loading = self._loading.get(cid)
        if loading is None:
            loading = self._load(cid)
        return await asyncio.shield(loading)

    def _load(
        self, cid: str, stored: tuple[int, Conversation | None] | None = None
    ) -> asyncio.Task[Conversation | None]:
        task = asyncio.create_task(self._read(cid, stored), name=f"vigie-chat-read-{cid[:16]}")
        self._loading[cid] = task
        task.add_done_callback(lambda done: self._loaded(cid, done))
        return task

    def _loaded(self, cid: str, task: asyncio.Task[Conversation | None]) -> None:
        if self._loading.get(cid) is task:
            del self._loading[cid]
        if not task.cancelled() and task.exception() is not None:
            self._waiting.pop(cid, None)
            logger.error("the chat could not read conversation %s", cid, exc_info=task.exception())

    async def _read(
        self, cid: str, stored: tuple[int, Conversation | None] | None = None
    ) -> Conversation | None:
        """Read the conversation from the store (or take `stored`: the store's copy, read
        when `_forgotten` was at its first item), complete it from its subject in the log,
        fold in what the feed heard of it meanwhile and hold it; read again when an erasure
        dropped the copies here during the read (it may have read the store before)."""
        while True:
            forgotten = self._forgotten
            if stored is not None and stored[0] == forgotten:
                found = stored[1]
            else:
                found = await asyncio.to_thread(self._stored, cid)
            stored = None
            if self.feed is not None:
                # The projection may lag behind the log (or miss what this node has not
                # read yet): its conversation is completed from the conversation's subject.
                for event in await self.feed.history(cid, after=found.version if found else 0):
                    found = chat.fold(found, event)
            if forgotten == self._forgotten:
                break
        held = self._held(cid)
        if held is not None:
            found = held
        heard = self._waiting.pop(cid, [])
        for event in heard:
            found = chat.fold(found, event)
        if found is None:
            return None
        self._hold(found)
        if self.feed is not None:
            for event in heard:
                if self.feed.live(event):
                    self._pushes(event, found)
        return found

    def forget(self) -> None:
        """Drop the conversations held here that the store holds as far (an erasure rewrote
        the store's copy, not this one): they are read again from the store when asked.
        Those the projection has not caught up with yet stay, as only this copy has them,
        unless the store's names another visitor: erased, it is read again, without what
        the erased person's copy here got past it (`chat.erased_since`).
        Called from any thread: the store is read here, the copies are dropped by the event
        loop, after the appends to them under way (see `_drop`)."""
        held = list(self._open.items()) + list(self._closed.items())
        stored: dict[str, tuple[int, str]] = {}
        ids = [cid for cid, _ in held]
        table = conversations_table
        with self._engine.connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                query = sa.select(table.c.id, table.c.version, table.c.anonymous_id)
                rows = conn.execute(query.where(table.c.id.in_(chunk)))
                stored.update({str(cid): (int(v), str(aid)) for cid, v, aid in rows})
        loop = self._loop
        if loop is None or loop.is_closed() or _running(loop):
            self._drop(stored)
        else:
            loop.call_soon_threadsafe(self._drop, stored)

    def _drop(self, stored: dict[str, tuple[int, str]]) -> None:
        """On the event loop: drop the copies the store holds as far, or that name another
        visitor than the store's (`stored`: its versions and visitors); one with an append
        under way is dropped when the append is done, so that the append answers with what
        it stored and the next read sees the erased copy."""
        self._forgotten += 1
        for cid, (version, visitor) in stored.items():
            held = self._held(cid)
            if held is None or (version < held.version and visitor == held.anonymous_id):
                continue
            if self._appending.get(cid):
                self._stale.add(cid)
                continue
            self._open.pop(cid, None)
            self._closed.pop(cid, None)

    def _held(self, cid: str) -> Conversation | None:
        return self._open.get(cid) or self._closed.get(cid)

    def _hold(self, conversation: Conversation) -> None:
        """Keep `conversation` here: open ones all, closed ones the last few."""
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        if conversation.status == "open":
            self._open[conversation.id] = conversation
            return
        self._open.pop(conversation.id, None)
        self._closed[conversation.id] = conversation
        self._closed.move_to_end(conversation.id)
        while len(self._closed) > CLOSED_KEPT:
            self._closed.popitem(last=False)

    async def _visitor_conversation(self, visitor: VisitorId, cid: str) -> Conversation:
        found = await self._get(cid) if isinstance(cid, str) else None
        # Someone else's conversation answers as an unknown one: its existence is not told.
        if (
            found is None
            or found.anonymous_id != visitor.anonymous_id
            or found.visitor_key != visitor.key
        ):
            raise UnknownConversation(_unknown(str(cid)[:64]), field="conversation_id")
        if found.status != "open":
            raise Conflict("the conversation is closed / conversation terminée")
        return found

    async def _agent_conversation(
        self, agent: str, cid: str, *, claiming: bool = False
    ) -> Conversation:
        found = await self._get(cid)
        if found is None:
            raise UnknownConversation(_unknown(cid), field="conversation_id")
        if found.status != "open":
            raise Conflict("the conversation is closed / conversation terminée")
        if found.owner not in (None, agent) and not claiming:
            raise NotYours(f"the conversation is {found.owner}'s / elle est à {found.owner}")
        if claiming and found.owner not in (None, agent):
            raise NotYours(f"the conversation is {found.owner}'s / elle est à {found.owner}")
        return found

    def _event(self, conversation: Conversation, name: str, **properties: Any) -> Event:
        return chat.chat_event(
            name,
            conversation.id,
            source=conversation.source,
            anonymous_id=conversation.anonymous_id,
            at=self.clock.now(),
            properties=properties,
        )

    async def _say(
        self, conversation: Conversation, sender: str, author: str | None, text: str
    ) -> Message:
        event = self._event(
            conversation,
            chat.MESSAGE,
            message_id=chat.new_id(),
            sender=sender,
            author=author,
            text=text,
        )
        updated = await self._append(conversation, [event])
        said = event.properties["message_id"]
        return next(m for m in reversed(updated.messages) if m.id == said)

    async def _append(self, current: Conversation | None, events: Sequence[Event]) -> Conversation:
        """Log `events` (all or none), then fold them into the conversation held here and
        push what each changes; with a feed, the feed does, as it reads them back from the
        log, and this waits for it (or reads the conversation's subject itself).

        When an erasure dropped `current` since the caller read it, the conversation is
        read again: if the erasure took its visitor away, nothing is stored (`Gone`). An
        erasure that comes while the events are being stored drops the copy here once they
        are: the caller gets what it stored, and the next read the store's erased copy.

        An erasure this node has not heard of yet (it follows them every second) is read
        from the store, before the events are logged (nothing is, `Gone`) and after (they
        were logged after the erasure: every fold leaves them out, `chat.erased_since`, and
        the caller gets `Gone`), so that nothing the erased person says is kept. A
        conversation whose visitor is erased (a token names them) takes no change."""
        cid = str(events[0].properties["conversation_id"])
        if current is not None and self._held(cid) is not current:
            current = await self._still(current)
        if current is not None and _erased(current):
            raise _gone(cid)
        if current is not None:
            self._not_erased(current, await asyncio.to_thread(self._stored_visitor, cid))
        self._appending[cid] = self._appending.get(cid, 0) + 1
        try:
            return await self._store(current, cid, events)
        finally:
            self._appending[cid] -= 1
            if not self._appending[cid]:
                del self._appending[cid]
                if cid in self._stale:
                    self._stale.discard(cid)
                    self._open.pop(cid, None)
                    self._closed.pop(cid, None)

    def _not_erased(self, current: Conversation, stored: str | None) -> None:
        """`Gone`, and the copy here dropped, when the store's copy of `current` names
        another visitor (`stored`, None when it has no copy yet): an erasure rewrote it
        (and this node's `forget` is yet to come)."""
        if stored is None or stored == current.anonymous_id:
            return
        if self._appending.get(current.id):
            self._stale.add(current.id)
        else:
            self._open.pop(current.id, None)
            self._closed.pop(current.id, None)
        raise _gone(current.id)

    async def _still(self, current: Conversation) -> Conversation:
        """`current` as the store and the log hold it now, or `Gone` when an erasure took
        its visitor away (the store's copy names another)."""
        found = await self._get(current.id)
        if (
            found is None
            or found.anonymous_id != current.anonymous_id
            or found.visitor_key != current.visitor_key
        ):
            raise _gone(current.id)
        return found

    async def _store(
        self, current: Conversation | None, cid: str, events: Sequence[Event]
    ) -> Conversation:
        result = await self._committer.append(AppendJob(events=events, source=events[0].source))
        # The store is read again once the events are logged (see `_append`), while the
        # feed reads them back.
        visitor = None
        if current is not None:
            visitor = asyncio.ensure_future(asyncio.to_thread(self._stored_visitor, cid))
        if self.feed is not None:
            last = max(result.offsets)
            if not await self.feed.reached(last):
                await self._catch_up(cid, last)
            if current is not None and visitor is not None:
                self._not_erased(current, await visitor)
            found = self._held(cid) or await self._get(cid)
            assert found is not None, f"conversation {cid} is in the log"
            return found
        if current is not None and visitor is not None:
            self._not_erased(current, await visitor)
        conversation = current
        for event, offset in zip(events, result.offsets, strict=True):
            event.offset = offset
            conversation = chat.fold(conversation, event)
            assert conversation is not None
            self._hold(conversation)
            self._pushes(event, conversation)
        assert conversation is not None
        return conversation

    async def _catch_up(self, cid: str, offset: int) -> None:
        """Fold what the conversation's subject holds past the version held here (the feed
        is late: it will push those events when it reads them)."""
        assert self.feed is not None
        held = self._held(cid)
        after = held.version if held is not None else 0
        events = await self.feed.history(cid, after=after)
        conversation = self._held(cid)
        for event in events:
            conversation = chat.fold(conversation, event)
        if conversation is not None:
            self._hold(conversation)

    def _heard(self, event: Event) -> None:
        """An event of a conversation, as the feed read it from the log (this node's or
        another's): fold it into the conversation held here, and push what it changes
        unless it was said before this node started. One not held here is read from the
        store and the log first, off the event loop; the events heard meanwhile wait."""
        assert self.feed is not None
        cid = chat.conversation_of(event)
        if cid is None:
            return
        held = self._held(cid)
        if held is None and (cid in self._loading or event.event != chat.STARTED):
            self._waiting.setdefault(cid, []).append(event)
            if cid not in self._loading:
                self._load(cid)
            return
        conversation = chat.fold(held, event)
        if conversation is None:
            return
        self._hold(conversation)
        if self.feed.live(event):
            self._pushes(event, conversation)

    def _pushes(self, event: Event, conversation: Conversation) -> None:
        """Push what `event` changed in `conversation` to the connections here: a new
        conversation (with its first message) to the agents on duty (all, when nobody is), a
        message to both sides, a change of hands to the salespeople who no longer see it,
        a change to the agents, a close to the visitor."""
        cid = conversation.id
        owner = conversation.owner
        if event.event == chat.MESSAGE:
            said = str(event.properties.get("message_id") or event.message_id)
            message = next((m for m in conversation.messages if m.id == said), None)
            if message is None:
                return
            if conversation.messages[0].id == said:
                self.hub.to_agents(
                    {"type": "conversation", "conversation": conversation.describe()},
                    self.agents_on_duty() or None,
                )
                return
            push = {"type": "message", "conversation_id": cid, "message": _message(message)}
            self.hub.to_visitor(conversation.anonymous_id, push)
            self.hub.to_agents(push, owner=owner)
            return
        if event.event == chat.ASSIGNED and owner is not None:
            self.hub.withdraw(cid, owner=owner)
        if event.event == chat.CLOSED:
            self.hub.to_visitor(
                conversation.anonymous_id, {"type": "closed", "conversation_id": cid}
            )
        if event.event in (chat.ASSIGNED, chat.TAGGED, chat.CLOSED):
            self.hub.to_agents(
                {"type": "conversation", "conversation": conversation.describe()}, owner=owner
            )


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread runs `loop`."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _owners(conversation: Conversation) -> list[str] | None:
    return [conversation.owner] if conversation.owner else None


def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "at": message.at.isoformat(),
        "sender": message.sender,
        "author": message.author,
        "text": message.text,
    }


def _for_visitor(conversation: Conversation) -> dict[str, Any]:
    """A conversation as its visitor sees it: the messages, not the CRM's notes."""
    return {
        "id": conversation.id,
        "status": conversation.status,
        "messages": [_message(m) for m in conversation.messages],
    }


def _erased(conversation: Conversation) -> bool:
    """Whether an erasure replaced the conversation's visitor by a token."""
    return conversation.anonymous_id.startswith(TOKEN_PREFIX)


def _gone(cid: str) -> Gone:
    return Gone(
        f"conversation {cid!r} was erased; nothing was stored "
        "/ conversation effacée, rien n'a été enregistré",
        field="conversation_id",
    )


def _unknown(cid: str) -> str:
    return f"no conversation {cid!r} / conversation inconnue"


def _id(value: str, field: str) -> str:
    if not value or len(value) > 200 or "\x00" in value:
        raise Invalid(f"{field}: 1 to 200 characters / 1 à 200 caractères", field=field)
    return value


def _readable(conversation: Conversation, reader: str | None) -> bool:
    """Whether `reader` (None: whoever sees every conversation) may read `conversation`:
    one nobody answered yet is the whole desk's queue, one answered is its agent's."""
    return reader is None or conversation.owner in (None, reader)
