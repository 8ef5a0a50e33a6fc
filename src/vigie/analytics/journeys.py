"""Journeys: a visitor's (or a profile's, across devices) sessions and pages in order, with
re-viewed pages marked and the campaigns that brought them.

Read straight from the event log, so the journey is live and includes everything a visitor
did before an identity merge folded them into a profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.analytics.campaigns import Campaign, resolve_campaign
from vigie.analytics.identity import ProfileRecord
from vigie.analytics.sessions import Hit, SessionRule, hit_of, sessionise
from vigie.events import Event
from vigie.events.event import decode_event
from vigie.store import schema

MAX_EVENTS = 20_000


class JourneyStep(msgspec.Struct, kw_only=True):
    """One hit of a journey; `revisit` marks a page seen before in the journey."""

    at: datetime
    type: str
    name: str | None
    path: str | None
    title: str | None
    referrer: str | None = None
    view: int = 0
    revisit: bool = False


class JourneySession(msgspec.Struct, kw_only=True):
    """One session of a journey, with its summary figures."""

    visitor_id: str
    number: int
    started_at: datetime
    ended_at: datetime
    duration_seconds: float
    entry_page: str | None
    exit_page: str | None
    pages: int
    bounce: bool
    campaign: str | None
    steps: list[JourneyStep]


class Journey(msgspec.Struct, kw_only=True):
    """What `GET /api/visitors/{id}/journey` and `/api/profiles/{id}/journey` answer."""

    profile_id: str
    visitor_ids: list[str]
    sessions: list[JourneySession]
    campaigns: list[str]
    pages_viewed: int
    revisited_pages: list[str]
    merges: list[dict[str, Any]] = []


def build_journey(
    hits: Iterable[Hit], rule: SessionRule, *, profile_id: str, visitor_ids: Sequence[str]
) -> Journey:
    """Sessions of `hits` in order, each page view numbered and re-views marked."""
    seen: dict[str, int] = {}
    sessions: list[JourneySession] = []
    campaigns: list[str] = []
    pages_viewed = 0
    for session in sessionise(hits, rule):
        steps: list[JourneyStep] = []
        for hit in session.hits:
            step = JourneyStep(
                at=hit.at,
                type=hit.type,
                name=hit.event if hit.type == "track" else hit.title,
                path=hit.path,
                title=hit.title,
                referrer=hit.referrer,
            )
            if hit.type == "page" and hit.path is not None:
                pages_viewed += 1
                seen[hit.path] = seen.get(hit.path, 0) + 1
                step.view = seen[hit.path]
                step.revisit = step.view > 1
            steps.append(step)
        if session.campaign and session.campaign not in campaigns:
            campaigns.append(session.campaign)
        sessions.append(
            JourneySession(
                visitor_id=session.visitor_id,
                number=session.number,
                started_at=session.started_at,
                ended_at=session.ended_at,
                duration_seconds=session.duration_seconds,
                entry_page=session.entry_page,
                exit_page=session.exit_page,
                pages=len(session.page_views),
                bounce=session.bounce,
                campaign=session.campaign,
                steps=steps,
            )
        )
    return Journey(
        profile_id=profile_id,
        visitor_ids=list(visitor_ids),
        sessions=sessions,
        campaigns=campaigns,
        pages_viewed=pages_viewed,
        revisited_pages=sorted(path for path, n in seen.items() if n > 1),
    )


def events_of(conn: sa.Connection, ids: Sequence[str], *, limit: int = MAX_EVENTS) -> list[Event]:
    """The events sent by any of `ids` (as anonymous or user id), in event-time order."""
    table = schema.events
    query = (
        sa.select(table.c.log_offset, table.c.body)
        .where(sa.or_(table.c.anonymous_id.in_(ids), table.c.user_id.in_(ids)))
        .order_by(table.c.timestamp_us, table.c.log_offset)
        .limit(limit)
    )
    out: list[Event] = []
    for offset, body in conn.execute(query):
        event = decode_event(bytes(body))
        event.offset = offset
        out.append(event)
    return out


def load_journey(
    conn: sa.Connection,
    *,
    profile: ProfileRecord,
    ids: Sequence[str],
    rule: SessionRule,
    campaigns: list[Campaign],
) -> Journey:
    """The journey of the devices `ids` (one visitor, or every id of `profile`)."""
    hits: list[Hit] = []
    for event in events_of(conn, ids):
        hit = hit_of(event, campaign=resolve_campaign(event.context, campaigns))
        if hit is not None:
            hits.append(hit)
    journey = build_journey(hits, rule, profile_id=profile.profile_id, visitor_ids=ids)
    journey.merges = profile.merges
    return journey
