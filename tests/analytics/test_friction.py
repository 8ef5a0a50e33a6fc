"""Friction: pages that end visits and funnel steps where visitors drop, per campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.analytics.friction import PageExits, step_friction
from vigie.analytics.funnels import Funnel, FunnelStep, FunnelTracker
from vigie.analytics.sessions import Hit

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_the_last_page_of_each_session_is_its_exit() -> None:
    """Exits move to the newest page of a session; a new session keeps the old exit."""
    exits = PageExits()
    exits.observe("/a", "ad", new_session=True, previous_page=None)
    exits.observe("/b", "ad", new_session=False, previous_page="/a")
    exits.observe("/a", None, new_session=True, previous_page=None)
    pages = {p.path: (p.views, p.exits) for p in exits.pages()}
    assert pages == {"/a": (2, 1), "/b": (1, 1)}
    assert [(p.path, p.exit_rate) for p in exits.pages("ad")] == [("/b", 1.0), ("/a", 0.0)]


def test_steps_are_ranked_by_visitors_lost() -> None:
    """The step that loses most of a campaign's visitors comes first."""
    funnel = Funnel(
        name="f", steps=[FunnelStep(page="/a"), FunnelStep(event="B"), FunnelStep(event="C")]
    )
    tracker = FunnelTracker(funnel)
    for n in range(4):
        v = f"v{n}"
        tracker.observe(v, Hit(at=T0, visitor_id=v, type="page", path="/a"), "ad")
        if n < 3:
            tracker.observe(
                v, Hit(at=T0 + timedelta(seconds=1), visitor_id=v, type="track", event="B"), "ad"
            )
    worst = step_friction([tracker], "ad")
    assert [(s.name, s.dropped) for s in worst] == [("B", 1), ("C", 3)][::-1]
    assert worst[0].drop_off_rate == 1.0
    assert step_friction([tracker], "other") == []
