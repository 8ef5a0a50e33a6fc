"""Funnels: ordered steps (an event name or a page path, with property filters) and a
conversion window, counted live one hit at a time.

A visitor reaches step k when steps 1..k happened in that order with step k at most
`window` after step 1. `FunnelTracker` keeps, per visitor and per step, the latest start of
a chain that reached that step: a later start leaves the most window for the next step, so
this is exact while costing O(steps) per hit.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import msgspec

from vigie.analytics.sessions import Hit, zone

NO_CAMPAIGN = "(none)"


class FunnelStep(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One step: a tracked `event`, or a `page` path (a trailing `*` matches a prefix)."""

    name: str | None = None
    """The step's label in reports; none: its `event` or `page`."""
    event: str | None = None
    """The tracked event that is this step (e.g. `Checkout Started`); give either `event` or
    `page`."""
    page: str | None = None
    """The page path that is this step (e.g. `/checkout`; a trailing `*` matches every path that
    starts so)."""
    where: dict[str, Any] = {}
    """Properties the hit must also carry, each equal to its value (e.g. `{plan: pro}`)."""

    @property
    def label(self) -> str:
        return self.name or self.event or self.page or "?"

    def matches(self, hit: Hit) -> bool:
        """True when `hit` is this step: same event name or page path, filters equal."""
        if self.event is not None:
            if hit.type != "track" or hit.event != self.event:
                return False
        elif self.page is not None:
            if hit.type != "page" or hit.path is None:
                return False
            if self.page.endswith("*"):
                if not hit.path.startswith(self.page[:-1]):
                    return False
            elif hit.path != self.page:
                return False
        else:
            return False
        props = hit.properties
        return all(props.get(key) == value for key, value in self.where.items())


class Funnel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A funnel of `vigie.yaml`: ordered steps, a conversion window, a time-slot width."""

    name: str
    """The funnel's unique name, as the API and the dashboard show it."""
    steps: list[FunnelStep]
    window_minutes: float = 60.0
    """Minutes a visitor has, counted from the first step, to reach each later step; one reached
    later does not count."""
    slot_minutes: int = 60
    """Width in minutes (1 to 1440) of the time-of-day slots (in `analytics.timezone`) conversion is
    also broken down by."""
    description: str | None = None
    """Free text saying what the funnel follows, for whoever reads the file."""

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)


class _Progress:
    """One visitor's position in a funnel (a plain class: millions of these may live)."""

    __slots__ = ("campaign", "reached", "reached_at", "slot", "starts")

    def __init__(self, steps: int) -> None:
        self.starts: list[datetime | None] = [None] * steps
        self.reached_at: list[datetime | None] = [None] * steps
        self.reached = 0
        self.campaign = NO_CAMPAIGN
        self.slot = ""


class StepFigures(msgspec.Struct, kw_only=True):
    """One step of a funnel report."""

    step: int
    name: str
    visitors: int
    conversion: float
    from_previous: float
    drop_off: int
    drop_off_rate: float
    median_seconds_from_previous: float | None
    dropped_visitors: list[str]


class FunnelReport(msgspec.Struct, kw_only=True):
    """What `GET /api/funnels/{name}` answers."""

    name: str
    window_minutes: float
    entered: int
    converted: int
    conversion: float
    steps: list[StepFigures]
    by_campaign: dict[str, list[int]]
    by_slot: dict[str, list[int]]


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class FunnelTracker:
    """Live counts of one funnel, updated one hit at a time (and on identity merges)."""

    def __init__(self, funnel: Funnel, *, timezone: str = "UTC") -> None:
        self.funnel = funnel
        self.timezone = timezone
        self._steps = funnel.steps
        self._window = funnel.window
        self._progress: dict[str, _Progress] = {}
        # Candidate steps per event name (highest first); page steps are checked on pages.
        self._by_event: dict[str, list[int]] = {}
        for k in range(len(funnel.steps) - 1, -1, -1):
            if funnel.steps[k].event is not None:
                self._by_event.setdefault(funnel.steps[k].event or "", []).append(k)
        self._page_steps = [
            k for k in range(len(funnel.steps) - 1, -1, -1) if funnel.steps[k].page is not None
        ]
        # Event steps without filters are matched by name alone.
        self._checks = [s.event is None or bool(s.where) for s in funnel.steps]
        # Candidate lists that need no filter check are the matched steps themselves.
        self._unchecked = {
            name: all(not self._checks[k] for k in candidates)
            for name, candidates in self._by_event.items()
        }
        n = len(funnel.steps)
        self.counts = [0] * n
        self.by_campaign: dict[str, list[int]] = {}
        self.by_slot: dict[str, list[int]] = {}

    @property
    def events(self) -> frozenset[str]:
        """The event names of this funnel's event steps (other tracked events never count)."""
        return frozenset(self._by_event)

    @property
    def has_page_steps(self) -> bool:
        """True when some step is a page path."""
        return bool(self._page_steps)

    def slot_of(self, at: datetime) -> str:
        """The time slot label of `at` in local time, e.g. `12:20-12:30`."""
        local = at.astimezone(zone(self.timezone))
        width = self.funnel.slot_minutes
        start = (local.hour * 60 + local.minute) // width * width
        end = min(start + width, 24 * 60)
        return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"

    def observe(self, visitor: str, hit: Hit, campaign: str | None = None) -> bool:
        """Count `hit` of `visitor` (attributed to `campaign`); True when they moved forward."""
        steps = self._steps
        matched: list[int] | None
        if hit.type == "track":
            name = hit.event or ""
            matched = self._by_event.get(name)
            if not matched:
                return False
            if not self._unchecked[name]:
                checks = self._checks
                matched = [k for k in matched if not checks[k] or steps[k].matches(hit)]
        else:
            checks = self._checks
            matched = [k for k in self._page_steps if not checks[k] or steps[k].matches(hit)]
        if not matched:
            return False
        progress = self._progress.get(visitor)
        if progress is None:
            if matched[-1] != 0:
                return False
            progress = self._progress[visitor] = _Progress(len(steps))
        before = progress.reached
        at = hit.at
        starts = progress.starts
        reached_at = progress.reached_at
        window = self._window
        # Highest step first, so that one hit never counts for two consecutive steps.
        for k in matched:
            if k == 0:
                starts[0] = at
            else:
                start = starts[k - 1]
                if start is None or at - start > window:
                    continue
                current = starts[k]
                if current is None or start > current:
                    starts[k] = start
            if reached_at[k] is None:
                reached_at[k] = at
                if k == 0:
                    progress.campaign = campaign or NO_CAMPAIGN
                    progress.slot = self.slot_of(at)
        reached = before
        n = len(steps)
        while reached < n and starts[reached] is not None:
            reached += 1
        if reached == before:
            return False
        progress.reached = reached
        self._count(progress, before, reached, +1)
        return True

    def _count(self, progress: _Progress, low: int, high: int, sign: int) -> None:
        by_campaign = self.by_campaign.get(progress.campaign)
        if by_campaign is None:
            by_campaign = self.by_campaign[progress.campaign] = [0] * len(self._steps)
        by_slot = self.by_slot.get(progress.slot)
        if by_slot is None:
            by_slot = self.by_slot[progress.slot] = [0] * len(self._steps)
        counts = self.counts
        for k in range(low, high):
            counts[k] += sign
            by_campaign[k] += sign
            by_slot[k] += sign

    def merge(self, source: str, target: str) -> None:
        """Fold the progress of visitor `source` into `target` (an identity merge)."""
        moved = self._progress.pop(source, None)
        if moved is None:
            return
        kept = self._progress.get(target)
        if kept is None:
            self._progress[target] = moved
            return
        self._count(moved, 0, moved.reached, -1)
        self._count(kept, 0, kept.reached, -1)
        first = moved if _earlier(moved.reached_at[0], kept.reached_at[0]) else kept
        kept.campaign, kept.slot = first.campaign, first.slot
        for k in range(len(self._steps)):
            kept.starts[k] = _latest(kept.starts[k], moved.starts[k])
            kept.reached_at[k] = _earliest(kept.reached_at[k], moved.reached_at[k])
        kept.reached = max(kept.reached, moved.reached)
        self._count(kept, 0, kept.reached, +1)

    def reached(self, visitor: str) -> int:
        """How many steps `visitor` has reached (0 when never entered)."""
        progress = self._progress.get(visitor)
        return progress.reached if progress else 0

    def visitors(self) -> Iterator[tuple[str, int]]:
        """Each visitor who entered, with the number of steps reached."""
        for visitor, progress in self._progress.items():
            yield visitor, progress.reached

    def report(self, *, campaign: str | None = None, dropped_limit: int = 50) -> FunnelReport:
        """Per-step counts, conversion, drop-off, median time between steps, breakdowns."""
        steps = self._steps
        n = len(steps)
        if campaign is None:
            counts = list(self.counts)
        else:
            counts = list(self.by_campaign.get(campaign, [0] * n))
        deltas: list[list[float]] = [[] for _ in range(n)]
        dropped: list[list[str]] = [[] for _ in range(n)]
        for visitor, progress in self._progress.items():
            if campaign is not None and progress.campaign != campaign:
                continue
            times = progress.reached_at
            for k in range(1, progress.reached):
                a, b = times[k - 1], times[k]
                if a is not None and b is not None:
                    deltas[k].append((b - a).total_seconds())
            if 0 < progress.reached < n and len(dropped[progress.reached]) < dropped_limit:
                dropped[progress.reached].append(visitor)
        figures: list[StepFigures] = []
        for k, step in enumerate(steps):
            previous = counts[k - 1] if k else counts[0]
            lost = previous - counts[k] if k else 0
            figures.append(
                StepFigures(
                    step=k + 1,
                    name=step.label,
                    visitors=counts[k],
                    conversion=_rate(counts[k], counts[0]),
                    from_previous=_rate(counts[k], previous),
                    drop_off=lost,
                    drop_off_rate=_rate(lost, previous),
                    median_seconds_from_previous=(
                        round(statistics.median(deltas[k]), 3) if deltas[k] else None
                    ),
                    dropped_visitors=dropped[k],
                )
            )
        return FunnelReport(
            name=self.funnel.name,
            window_minutes=self.funnel.window_minutes,
            entered=counts[0],
            converted=counts[-1],
            conversion=_rate(counts[-1], counts[0]),
            steps=figures,
            by_campaign={c: list(v) for c, v in sorted(self.by_campaign.items()) if any(v)},
            by_slot={s: list(v) for s, v in sorted(self.by_slot.items()) if any(v)},
        )


def _earlier(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a <= b)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return a if _earlier(a, b) else b


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
