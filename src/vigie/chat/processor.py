"""The chat projection: folds the chat events of the log into conversations, and each
conversation into a CRM interaction (kind `chat`) with its full transcript."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.chat.conversations import MESSAGE, Conversation, conversation_of, fold
from vigie.chat.tables import conversations
from vigie.crm import tables as crm
from vigie.events import Event
from vigie.kpi.sentiment import SentimentScorer
from vigie.types import to_us

NAME = "chat"


def interaction_id(conversation_id: str) -> str:
    """The CRM interaction of a conversation."""
    return f"chat_{conversation_id}"[:64]


def load(conn: sa.Connection, conversation_id: str) -> Conversation | None:
    """The conversation as the projection holds it, None when unknown."""
    row = conn.execute(
        sa.select(conversations.c.body).where(conversations.c.id == conversation_id)
    ).first()
    return None if row is None else msgspec.convert(row.body, Conversation)


def load_many(conn: sa.Connection, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
    """The conversations of `conversation_ids` the projection holds, in one query."""
    query = sa.select(conversations.c.id, conversations.c.body)
    rows = conn.execute(query.where(conversations.c.id.in_(list(conversation_ids))))
    return {str(cid): msgspec.convert(body, Conversation) for cid, body in rows}


class ChatProcessor:
    """Builds `chat_conversations` and the chat interactions from the log (idempotent)."""

    name = NAME

    def __init__(self, engine: sa.Engine, *, sentiment: SentimentScorer | None = None) -> None:
        self.engine = engine
        self.sentiment = sentiment or SentimentScorer()

    def process(self, events: Sequence[Event]) -> None:
        """Apply a batch's chat events, all conversations of the batch in one transaction."""
        relevant = [(e, c) for e in events if (c := conversation_of(e)) is not None]
        if not relevant:
            return
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            touched: dict[str, Conversation | None] = {}
            stored: dict[str, int] = {}
            for event, cid in relevant:
                if cid not in touched:
                    touched[cid] = load(conn, cid)
                    stored[cid] = touched[cid].version if touched[cid] else -1  # type: ignore[union-attr]
                touched[cid] = fold(touched[cid], event)
            for cid, conversation in touched.items():
                if conversation is None or conversation.version == stored[cid]:
                    continue
                self._save(conn, conversation, exists=stored[cid] >= 0)

    def _save(self, conn: sa.Connection, conversation: Conversation, *, exists: bool) -> None:
        values = {
            "source": conversation.source,
            "anonymous_id": conversation.anonymous_id,
            "status": conversation.status,
            "owner": conversation.owner,
            "started_at_us": to_us(conversation.started_at),
            "version": conversation.version,
            "body": msgspec.to_builtins(conversation),
        }
        if exists:
            conn.execute(
                conversations.update().where(conversations.c.id == conversation.id), values
            )
        else:
            conn.execute(conversations.insert(), {"id": conversation.id, **values})
        self._save_interaction(conn, conversation)

    def _save_interaction(
        self,
        conn: sa.Connection,
        conversation: Conversation,
        contact: tuple[str | None, str | None] | None = None,
    ) -> None:
        table = crm.interactions
        record = interaction_id(conversation.id)
        contact_id, account_id = contact or _contact(conn, conversation)
        now = conversation.closed_at or (
            conversation.messages[-1].at if conversation.messages else conversation.started_at
        )
        said = " ".join(m.text for m in conversation.messages if m.sender == "visitor")
        values: dict[str, Any] = {
            "version": conversation.version,
            "updated_at": now,
            "kind": "chat",
            "occurred_at": conversation.started_at,
            "contact_id": contact_id,
            "account_id": account_id,
            "staff_id": conversation.owner,
            "direction": "inbound" if conversation.invitation_id is None else "outbound",
            "subject": f"Chat · {conversation.page or conversation.source}"[:200],
            "summary": conversation.transcript()[:100_000],
            "sentiment": self.sentiment.score(said, conversation.language) if said else None,
            "url": (conversation.page or None),
            "properties": _properties(conversation),
        }
        exists = conn.execute(sa.select(table.c.id).where(table.c.id == record)).first()
        if exists:
            conn.execute(table.update().where(table.c.id == record), values)
        else:
            conn.execute(
                table.insert(), {"id": record, "created_at": conversation.started_at, **values}
            )


SAID = {MESSAGE: ("text",)}
"""The chat events' free text: what the visitor and the agents wrote. With crypto-shredding it
is sealed under the visitor's key (`privacy.shredding.properties` holds `text`), which their
contact's erasure destroys; the erasure takes it out of the stored log where it was logged in
clear (`vigie.privacy.subjects`), and out of the store (`forget_transcripts`)."""


def forget_transcripts(conn: sa.Connection, *, contact_id: str) -> dict[str, int]:
    """Drop, in the erasure's transaction `conn`, what was written in the chats of the
    contact (the conversations their interactions are): each message keeps its time, sender
    and author, its text goes, and the interaction is made again from the conversation (its
    transcript, sentiment and properties), as a replay of the log gives it once the text is
    unreadable (its key destroyed) or taken out of the stored events. Returns the rows
    changed per table. Dropped rather than sealed in the store: the store is rewritten at the
    erasure anyway, and its readers (the timeline, the operator console) stay plain reads."""
    table = crm.interactions
    query = sa.select(table.c.id, table.c.account_id, table.c.summary, table.c.properties).where(
        table.c.contact_id == contact_id, table.c.kind == "chat"
    )
    changed: dict[str, int] = {}
    processor: ChatProcessor | None = None
    for record, account_id, summary, properties in conn.execute(query).all():
        cid = (properties or {}).get("conversation_id")
        conversation = load(conn, cid) if isinstance(cid, str) else None
        if conversation is None or interaction_id(conversation.id) != record:
            if summary is None and not properties:
                continue
            # Its conversation is gone (purged by retention): nothing rebuilds the words.
            blank: dict[str, Any] = {"summary": None, "sentiment": None, "properties": {}}
            conn.execute(table.update().where(table.c.id == record).values(**blank))
            changed[table.name] = changed.get(table.name, 0) + 1
            continue
        if not any(m.text for m in conversation.messages):
            continue
        conversation.messages = [msgspec.structs.replace(m, text="") for m in conversation.messages]
        conn.execute(
            conversations.update()
            .where(conversations.c.id == conversation.id)
            .values(body=msgspec.to_builtins(conversation))
        )
        processor = processor or ChatProcessor(conn.engine)
        processor._save_interaction(conn, conversation, (contact_id, account_id))
        for name in (conversations.name, table.name):
            changed[name] = changed.get(name, 0) + 1
    return changed


def _properties(conversation: Conversation) -> dict[str, Any]:
    """What the interaction keeps of a conversation besides its columns."""
    campaign = conversation.campaign
    return {
        "conversation_id": conversation.id,
        "anonymous_id": conversation.anonymous_id,
        "source": conversation.source,
        "page": conversation.page,
        "funnel_step": conversation.funnel_step,
        "campaign": campaign.get("name"),
        "utm": {k: v for k, v in campaign.items() if isinstance(v, str)},
        "invitation_id": conversation.invitation_id,
        "run_id": conversation.run_id,
        "tags": conversation.tags,
        "agent": conversation.owner,
        "outcome": conversation.outcome,
        "status": conversation.status,
        "transcript": [
            {"at": m.at.isoformat(), "sender": m.sender, "author": m.author, "text": m.text}
            for m in conversation.messages
        ],
    }


def _contact(conn: sa.Connection, conversation: Conversation) -> tuple[str | None, str | None]:
    """The contact of the visitor once identity is stitched: by user id, else anonymous id."""
    contacts = crm.contacts
    if conversation.user_id:
        row = conn.execute(
            sa.select(contacts.c.id, contacts.c.account_id)
            .where(contacts.c.external_id == conversation.user_id)
            .limit(1)
        ).first()
        if row is not None:
            return row.id, row.account_id
    needle = f'"{conversation.anonymous_id}"'
    row = conn.execute(
        sa.select(contacts.c.id, contacts.c.account_id)
        .where(sa.cast(contacts.c.anonymous_ids, sa.Text).contains(needle, autoescape=True))
        .limit(1)
    ).first()
    return (row.id, row.account_id) if row is not None else (None, None)
