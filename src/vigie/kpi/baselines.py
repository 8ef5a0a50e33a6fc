"""Learned baselines with daily or weekly seasonality: what a KPI usually is at this time.

Each closed window's value is filed under its slot (time of day, or of week, on the wall
clock of the baseline's time zone: a Paris shop's 09:00 is its 09:00 in summer and in winter)
and the last `depth` values of a slot give the expected value (their mean) and its spread.

A series keeps one baseline per calendar (slots and time zone) its metric's rules ask for
(`Baselines`): rules on one metric that agree on the calendar share one history, as deep as
the deepest of them asks; rules that do not each get their own.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from vigie.kpi.wallclock import UTC_NAME, wall_clock

DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
Seasonality = Literal["daily", "weekly"]
Learning = tuple[Seasonality, int, str]
"""How a rule's baseline learns: its seasonality, its depth and its time zone (IANA name)."""
Calendar = tuple[Seasonality, str]
"""Where a baseline files a window: its slot of the day or the week, in a time zone."""


def calendars(learnings: Iterable[Learning]) -> dict[Calendar, int]:
    """The calendars `learnings` ask for, each as deep as the deepest of them: the shallower
    read the newest values of the deeper history (`Baselines.values`)."""
    depths: dict[Calendar, int] = {}
    for seasonality, depth, timezone in learnings:
        calendar = (seasonality, timezone)
        depths[calendar] = max(depths.get(calendar, 0), depth)
    return depths


class SeasonalBaseline:
    """Per-slot history of window values; one value per slot and period is kept. Slots are
    read in the local time of `timezone` (UTC by default)."""

    __slots__ = ("clock", "depth", "last_end", "period_us", "slot_us", "slots")

    def __init__(
        self,
        *,
        slot_us: int,
        seasonality: Seasonality = "daily",
        depth: int = 7,
        timezone: str = UTC_NAME,
    ) -> None:
        self.period_us = WEEK_US if seasonality == "weekly" else DAY_US
        self.slot_us = slot_us
        self.depth = depth
        self.slots: dict[int, deque[tuple[int, float]]] = {}
        self.last_end: int | None = None
        clock = wall_clock(timezone)
        self.clock = None if clock.utc else clock  # None: UTC, read without a call

    def slot(self, end_us: int) -> int:
        """The slot index of a window ending at `end_us`, on the local wall clock."""
        clock = self.clock
        wall = end_us if clock is None else clock.wall(end_us)
        return (wall % self.period_us) // self.slot_us

    def add(self, end_us: int, value: float | None) -> None:
        """File the value of the window that ended at `end_us` (None values are skipped)."""
        if value is None or (self.last_end is not None and end_us <= self.last_end):
            return
        self.last_end = end_us
        history = self.slots.setdefault(self.slot(end_us), deque(maxlen=self.depth))
        if history and end_us - history[-1][0] < self.period_us // 2:
            history[-1] = (end_us, value)  # same slot, same period: keep the latest value
        else:
            history.append((end_us, value))

    def values(self, end_us: int) -> list[float]:
        """Values of the same slot in previous periods (older than half a period)."""
        history = self.slots.get(self.slot(end_us), ())
        return [v for at, v in history if end_us - at >= self.period_us // 2]

    def expected(self, end_us: int) -> tuple[float, float, int] | None:
        """(mean, standard deviation, samples) for the slot of `end_us`, None without history."""
        return expectation(self.values(end_us))


class Baselines:
    """One series' baselines, one per calendar (`depths`: how deep each one is): a closed
    window is filed in them all, and a rule reads the values of its own calendar."""

    __slots__ = ("by_calendar",)

    def __init__(self, *, slot_us: int, depths: Mapping[Calendar, int]) -> None:
        self.by_calendar = {
            calendar: SeasonalBaseline(
                slot_us=slot_us, seasonality=calendar[0], depth=depth, timezone=calendar[1]
            )
            for calendar, depth in depths.items()
        }

    def add(self, end_us: int, value: float | None) -> None:
        """File the value of the window that ended at `end_us` in every calendar."""
        for baseline in self.by_calendar.values():
            baseline.add(end_us, value)

    def values(self, end_us: int, calendar: Calendar) -> list[float]:
        """The values of the same slot of `calendar` in previous periods, oldest first (none
        when no rule asked for that calendar)."""
        baseline = self.by_calendar.get(calendar)
        return [] if baseline is None else baseline.values(end_us)


def expectation(values: Sequence[float]) -> tuple[float, float, int] | None:
    """(mean, sample standard deviation, samples) of a slot's past `values`, None without any."""
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0
    return mean, math.sqrt(var), len(values)
