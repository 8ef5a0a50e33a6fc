"""Friction points: the pages visitors leave from and the funnel steps they drop at, per
campaign.

A page's exits are the sessions whose last page view it is (the open sessions included, so
the figure is live); its exit rate is exits over views.
"""

from __future__ import annotations

import msgspec

from vigie.analytics.funnels import NO_CAMPAIGN, FunnelTracker


class PageFriction(msgspec.Struct, kw_only=True):
    """A page of the site with how often it ends a visit."""

    path: str
    views: int
    exits: int
    exit_rate: float


class StepFriction(msgspec.Struct, kw_only=True):
    """A funnel step with how many of the previous step's visitors did not reach it."""

    funnel: str
    step: int
    name: str
    reached_previous: int
    dropped: int
    drop_off_rate: float


class FrictionReport(msgspec.Struct, kw_only=True):
    """Where visitors of one campaign (or all) leave most: pages and funnel steps."""

    campaign: str | None
    pages: list[PageFriction]
    steps: list[StepFriction]


class PageExits:
    """Live page views and exits, per campaign of the session."""

    def __init__(self) -> None:
        self._views: dict[str, dict[str, int]] = {}
        self._exits: dict[str, dict[str, int]] = {}

    def observe(
        self, path: str, campaign: str | None, *, new_session: bool, previous_page: str | None
    ) -> None:
        """Count a page view; it becomes its session's exit page, replacing `previous_page`."""
        key = campaign or NO_CAMPAIGN
        views = self._views.setdefault(key, {})
        exits = self._exits.setdefault(key, {})
        views[path] = views.get(path, 0) + 1
        if not new_session and previous_page is not None:
            exits[previous_page] -= 1
        exits[path] = exits.get(path, 0) + 1

    def pages(self, campaign: str | None = None, *, min_views: int = 1) -> list[PageFriction]:
        """Pages by exits, most first, for one campaign or all of them."""
        views: dict[str, int] = {}
        exits: dict[str, int] = {}
        keys = [campaign] if campaign is not None else list(self._views)
        for key in keys:
            for path, n in self._views.get(key, {}).items():
                views[path] = views.get(path, 0) + n
            for path, n in self._exits.get(key, {}).items():
                exits[path] = exits.get(path, 0) + n
        out = [
            PageFriction(
                path=path,
                views=n,
                exits=exits.get(path, 0),
                exit_rate=round(exits.get(path, 0) / n, 4) if n else 0.0,
            )
            for path, n in views.items()
            if n >= min_views
        ]
        out.sort(key=lambda p: (-p.exits, -p.exit_rate, p.path))
        return out


def step_friction(trackers: list[FunnelTracker], campaign: str | None) -> list[StepFriction]:
    """Every funnel step's drop-off for `campaign` (or all), the worst first."""
    out: list[StepFriction] = []
    for tracker in trackers:
        counts = tracker.counts if campaign is None else tracker.by_campaign.get(campaign)
        if not counts:
            continue
        for k in range(1, len(counts)):
            lost = counts[k - 1] - counts[k]
            out.append(
                StepFriction(
                    funnel=tracker.funnel.name,
                    step=k + 1,
                    name=tracker.funnel.steps[k].label,
                    reached_previous=counts[k - 1],
                    dropped=lost,
                    drop_off_rate=round(lost / counts[k - 1], 4) if counts[k - 1] else 0.0,
                )
            )
    out.sort(key=lambda s: (-s.dropped, -s.drop_off_rate))
    return out
