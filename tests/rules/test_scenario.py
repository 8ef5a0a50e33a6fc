"""The demo scenario through the shipped catalogue: the 12:20 checkout break raises the
conversion drop, and the swamped support queue raises its SLA alert."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vigie.catalogue import load_catalogue
from vigie.events import Event
from vigie.events.segment import Envelope, convert_messages
from vigie.rules.backtest import replay
from vigie.simulate import LunchCampaign

DAY = date(2026, 11, 27)
BREAK = datetime.combine(DAY, time(12, 20), tzinfo=ZoneInfo("Europe/Brussels"))


def _events(visitors: int) -> list[Event]:
    """The scenario's messages as events that arrived when they happened."""
    out: list[Event] = []
    for message in LunchCampaign(day=DAY, visitors=visitors, seed=3).messages():
        at = datetime.fromisoformat(message["timestamp"])
        envelope = Envelope(
            messages=[json.dumps(message).encode()], sent_at=None, context={}, write_key=None
        )
        events, rejected = convert_messages(envelope, source="web", received_at=at)
        assert not rejected
        events[0].offset = len(out) + 1
        out.extend(events)
    return out


def test_checkout_break_and_support_backlog_raise_their_alerts() -> None:
    """Conversion drop fires minutes after 12:20, not before; the orders queue breaches SLA."""
    catalogue = load_catalogue()
    changes = replay(catalogue.metrics, catalogue.rules, _events(1500))
    fired = [a for a in changes if a.status == "firing"]
    drops = [a for a in fired if a.rule == "checkout-conversion-drop"]
    assert drops, "the checkout break raised no conversion drop"
    campaign_drop = next(a for a in drops if a.labels["campaign"] == "lunch-deal")
    assert BREAK <= campaign_drop.fired_at <= BREAK + timedelta(minutes=10)  # type: ignore[operator]
    assert campaign_drop.values["change"] <= -0.3
    assert campaign_drop.playbook == "conversion-drop"
    assert "lunch-deal" in campaign_drop.annotations["summary_fr"]
    assert all(a.fired_at >= BREAK for a in drops)  # type: ignore[operator]
    assert any(a.rule == "checkout-incident" for a in fired)
    sla = [a for a in fired if a.rule == "support-first-response-sla"]
    assert {a.labels["queue"] for a in sla} == {"orders"}
    assert sla[0].values["breaches"] >= 1
