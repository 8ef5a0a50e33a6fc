"""The `chat.invite` action: invite the visitors who are on a page or a funnel step right
now to a chat. Invitations are stored; the browser tracker picks them up through
`GET /api/chat/invitations?anonymous_id=…` (the conversation itself is the chat part's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa

from vigie.events.event import decode_event
from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.store.schema import Offset, events, metadata
from vigie.types import from_us, to_us

chat_invitations = sa.Table(
    "chat_invitations",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("anonymous_id", sa.String(200), nullable=False),
    sa.Column("page", sa.String(500)),
    sa.Column("funnel_step", sa.String(200)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("expires_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.UniqueConstraint("key", "anonymous_id", name="uq_chat_invitations_key"),
)
sa.Index("ix_chat_invitations_visitor", chat_invitations.c.anonymous_id)


class ChatInviteParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Whom to invite (visitors on `page`, or whose last step is `funnel_step`) and what to say."""

    page: str | None = None
    funnel_step: str | None = None
    message: str = "Besoin d'aide ? Un conseiller est là. / Need help? An adviser is here."
    within_minutes: float = 5.0
    expires_in_minutes: float = 15.0
    max_visitors: int = 200


class Invitation(msgspec.Struct, kw_only=True):
    """An invitation as the browser tracker receives it."""

    id: int
    anonymous_id: str
    page: str | None
    funnel_step: str | None
    message: str
    status: str
    created_at: datetime
    expires_at: datetime


def _path(properties: dict[str, Any], context: dict[str, Any]) -> str | None:
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    value = properties.get("path") or (page or {}).get("path")
    return str(value) if value is not None else None


def visitors_on(
    engine: sa.Engine,
    *,
    page: str | None,
    funnel_step: str | None,
    since: datetime,
    limit: int,
) -> list[str]:
    """Anonymous ids whose latest page (or tracked step) since `since` is the one asked."""
    kinds = ["page"] if page is not None else ["track"]
    query = (
        sa.select(events.c.anonymous_id, events.c.body, events.c.log_offset)
        .where(
            events.c.timestamp_us >= to_us(since),
            events.c.type.in_(kinds),
            events.c.anonymous_id.is_not(None),
        )
        .order_by(events.c.log_offset)
    )
    latest: dict[str, str | None] = {}
    with engine.connect() as conn:
        for anonymous_id, body, _offset in conn.execute(query):
            event = decode_event(body)
            if page is not None:
                latest[anonymous_id] = _path(event.properties, event.context)
            else:
                latest[anonymous_id] = event.event
    wanted = page if page is not None else funnel_step
    return [visitor for visitor, where in latest.items() if where == wanted][:limit]


def pending_for(engine: sa.Engine, *, anonymous_id: str, now: datetime) -> list[Invitation]:
    """Invitations for a visitor that have not expired, newest first."""
    query = (
        sa.select(chat_invitations)
        .where(
            chat_invitations.c.anonymous_id == anonymous_id,
            chat_invitations.c.expires_at_us > to_us(now),
            chat_invitations.c.status == "pending",
        )
        .order_by(chat_invitations.c.id.desc())
    )
    with engine.connect() as conn:
        return [
            Invitation(
                id=r.id,
                anonymous_id=r.anonymous_id,
                page=r.page,
                funnel_step=r.funnel_step,
                message=r.message,
                status=r.status,
                created_at=from_us(r.created_at_us),
                expires_at=from_us(r.expires_at_us),
            )
            for r in conn.execute(query)
        ]


class ChatInvite:
    """`chat.invite`: store a chat invitation for every visitor on a page or funnel step."""

    name: ClassVar[str] = "chat.invite"
    params_type: ClassVar[type[msgspec.Struct]] = ChatInviteParams

    def run(self, params: ChatInviteParams, context: ActionContext) -> dict[str, Any]:
        if (params.page is None) == (params.funnel_step is None):
            raise ActionError(
                "chat.invite needs exactly one of page or funnel_step", retryable=False
            )
        now = context.clock.now()
        visitors = visitors_on(
            context.engine,
            page=params.page,
            funnel_step=params.funnel_step,
            since=now - timedelta(minutes=params.within_minutes),
            limit=params.max_visitors,
        )
        expires = now + timedelta(minutes=params.expires_in_minutes)
        created = 0
        with context.engine.begin() as conn:
            already = {
                row.anonymous_id
                for row in conn.execute(
                    sa.select(chat_invitations.c.anonymous_id).where(
                        chat_invitations.c.key == context.key
                    )
                )
            }
            rows = [
                {
                    "key": context.key,
                    "anonymous_id": visitor,
                    "page": params.page,
                    "funnel_step": params.funnel_step,
                    "message": params.message,
                    "status": "pending",
                    "created_at_us": to_us(now),
                    "expires_at_us": to_us(expires),
                    "run_id": context.run_id,
                }
                for visitor in visitors
                if visitor not in already
            ]
            if rows:
                conn.execute(chat_invitations.insert(), rows)
                created = len(rows)
        return {
            "invited": created + len(already),
            "new": created,
            "page": params.page,
            "funnel_step": params.funnel_step,
        }

    def describe(self, params: ChatInviteParams, context: ActionContext) -> str:
        """How many visitors are there now and would be invited."""
        now = context.clock.now()
        visitors = visitors_on(
            context.engine,
            page=params.page,
            funnel_step=params.funnel_step,
            since=now - timedelta(minutes=params.within_minutes),
            limit=params.max_visitors,
        )
        return f"would invite {len(visitors)} visitor(s) on {params.page or params.funnel_step}"
