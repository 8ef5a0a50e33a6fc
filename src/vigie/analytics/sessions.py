"""Sessions: a visitor's hits grouped by inactivity, local midnight and campaign changes.

A new session starts after `timeout` without activity, when the local date (in the site's
time zone) changes, or when a hit arrives from a campaign other than the session's.
`sessionise` groups a finished list of hits; `SessionTracker` does the same one hit at a
time for the live projections, and both use `SessionRule.breaks` so they always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from vigie.analytics.event_fields import AnyEvent

DEFAULT_TIMEOUT = timedelta(minutes=30)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, cached (lookups are on the hot path)."""
    return ZoneInfo(name)


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """A page view or tracked event of one visitor, as the analytics sees it."""

    at: datetime
    visitor_id: str
    type: str
    event: str | None = None
    path: str | None = None
    title: str | None = None
    referrer: str | None = None
    campaign: str | None = None
    properties: dict[str, Any] = {}
    offset: int = 0


def hit_of(event: AnyEvent, *, campaign: str | None, visitor_id: str | None = None) -> Hit | None:
    """The hit for a page or track event (None for identify, alias, group, sensor …).

    `campaign` is the campaign the caller resolved the event's context to.
    """
    if event.type not in ("page", "track", "screen"):
        return None
    visitor = visitor_id or event.anonymous_id or event.user_id
    if visitor is None:
        return None
    props = event.properties
    if event.type == "track":
        return Hit(
            at=event.timestamp,
            visitor_id=visitor,
            type="track",
            event=event.event,
            campaign=campaign,
            properties=props,
            offset=event.offset or 0,
        )
    page = event.context.get("page")
    page = page if isinstance(page, dict) else {}
    path = props.get("path") or page.get("path")
    title = props.get("title") or page.get("title") or event.name
    referrer = props.get("referrer") or page.get("referrer")
    return Hit(
        at=event.timestamp,
        visitor_id=visitor,
        type="page",
        event=event.event,
        path=path if isinstance(path, str) else None,
        title=title if isinstance(title, str) else None,
        referrer=referrer if isinstance(referrer, str) and referrer else None,
        campaign=campaign,
        properties=props,
        offset=event.offset or 0,
    )


class SessionRule(msgspec.Struct, frozen=True, kw_only=True):
    """When a new session starts: inactivity timeout, local midnight, a new campaign."""

    timeout: timedelta = DEFAULT_TIMEOUT
    timezone: str = "UTC"

    def local_date(self, at: datetime) -> date:
        """The date of `at` in the site's time zone."""
        return at.astimezone(zone(self.timezone)).date()

    def day_bounds(self, at: datetime) -> tuple[datetime, datetime]:
        """The local midnights around `at` (start inclusive, end exclusive), in UTC."""
        tz = zone(self.timezone)
        day = at.astimezone(tz).date()
        start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        return start, end

    def breaks(
        self, last_at: datetime, last_campaign: str | None, at: datetime, campaign: str | None
    ) -> bool:
        """True when a hit at `at` from `campaign` starts a new session after `last_at`."""
        if at - last_at > self.timeout:
            return True
        if campaign is not None and campaign != last_campaign:
            return True
        return self.local_date(at) != self.local_date(last_at)


class Session(msgspec.Struct, kw_only=True):
    """One visit: its hits in order, entry and exit pages, duration, page count, bounce."""

    visitor_id: str
    number: int
    started_at: datetime
    ended_at: datetime
    campaign: str | None
    hits: list[Hit]

    @property
    def page_views(self) -> list[Hit]:
        return [h for h in self.hits if h.type == "page"]

    @property
    def entry_page(self) -> str | None:
        pages = self.page_views
        return pages[0].path if pages else None

    @property
    def exit_page(self) -> str | None:
        pages = self.page_views
        return pages[-1].path if pages else None

    @property
    def duration_seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def bounce(self) -> bool:
        """One page view and nothing else: the visitor left from where they landed."""
        return len(self.hits) == 1 and self.hits[0].type == "page"


def sessionise(hits: Iterable[Hit], rule: SessionRule) -> list[Session]:
    """Group hits (of any visitors) into sessions, ordered by start time."""
    by_visitor: dict[str, list[Hit]] = {}
    for hit in hits:
        by_visitor.setdefault(hit.visitor_id, []).append(hit)
    sessions: list[Session] = []
    for visitor, own in by_visitor.items():
        own.sort(key=lambda h: (h.at, h.offset))
        current: Session | None = None
        number = 0
        for hit in own:
            if current is None or rule.breaks(
                current.ended_at, current.campaign, hit.at, hit.campaign
            ):
                number += 1
                current = Session(
                    visitor_id=visitor,
                    number=number,
                    started_at=hit.at,
                    ended_at=hit.at,
                    campaign=hit.campaign,
                    hits=[hit],
                )
                sessions.append(current)
            else:
                current.hits.append(hit)
                current.ended_at = hit.at
    sessions.sort(key=lambda s: (s.started_at, s.visitor_id, s.number))
    return sessions


class SessionStep(msgspec.Struct, frozen=True, gc=False):
    """What one hit did to its visitor's session, as `SessionTracker.observe` reports it."""

    number: int
    new: bool
    campaign: str | None
    previous_page: str | None


class _Open:
    __slots__ = ("campaign", "day_end", "last_at", "last_page", "number")

    def __init__(
        self,
        number: int,
        last_at: datetime,
        campaign: str | None,
        last_page: str | None,
        day_end: datetime,
    ) -> None:
        self.number = number
        self.last_at = last_at
        self.campaign = campaign
        self.last_page = last_page
        self.day_end = day_end


class SessionTracker:
    """Sessions kept one hit at a time, per visitor, for live projections.

    Hits of one visitor must arrive in time order (the log's order); a hit older than the
    visitor's last one continues the current session.
    """

    def __init__(self, rule: SessionRule) -> None:
        self.rule = rule
        self._timeout = rule.timeout
        self._open: dict[str, _Open] = {}
        self._day = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))

    def _day_end(self, at: datetime) -> datetime:
        start, end = self._day
        if not start <= at < end:
            start, end = self._day = self.rule.day_bounds(at)
        return end

    def observe(self, hit: Hit) -> SessionStep:
        """Place `hit` in its visitor's session; say whether it started a new one."""
        state = self._open.get(hit.visitor_id)
        at = hit.at
        campaign = hit.campaign
        page = hit.path if hit.type == "page" else None
        if state is None:
            self._open[hit.visitor_id] = _Open(1, at, campaign, page, self._day_end(at))
            # Positional arguments: one of these is built for every hit.
            return SessionStep(1, True, campaign, None)
        last_at = state.last_at
        # Same rule as `SessionRule.breaks`, with the local midnight computed once a session.
        if at >= last_at and (
            at - last_at > self._timeout
            or (campaign is not None and campaign != state.campaign)
            or at >= state.day_end
        ):
            state.number += 1
            state.last_at = at
            state.campaign = campaign
            state.last_page = page
            state.day_end = self._day_end(at)
            return SessionStep(state.number, True, campaign, None)
        previous = state.last_page
        if at > last_at:
            state.last_at = at
        if hit.type == "page":
            state.last_page = hit.path
        return SessionStep(state.number, False, state.campaign, previous)
