"""The `analytics:` section of `vigie.yaml`: the site's time zone, sessions, funnels, campaigns."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfoNotFoundError

import msgspec

from vigie.analytics.campaigns import WEEKDAYS, Campaign
from vigie.analytics.funnels import Funnel
from vigie.analytics.sessions import SessionRule, zone


class AnalyticsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How visits are cut into sessions, which funnels and campaigns are followed live."""

    timezone: str = "UTC"
    session_timeout_minutes: float = 30.0
    funnels: list[Funnel] = []
    campaigns: list[Campaign] = []

    def session_rule(self) -> SessionRule:
        """The session rule these settings describe."""
        return SessionRule(
            timeout=timedelta(minutes=self.session_timeout_minutes), timezone=self.timezone
        )

    def funnel(self, name: str) -> Funnel | None:
        """The funnel called `name`, if configured."""
        return next((f for f in self.funnels if f.name == name), None)


def problems(config: AnalyticsConfig) -> list[tuple[list[str | int], str]]:
    """What is wrong in an analytics section, as (key path under `analytics`, reason) pairs."""
    found: list[tuple[list[str | int], str]] = []
    try:
        zone(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(
            (["timezone"], f"unknown time zone {config.timezone!r} (e.g. Europe/Brussels)")
        )
    names: set[str] = set()
    for i, funnel in enumerate(config.funnels):
        if funnel.name in names:
            found.append((["funnels", i, "name"], f"funnel {funnel.name!r} is defined twice"))
        names.add(funnel.name)
        if len(funnel.steps) < 2:
            found.append((["funnels", i, "steps"], "a funnel needs at least two steps"))
        for j, step in enumerate(funnel.steps):
            if (step.event is None) == (step.page is None):
                found.append(
                    (["funnels", i, "steps", j], "give each step either `event` or `page`")
                )
        if funnel.window_minutes <= 0:
            found.append((["funnels", i, "window_minutes"], "the window must be positive"))
        if not 1 <= funnel.slot_minutes <= 1440:
            found.append((["funnels", i, "slot_minutes"], "between 1 and 1440 minutes"))
    seen: set[str] = set()
    for i, campaign in enumerate(config.campaigns):
        if campaign.name in seen:
            found.append((["campaigns", i, "name"], f"campaign {campaign.name!r} is defined twice"))
        seen.add(campaign.name)
        schedule = campaign.schedule
        if schedule is None:
            continue
        try:
            start, end = schedule.bounds()
            if start >= end:
                found.append(
                    (["campaigns", i, "schedule", "end"], "the slot must end after it starts")
                )
        except ValueError:
            found.append((["campaigns", i, "schedule"], "start and end are times like '12:00'"))
        try:
            zone(schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            found.append(
                (
                    ["campaigns", i, "schedule", "timezone"],
                    f"unknown time zone {schedule.timezone!r}",
                )
            )
        for j, day in enumerate(schedule.days):
            if day not in WEEKDAYS:
                found.append(
                    (
                        ["campaigns", i, "schedule", "days", j],
                        f"{day!r} is not one of {', '.join(WEEKDAYS)}",
                    )
                )
    return found
