"""The lunch-time scenario: real journeys, logins across devices, a checkout that breaks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from vigie.analytics import AnalyticsProcessor
from vigie.analytics.sessions import hit_of, sessionise
from vigie.demo import lunch_analytics
from vigie.events import Event
from vigie.events.segment import convert_messages, decode_envelope
from vigie.simulate import LunchCampaign
from vigie.simulate.lunch import LunchCampaign as Lunch

DAY = date(2026, 5, 5)


def _events(scenario: Lunch) -> list[Event]:
    messages = list(scenario.messages())
    events: list[Event] = []
    for start in range(0, len(messages), 500):
        body = json.dumps({"batch": messages[start : start + 500]}).encode()
        batch, rejections = convert_messages(
            decode_envelope(body), source="web", received_at=datetime.now(UTC)
        )
        assert rejections == []
        events.extend(batch)
    for offset, event in enumerate(events, start=1):
        event.offset = offset
    return events


def test_no_order_after_the_checkout_breaks() -> None:
    """With checkout_breaks_at=12:20, orders stop at 12:20 and checkouts fail instead."""
    scenario = LunchCampaign(day=DAY, visitors=600, seed=11, checkout_breaks_at=time(12, 20))
    events = _events(scenario)
    tz = scenario.start().tzinfo
    orders = [e.timestamp.astimezone(tz).time() for e in events if e.event == "Order Completed"]
    failures = [e.timestamp.astimezone(tz).time() for e in events if e.event == "Checkout Failed"]
    assert orders and failures
    assert max(orders) < time(12, 20) <= min(failures)


def test_visitors_come_back_in_several_sessions() -> None:
    """Some visitors have sessions on the day before or later in the afternoon; none
    without the returning share."""
    rule = lunch_analytics().session_rule()

    def sessions_per_visitor(scenario: Lunch) -> list[int]:
        hits = [h for e in _events(scenario) if (h := hit_of(e, campaign=None)) is not None]
        counts: dict[str, int] = {}
        for session in sessionise(hits, rule):
            counts[session.visitor_id] = counts.get(session.visitor_id, 0) + 1
        return list(counts.values())

    richer = sessions_per_visitor(LunchCampaign(day=DAY, visitors=300, seed=5))
    assert sum(n > 1 for n in richer) > 10
    plain = LunchCampaign(day=DAY, visitors=300, seed=5, returning_share=0, login_share=0)
    assert max(sessions_per_visitor(plain)) <= 2


def test_the_demo_funnel_shows_the_break_and_real_journeys() -> None:
    """Fed to the processor, the scenario has returning visitors, merges and a dead slot."""
    scenario = LunchCampaign(day=DAY, visitors=800, seed=3, checkout_breaks_at=time(12, 20))
    processor = AnalyticsProcessor(lunch_analytics())
    processor.process(_events(scenario))
    report = processor.funnel_report("lunch-checkout")
    assert report is not None
    slots = report.by_slot
    assert slots["12:00-12:10"][3] > 0
    assert slots["12:30-12:40"][2] > 0 and slots["12:30-12:40"][3] == 0
    assert report.steps[3].drop_off_rate > 0.5
    multi_device = [
        p for p, ids in processor.identity.profiles() if sum(i.endswith("-m") for i in ids) == 1
    ]
    assert multi_device
    steps = processor.friction(campaign="lunch-deal").steps
    assert max(steps, key=lambda s: s.drop_off_rate).name == "Order Completed"
    comparison = processor.campaign_slots("lunch-deal")
    assert comparison is not None and comparison.figures is not None
    assert comparison.figures.conversions > 0
