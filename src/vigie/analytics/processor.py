"""The analytics processor: identity, sessions, funnels, campaign slots and friction, kept
live from the event log.

The counters live in memory and are rebuilt from the log when the server starts (the
system rewinds this processor's checkpoint at start); identity merges are also written to the store
so that journeys and other parts can read them. Events at or below the highest offset
already seen are skipped, so at-least-once delivery counts nothing twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date

import sqlalchemy as sa

from vigie.analytics.campaigns import CampaignSlots, SlotComparison, resolve_campaign
from vigie.analytics.config import AnalyticsConfig
from vigie.analytics.event_fields import AnyEvent, ObservedEvent
from vigie.analytics.friction import FrictionReport, PageExits, step_friction
from vigie.analytics.funnels import FunnelReport, FunnelTracker
from vigie.analytics.identity import (
    IdentityGraph,
    Merge,
    ProfileRecord,
    load_profile,
    save_merges,
    stored_id,
)
from vigie.analytics.journeys import Journey, load_journey
from vigie.analytics.sessions import SessionTracker, hit_of


class AnalyticsProcessor:
    """A `vigie.log.Processor` building the live analytics projections."""

    name = "analytics"
    reads = ObservedEvent
    takes_events = True
    """Whole events, when the processors before it just read them, are not decoded again."""

    def __init__(
        self,
        config: AnalyticsConfig,
        *,
        engine: sa.Engine | None = None,
        visitor_id: Callable[[str], str] = str,
    ) -> None:
        self.config = config
        self.engine = engine
        self.visitor_id = visitor_id
        """The id stored for a visitor a client names (`Safeguards.visitor_id`): journeys and
        profiles may be asked for by the id the browser holds."""
        self.identity = IdentityGraph()
        self.sessions = SessionTracker(config.session_rule())
        self.funnels = {f.name: FunnelTracker(f, timezone=config.timezone) for f in config.funnels}
        self.slots = CampaignSlots(config.campaigns)
        self.exits = PageExits()
        self.last_offset = 0
        self.events_seen = 0
        self._profile_campaign: dict[str, str] = {}
        self._lock = threading.Lock()

    def process(self, events: Sequence[AnyEvent]) -> None:
        """Fold a batch of events into every projection (idempotent by offset)."""
        merges: list[Merge] = []
        observe = self._observe
        with self._lock:
            # Kept in locals for the loop, written back even when an event fails mid-batch.
            last_offset = self.last_offset
            seen = 0
            try:
                for event in events:
                    offset = event.offset or 0
                    if offset and offset <= last_offset:
                        continue
                    seen += 1
                    merge = observe(event)
                    if merge is not None:
                        merges.append(merge)
                    if offset:
                        last_offset = offset
            finally:
                self.last_offset = last_offset
                self.events_seen += seen
            # Saved before the lock is let go: a report that shows a merge (a funnel) is
            # never read before the profile and journey that show it too.
            if merges and self.engine is not None:
                with self.engine.begin() as conn:
                    save_merges(conn, merges)

    def _observe(self, event: AnyEvent) -> Merge | None:
        merge = None
        if event.user_id is not None or event.type == "alias":
            merge = self.identity.observe(event)
            if merge is not None:
                self._merge(merge)
        context = event.context
        campaign = (
            resolve_campaign(context, self.config.campaigns)
            if context.get("campaign") is not None
            else None
        )
        hit = hit_of(event, campaign=campaign)
        if hit is None:
            return merge
        # The user id an event carries wins over its device (a shared computer).
        profile = self.identity.profile_of(event.user_id or hit.visitor_id)
        if campaign is not None:
            self._profile_campaign[profile] = campaign
        attributed = self._profile_campaign.get(profile)
        step = self.sessions.observe(hit)
        if hit.type == "page" and hit.path is not None:
            self.exits.observe(
                hit.path, step.campaign, new_session=step.new, previous_page=step.previous_page
            )
        for tracker in self.funnels.values():
            tracker.observe(profile, hit, attributed)
        if self.slots.campaigns:
            self.slots.observe(profile, hit.at, hit.event, attributed)
        return merge

    def _merge(self, merge: Merge) -> None:
        target = merge.profile_id
        source = merge.previous_profile
        campaign = self._profile_campaign.pop(source, None)
        if campaign is not None:
            self._profile_campaign.setdefault(target, campaign)
        for tracker in self.funnels.values():
            tracker.merge(source, target)
        self.slots.merge(source, target)

    def profile(self, visitor_id: str) -> ProfileRecord:
        """The profile a visitor or user id belongs to: every id merged into it, the merges."""
        with self._store().connect() as conn:
            return load_profile(conn, stored_id(conn, visitor_id, self.visitor_id(visitor_id)))

    def journey(self, visitor_id: str, *, every_device: bool = False) -> Journey:
        """One visitor's (device's) sessions and pages in order, or with `every_device` the
        journey of the whole profile it belongs to."""
        with self._store().connect() as conn:
            visitor_id = stored_id(conn, visitor_id, self.visitor_id(visitor_id))
            profile = load_profile(conn, visitor_id)
            return load_journey(
                conn,
                profile=profile,
                ids=profile.visitor_ids if every_device else [visitor_id],
                rule=self.config.session_rule(),
                campaigns=self.config.campaigns,
            )

    def _store(self) -> sa.Engine:
        if self.engine is None:
            raise RuntimeError("this analytics processor was built without a store")
        return self.engine

    def funnel_report(
        self, name: str, *, campaign: str | None = None, dropped_limit: int = 50
    ) -> FunnelReport | None:
        """The live report of funnel `name` (None when it is not configured)."""
        with self._lock:
            tracker = self.funnels.get(name)
            if tracker is None:
                return None
            return tracker.report(campaign=campaign, dropped_limit=dropped_limit)

    def campaign_slots(self, name: str, *, day: date | None = None) -> SlotComparison | None:
        """Campaign `name`'s slot on `day` against the same slot on other days."""
        with self._lock:
            return self.slots.compare(name, day=day)

    def friction(self, *, campaign: str | None = None, limit: int = 20) -> FrictionReport:
        """Pages and funnel steps where visitors leave most, for `campaign` or all."""
        with self._lock:
            return FrictionReport(
                campaign=campaign,
                pages=self.exits.pages(campaign)[:limit],
                steps=step_friction(list(self.funnels.values()), campaign)[:limit],
            )
