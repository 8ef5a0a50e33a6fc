"""Conversations as the log holds them: the chat events, and the fold that rebuilds a
conversation from them (the same function for the live service and the projection)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from vigie.events import Event

STARTED = "Chat Started"
MESSAGE = "Chat Message"
ASSIGNED = "Chat Assigned"
TAGGED = "Chat Tagged"
CLOSED = "Chat Closed"
OFFLINE = "Chat Offline Message"
CHAT_EVENTS = frozenset({STARTED, MESSAGE, ASSIGNED, TAGGED, CLOSED})
"""The events that make a conversation; each carries `properties.conversation_id`."""
SERVICE_EVENTS = CHAT_EVENTS | {OFFLINE}
"""The events only the chat service appends: the public ingestion refuses them, so that a
website's write key cannot forge conversations, agents' replies or the chat's KPIs."""

Sender = Literal["visitor", "agent"]


class Message(msgspec.Struct, kw_only=True, frozen=True):
    """One message of a conversation, as both sides see it."""

    id: str
    at: datetime
    sender: Sender
    author: str | None
    text: str


class Conversation(msgspec.Struct, kw_only=True):
    """A conversation between a visitor and the agents, folded from its events."""

    id: str
    source: str
    anonymous_id: str
    visitor_key: str
    started_at: datetime
    page: str | None = None
    funnel_step: str | None = None
    campaign: dict[str, Any] = {}
    invitation_id: int | None = None
    run_id: str | None = None
    language: str | None = None
    user_id: str | None = None
    status: Literal["open", "closed"] = "open"
    owner: str | None = None
    tags: list[str] = []
    outcome: str | None = None
    closed_at: datetime | None = None
    messages: list[Message] = []
    version: int = 0

    def describe(self) -> dict[str, Any]:
        """The conversation as the console and the widget read it (no visitor key)."""
        out = msgspec.to_builtins(self)
        del out["visitor_key"]
        return out  # type: ignore[no-any-return]

    def transcript(self) -> str:
        """The messages as plain text, one line each: `HH:MM sender: text`."""
        return "\n".join(f"{m.at:%H:%M} {m.author or m.sender}: {m.text}" for m in self.messages)


def new_id() -> str:
    """A conversation or message id nobody can guess."""
    return uuid.uuid4().hex


def chat_event(
    name: str,
    conversation: str,
    *,
    source: str,
    anonymous_id: str,
    at: datetime,
    properties: dict[str, Any],
    context: dict[str, Any] | None = None,
    user_id: str | None = None,
) -> Event:
    """One chat event for the log, sent by the server on behalf of the widget or an agent."""
    return Event(
        message_id=new_id(),
        type="track",
        source=source,
        timestamp=at,
        received_at=at,
        event=name,
        anonymous_id=anonymous_id,
        user_id=user_id,
        properties={"conversation_id": conversation, **properties},
        context=context or {},
    )


def conversation_of(event: Event) -> str | None:
    """The id of the conversation a chat event belongs to, None for other events."""
    if event.type != "track" or event.event not in CHAT_EVENTS:
        return None
    value = event.properties.get("conversation_id")
    return value if isinstance(value, str) and value else None


def fold(current: Conversation | None, event: Event) -> Conversation | None:
    """`current` with `event` applied; an event of a conversation never started changes
    nothing (None). Applying an event twice (same offset) changes nothing either.

    An event naming another visitor than the conversation does was sent from a copy held
    before an erasure rewrote the conversation (`erased_since`): only its offset is kept,
    so that the erased person's words said after their erasure are in no conversation."""
    props = event.properties
    offset = event.offset or 0
    if current is not None and offset and current.version >= offset:
        return current
    if current is not None and erased_since(current, event):
        current.version = max(current.version, offset)
        return current
    if event.event == STARTED:
        if current is not None:
            return current
        campaign = event.context.get("campaign")
        return Conversation(
            id=str(props["conversation_id"]),
            source=event.source,
            anonymous_id=event.anonymous_id or "",
            visitor_key=str(props.get("visitor_key", "")),
            started_at=event.timestamp,
            page=_str(props.get("page")),
            funnel_step=_str(props.get("funnel_step")),
            campaign=campaign if isinstance(campaign, dict) else {},
            invitation_id=props.get("invitation_id")
            if isinstance(props.get("invitation_id"), int)
            else None,
            run_id=_str(props.get("run_id")),
            language=_str(props.get("language")),
            user_id=event.user_id,
            version=offset,
        )
    if current is None:
        return None
    if event.event == MESSAGE:
        message = Message(
            id=str(props.get("message_id") or event.message_id),
            at=event.timestamp,
            sender="agent" if props.get("sender") == "agent" else "visitor",
            author=_str(props.get("author")),
            text=str(props.get("text", "")),
        )
        current.messages = [*current.messages, message]
        if message.sender == "agent" and current.owner is None:
            current.owner = message.author
    elif event.event == ASSIGNED:
        current.owner = _str(props.get("agent"))
    elif event.event == TAGGED:
        tags = props.get("tags")
        if isinstance(tags, list):
            current.tags = sorted({*current.tags, *(str(t) for t in tags)})
    elif event.event == CLOSED:
        current.status = "closed"
        current.outcome = _str(props.get("outcome"))
        current.closed_at = event.timestamp
    if event.user_id:
        current.user_id = event.user_id
    current.version = max(current.version, offset)
    return current


def erased_since(conversation: Conversation, event: Event) -> bool:
    """Whether `event` names the visitor `conversation` named before an erasure replaced
    them (every event of a conversation names its visitor, as its start did)."""
    return bool(event.anonymous_id) and event.anonymous_id != conversation.anonymous_id


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
