"""The 360° timeline of a contact or an account: web journey, interactions of every
department, deals, tickets, tasks and offers, in one list, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from vigie.crm import tables
from vigie.crm.commands import RESERVED_SOURCE
from vigie.crm.entities import BY_EVENT
from vigie.crm.processor import INTEGRATION_EVENTS
from vigie.events.event import decode_event
from vigie.store.schema import events
from vigie.types import to_us

Category = Literal["web", "interaction", "deal", "ticket", "task", "offer"]
CATEGORIES: tuple[Category, ...] = ("web", "interaction", "deal", "ticket", "task", "offer")
RESOURCE_OF: dict[Category, str] = {
    "web": "contacts",
    "interaction": "interactions",
    "deal": "deals",
    "ticket": "tickets",
    "task": "tasks",
    "offer": "offers",
}
"""The resource a user must be allowed to read to see a category of the timeline."""


CRM_EVENT_NAMES = sorted({*BY_EVENT, *INTEGRATION_EVENTS})


class TimelineItem(BaseModel):
    """One moment of a customer's history."""

    at: datetime
    category: Category
    kind: str = Field(description="e.g. page, track, call, invoice, deal stage, ticket status")
    title: str
    entity: str | None = Field(default=None, description="The CRM entity, for CRM items.")
    entity_id: str | None = None
    offset: int | None = Field(default=None, description="Log offset, for web events.")
    details: dict[str, Any] = {}


class Who(BaseModel):
    """Whose history: contacts, their user ids and anonymous ids, or an account."""

    contact_ids: list[str]
    account_id: str | None = None
    user_ids: list[str]
    anonymous_ids: list[str]


def who_for_contact(conn: sa.Connection, contact_id: str) -> Who:
    """The identifiers of one contact."""
    row = conn.execute(sa.select(tables.contacts).where(tables.contacts.c.id == contact_id)).first()
    if row is None:
        return Who(contact_ids=[], user_ids=[], anonymous_ids=[])
    m = row._mapping
    return Who(
        contact_ids=[contact_id],
        user_ids=[m["external_id"]] if m["external_id"] else [],
        anonymous_ids=list(m["anonymous_ids"] or []),
    )


def who_for_account(conn: sa.Connection, account_id: str) -> Who:
    """The identifiers of an account's contacts, and the account."""
    c = tables.contacts
    rows = conn.execute(
        sa.select(c.c.id, c.c.external_id, c.c.anonymous_ids).where(c.c.account_id == account_id)
    ).all()
    return Who(
        contact_ids=[r.id for r in rows],
        account_id=account_id,
        user_ids=[r.external_id for r in rows if r.external_id],
        anonymous_ids=[a for r in rows for a in (r.anonymous_ids or [])],
    )


def _web(
    conn: sa.Connection, who: Who, since: datetime | None, until: datetime | None, limit: int
) -> list[TimelineItem]:
    matches = []
    if who.user_ids:
        matches.append(events.c.user_id.in_(who.user_ids))
    if who.anonymous_ids:
        matches.append(events.c.anonymous_id.in_(who.anonymous_ids[:500]))
    if not matches:
        return []
    # CRM facts sent as events (`Deal Updated`, `Payment Received` …) show as CRM items.
    query = sa.select(events.c.log_offset, events.c.body).where(
        sa.or_(*matches),
        events.c.source != RESERVED_SOURCE,
        sa.or_(events.c.event.is_(None), events.c.event.notin_(CRM_EVENT_NAMES)),
        # A chat's events (`Chat Message` …) show once, as the conversation's interaction.
        sa.or_(events.c.event.is_(None), sa.not_(events.c.event.startswith("Chat "))),
    )
    if since is not None:
        query = query.where(events.c.timestamp_us >= to_us(since))
    if until is not None:
        query = query.where(events.c.timestamp_us < to_us(until))
    query = query.order_by(events.c.timestamp_us.desc()).limit(limit)
    items = []
    for offset, body in conn.execute(query):
        event = decode_event(bytes(body))
        title = event.event or event.name or event.type
        page = event.context.get("page") if isinstance(event.context.get("page"), dict) else {}
        url = event.properties.get("url") or (page or {}).get("url")
        items.append(
            TimelineItem(
                at=event.timestamp,
                category="web",
                kind=event.type,
                title=str(title),
                offset=offset,
                details={
                    k: v
                    for k, v in {
                        "url": url,
                        "source": event.source,
                        "campaign": event.context.get("campaign"),
                    }.items()
                    if v
                },
            )
        )
    _link_campaigns(conn, items)
    return items


def _chat_details(kind: str, summary: str | None, properties: Any) -> dict[str, Any]:
    """What a chat adds on the timeline: its tags, outcome, page, campaign and transcript."""
    if kind != "chat" or not isinstance(properties, dict):
        return {}
    keys = ("tags", "outcome", "agent", "page", "campaign", "run_id", "conversation_id")
    return {k: properties[k] for k in keys if properties.get(k)} | {"transcript": summary or ""}


def _link_campaigns(conn: sa.Connection, items: list[TimelineItem]) -> None:
    """Name the CRM campaign of each web item whose UTM campaign is one (one campaign notion:
    a CRM campaign's `utm_campaign` is the name its traffic carries)."""
    utm = {
        str(item.details["campaign"]["name"])
        for item in items
        if isinstance(item.details.get("campaign"), dict) and item.details["campaign"].get("name")
    }
    if not utm:
        return
    c = tables.campaigns
    found = {
        row.utm_campaign: {"id": row.id, "name": row.name}
        for row in conn.execute(
            sa.select(c.c.id, c.c.name, c.c.utm_campaign)
            .where(c.c.utm_campaign.in_(sorted(utm)), c.c.archived_at.is_(None))
            .order_by(c.c.created_at)
        )
    }
    for item in items:
        campaign = item.details.get("campaign")
        if isinstance(campaign, dict) and campaign.get("name") in found:
            item.details["crm_campaign"] = found[campaign["name"]]


def _crm(
    conn: sa.Connection,
    table: sa.Table,
    who: Who,
    *,
    at_column: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    restrict: dict[str, sa.ColumnElement[bool] | None],
) -> list[sa.Row[Any]]:
    matches: list[sa.ColumnElement[bool]] = []
    if "contact_id" in table.c and who.contact_ids:
        matches.append(table.c.contact_id.in_(who.contact_ids))
    if "account_id" in table.c and who.account_id:
        matches.append(table.c.account_id == who.account_id)
    if table is tables.offers and (who.contact_ids or who.account_id):
        deals = tables.deals
        owned = sa.select(deals.c.id).where(
            sa.or_(
                deals.c.contact_id.in_(who.contact_ids),
                deals.c.account_id == (who.account_id or ""),
            )
        )
        matches.append(table.c.deal_id.in_(owned))
    if not matches:
        return []
    column = table.c[at_column]
    query = sa.select(table).where(sa.or_(*matches), table.c.archived_at.is_(None))
    clause = restrict.get(table.name)
    if clause is not None:
        query = query.where(clause)
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return list(conn.execute(query.order_by(column.desc()).limit(limit)))


def timeline(
    conn: sa.Connection,
    who: Who,
    *,
    categories: set[Category],
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    restrict: dict[str, sa.ColumnElement[bool] | None] | None = None,
) -> list[TimelineItem]:
    """The merged history of `who` in `categories`, newest first, at most `limit` items.

    `restrict` maps a table name to a clause hiding the rows the reader may not see.
    """
    hide = restrict or {}
    items: list[TimelineItem] = []
    if "web" in categories:
        items += _web(conn, who, since, until, limit)
    if "interaction" in categories:
        for r in _crm(
            conn,
            tables.interactions,
            who,
            at_column="occurred_at",
            since=since,
            until=until,
            limit=limit,
            restrict=hide,
        ):
            amount = f" {r.amount:.2f} {r.currency or ''}".rstrip() if r.amount is not None else ""
            items.append(
                TimelineItem(
                    at=r.occurred_at,
                    category="interaction",
                    kind=r.kind,
                    title=(r.subject or r.kind.replace("_", " ")) + amount,
                    entity="interactions",
                    entity_id=r.id,
                    details={
                        k: v
                        for k, v in {
                            "direction": r.direction,
                            "reference": r.reference,
                            "amount": r.amount,
                            "currency": r.currency,
                            "sentiment": r.sentiment,
                            "rating": r.rating,
                            "staff_id": r.staff_id,
                        }.items()
                        if v is not None
                    }
                    | _chat_details(r.kind, r.summary, r.properties),
                )
            )
    if "deal" in categories:
        for r in _crm(
            conn,
            tables.deals,
            who,
            at_column="updated_at",
            since=since,
            until=until,
            limit=limit,
            restrict=hide,
        ):
            items.append(
                TimelineItem(
                    at=r.updated_at,
                    category="deal",
                    kind=f"deal {r.stage}",
                    title=f"{r.title} ({r.stage}, {r.amount:.2f} {r.currency})",
                    entity="deals",
                    entity_id=r.id,
                    details={"stage": r.stage, "amount": r.amount, "owner_id": r.owner_id},
                )
            )
    if "ticket" in categories:
        for r in _crm(
            conn,
            tables.tickets,
            who,
            at_column="opened_at",
            since=since,
            until=until,
            limit=limit,
            restrict=hide,
        ):
            items.append(
                TimelineItem(
                    at=r.opened_at,
                    category="ticket",
                    kind=f"ticket {r.status}",
                    title=f"{r.subject} ({r.priority}, {r.status})",
                    entity="tickets",
                    entity_id=r.id,
                    details={
                        "queue": r.queue,
                        "priority": r.priority,
                        "status": r.status,
                        "first_response_due_at": r.first_response_due_at.isoformat(),
                        "sentiment": r.sentiment,
                    },
                )
            )
    if "task" in categories:
        for r in _crm(
            conn,
            tables.tasks,
            who,
            at_column="created_at",
            since=since,
            until=until,
            limit=limit,
            restrict=hide,
        ):
            items.append(
                TimelineItem(
                    at=r.created_at,
                    category="task",
                    kind=f"task {r.status}",
                    title=r.title,
                    entity="tasks",
                    entity_id=r.id,
                    details={"due_at": r.due_at.isoformat() if r.due_at else None},
                )
            )
    if "offer" in categories:
        for r in _crm(
            conn,
            tables.offers,
            who,
            at_column="created_at",
            since=since,
            until=until,
            limit=limit,
            restrict=hide,
        ):
            items.append(
                TimelineItem(
                    at=r.created_at,
                    category="offer",
                    kind=f"offer {r.status}",
                    title=f"{r.number or r.id} ({r.status}, {r.amount:.2f} {r.currency})",
                    entity="offers",
                    entity_id=r.id,
                    details={"deal_id": r.deal_id},
                )
            )
    items.sort(key=lambda i: (i.at, i.offset or 0), reverse=True)
    return items[:limit]
