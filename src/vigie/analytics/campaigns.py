"""Campaigns and their time slots: live figures for the slot, against the same slot on
other days ("is today's 12:00-13:00 better than the usual 12:00-13:00?").

These are the analytics' view of campaigns, defined under `analytics.campaigns` in
`vigie.yaml`: how to recognise a campaign's traffic (UTM name or id) and when it runs.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import msgspec

from vigie.analytics.event_fields import ObservedContext
from vigie.analytics.sessions import zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SIGNUPS = ["Signed Up", "Newsletter Signed Up"]
DEFAULT_CONVERSIONS = ["Order Completed"]


class Schedule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """When a campaign runs: a daily slot (`12:00`-`13:00`) in a time zone, on some weekdays."""

    start: str
    """Local time (`HH:MM`) the daily slot starts."""
    end: str
    """Local time (`HH:MM`) the daily slot ends, excluded."""
    timezone: str = "UTC"
    """The IANA time zone of `start` and `end` (e.g. `Europe/Brussels`)."""
    days: list[str] = msgspec.field(default_factory=lambda: list(WEEKDAYS))
    """Weekdays the campaign runs (`mon` … `sun`); the slot on other days is still counted, marked
    unscheduled."""

    def bounds(self) -> tuple[time, time]:
        """The slot's start and end as local times."""
        return time.fromisoformat(self.start), time.fromisoformat(self.end)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(zone(self.timezone))

    def slot_day(self, at: datetime) -> date | None:
        """The local date of `at` when it falls in the daily slot (any weekday), else None."""
        local = self.local(at)
        start, end = self.bounds()
        clock = local.time().replace(tzinfo=None)
        return local.date() if start <= clock < end else None

    def runs_on(self, day: date) -> bool:
        """True when the campaign is scheduled on `day`'s weekday."""
        return WEEKDAYS[day.weekday()] in self.days


class Campaign(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A campaign as the analytics knows it: its traffic, its schedule, what counts as a win."""

    name: str
    """The campaign's name, as reports and the API show it; also its UTM name unless `utm_campaign`
    is given."""
    channel: str | None = None
    """Where it runs (e.g. `email`, `instagram`), shown beside its figures."""
    utm_campaign: str | None = None
    """The `utm_campaign` value (the event's `context.campaign.name`) of its traffic; none: the
    campaign's `name`."""
    utm_id: str | None = None
    """The `utm_id` value (`context.campaign.id`) of its traffic, matched before the name."""
    schedule: Schedule | None = None
    signups: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SIGNUPS))
    """Event names counted as sign-ups for the campaign."""
    conversions: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_CONVERSIONS))
    """Event names counted as conversions for the campaign (e.g. orders)."""

    def matches(self, campaign: dict[str, Any]) -> bool:
        """True when an event's `context.campaign` is this campaign's traffic."""
        if self.utm_id is not None and campaign.get("id") == self.utm_id:
            return True
        name = self.utm_campaign or self.name
        return campaign.get("name") == name


def resolve_campaign(
    context: dict[str, Any] | ObservedContext, campaigns: list[Campaign]
) -> str | None:
    """The configured campaign an event came from, else its raw UTM name, else None."""
    raw = context.get("campaign")
    if not isinstance(raw, dict) or not raw:
        return None
    for campaign in campaigns:
        if campaign.matches(raw):
            return campaign.name
    for key in ("name", "id"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class SlotFigures(msgspec.Struct, kw_only=True):
    """One day's slot: everyone active, those the campaign brought, sign-ups, conversions."""

    day: date
    scheduled: bool
    visitors: int = 0
    campaign_visitors: int = 0
    signups: int = 0
    conversions: int = 0


class SlotComparison(msgspec.Struct, kw_only=True):
    """A campaign's slot on one day against the mean of the same slot on the other days."""

    campaign: str
    channel: str | None
    slot: str
    timezone: str
    day: date | None
    figures: SlotFigures | None
    other_days_mean: dict[str, float]
    lift: dict[str, float | None]
    days: list[SlotFigures]


_METRICS = ("visitors", "campaign_visitors", "signups", "conversions")


class _Day:
    __slots__ = ("campaign_visitors", "conversions", "signups", "visitors")

    def __init__(self) -> None:
        self.visitors: set[str] = set()
        self.campaign_visitors: set[str] = set()
        self.signups = 0
        self.conversions = 0


class CampaignSlots:
    """Live slot figures of the configured campaigns that have a schedule."""

    def __init__(self, campaigns: list[Campaign]) -> None:
        self.campaigns = [c for c in campaigns if c.schedule is not None]
        self._days: dict[str, dict[date, _Day]] = {c.name: {} for c in self.campaigns}

    def observe(self, visitor: str, at: datetime, event: str | None, campaign: str | None) -> None:
        """Count one hit of `visitor` (attributed to `campaign`) in every slot it falls in."""
        for definition in self.campaigns:
            assert definition.schedule is not None
            day = definition.schedule.slot_day(at)
            if day is None:
                continue
            figures = self._days[definition.name].get(day)
            if figures is None:
                figures = self._days[definition.name][day] = _Day()
            figures.visitors.add(visitor)
            if campaign == definition.name:
                figures.campaign_visitors.add(visitor)
            if event is not None:
                if event in definition.signups:
                    figures.signups += 1
                if event in definition.conversions:
                    figures.conversions += 1

    def merge(self, source: str, target: str) -> None:
        """Count visitor `source` as `target` from now on in the distinct-visitor figures."""
        for days in self._days.values():
            for figures in days.values():
                for group in (figures.visitors, figures.campaign_visitors):
                    if source in group:
                        group.discard(source)
                        group.add(target)

    def compare(self, name: str, *, day: date | None = None) -> SlotComparison | None:
        """`name`'s slot on `day` (default: the latest day seen) against the other days."""
        definition = next((c for c in self.campaigns if c.name == name), None)
        if definition is None or definition.schedule is None:
            return None
        schedule = definition.schedule
        days = [
            SlotFigures(
                day=d,
                scheduled=schedule.runs_on(d),
                visitors=len(f.visitors),
                campaign_visitors=len(f.campaign_visitors),
                signups=f.signups,
                conversions=f.conversions,
            )
            for d, f in sorted(self._days[name].items())
        ]
        if day is None and days:
            day = days[-1].day
        chosen = next((f for f in days if f.day == day), None)
        others = [f for f in days if f.day != day]
        mean = {
            m: round(sum(getattr(f, m) for f in others) / len(others), 3) if others else 0.0
            for m in _METRICS
        }
        lift: dict[str, float | None] = {}
        for metric in _METRICS:
            base = mean[metric]
            value = getattr(chosen, metric) if chosen else 0
            lift[metric] = round(value / base - 1, 4) if base else None
        return SlotComparison(
            campaign=name,
            channel=definition.channel,
            slot=f"{schedule.start}-{schedule.end}",
            timezone=schedule.timezone,
            day=day,
            figures=chosen,
            other_days_mean=mean,
            lift=lift,
            days=days,
        )
