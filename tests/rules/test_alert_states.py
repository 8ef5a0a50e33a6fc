"""Issue 14: alert states that tell the truth, on the alerting engine with a simulated
clock: a `change` alert is judged against the reference that fired it, "no data" is not a
recovery, a resolution says what recovered, and `(none)` groups are left out by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.kpi.metrics import Metric, Term
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.lifecycle import resolution_messages

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CONVERSION = Metric(
    name="conversion",
    kind="ratio",
    numerator=Term(where={"event": "Order Completed"}),
    denominator=Term(where={"event": "Checkout Started"}),
    by=["campaign"],
    window="10m",
    title={"en": "Conversion", "fr": "Conversion"},
)
# Resolving at once (not after the default three windows): these tests are about what recovers.
DROP = Rule(
    name="conversion-drop", kind="change", metric="conversion", drop=0.3, resolve_after="0s"
)


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Alert] = []

    def alert_changed(self, alert: Alert) -> None:
        self.changes.append(alert)

    @property
    def statuses(self) -> list[str]:
        return [a.status for a in self.changes]


class Shop:
    """Checkouts and orders of one campaign, window after window (10 minutes each)."""

    def __init__(self, rule: Rule = DROP, campaign: str | None = "lunch") -> None:
        self.clock = ManualClock(T0)
        self.recorder = Recorder()
        self.engine = AlertingEngine(
            [CONVERSION], [rule], clock=self.clock, listeners=[self.recorder]
        )
        self.campaign = campaign
        self.n = 0

    def window(self, number: int, *, checkouts: int, orders: int) -> None:
        """Events of the `number`th window, then time moves to the next one."""
        start = T0 + timedelta(minutes=10 * number)
        events = []
        for i in range(checkouts):
            events.append(self._event("Checkout Started", start + timedelta(seconds=i)))
            if i < orders:
                events.append(
                    self._event("Order Completed", start + timedelta(seconds=i, microseconds=1))
                )
        if events:
            self.engine.process(events)
        self.clock.set(start + timedelta(minutes=10))
        self.engine.tick()

    def _event(self, name: str, at: datetime) -> Event:
        self.n += 1
        properties = {} if self.campaign is None else {"campaign": self.campaign}
        return Event(
            message_id=f"e{self.n}", type="track", source="web", event=name,
            timestamp=at, received_at=at, properties=properties, offset=self.n,
        )  # fmt: skip


def test_conversion_staying_at_zero_does_not_recover() -> None:
    """The false recovery: conversion falls from 36 % to 0 % and stays there; the previous
    window becomes 0 % too, and the alert still fires (it was 0 % against 36 %)."""
    shop = Shop()
    shop.window(0, checkouts=25, orders=9)  # 36 %
    shop.window(1, checkouts=25, orders=0)  # 0 %: fires
    assert shop.recorder.statuses == ["firing"]
    for number in range(2, 5):
        shop.window(number, checkouts=25, orders=0)
    assert shop.recorder.statuses == ["firing"]
    (alert,) = shop.engine.active_alerts()
    assert alert.values["reference"] == 0.36
    assert alert.values["reference_now"] == 0.0
    assert alert.values["fired_value"] == 0.0


def test_recovery_is_within_the_tolerance_of_the_firing_reference() -> None:
    """Back to 28 % (more than 30 % below 36 %? no: 22 % below) resolves, and the message
    says what recovered, from what and against which reference."""
    shop = Shop()
    shop.window(0, checkouts=25, orders=9)
    shop.window(1, checkouts=25, orders=0)
    shop.window(2, checkouts=25, orders=0)
    shop.window(3, checkouts=25, orders=6)  # 24 %: still 33 % below 36 %
    assert shop.recorder.statuses == ["firing"]
    shop.window(4, checkouts=25, orders=7)  # 28 %
    assert shop.recorder.statuses == ["firing", "resolved"]
    resolved = shop.recorder.changes[-1]
    assert resolved.annotations["resolution_en"] == (
        "Conversion back to 28 % (fired at 0 %, reference 36 %)"
    )
    assert resolved.annotations["resolution_fr"] == (
        "Conversion revenu à 28 % (alerte à 0 %, référence 36 %)"
    )
    assert resolved.values["recovered"]["value"] == 0.28


def test_a_tighter_tolerance_waits_for_a_fuller_recovery() -> None:
    """With `tolerance: 0.1`, 28 % against a reference of 36 % is not yet a recovery."""
    shop = Shop(Rule(name="conversion-drop", kind="change", metric="conversion", drop=0.3,
                     tolerance=0.1, resolve_after="0s"))  # fmt: skip
    shop.window(0, checkouts=25, orders=9)
    shop.window(1, checkouts=25, orders=0)
    shop.window(2, checkouts=25, orders=7)
    assert shop.recorder.statuses == ["firing"]
    shop.window(3, checkouts=25, orders=9)
    assert shop.recorder.statuses == ["firing", "resolved"]


def test_no_data_is_a_state_of_its_own_never_a_recovery() -> None:
    """No checkout at all (no value to judge) leaves the alert open, marked "no data";
    when data comes back it is judged again."""
    shop = Shop()
    shop.window(0, checkouts=25, orders=9)
    shop.window(1, checkouts=25, orders=0)
    shop.engine.process([shop._event("Checkout Started", T0 + timedelta(minutes=20))])
    shop.engine.process([])
    shop.clock.set(T0 + timedelta(minutes=40))
    shop.engine.tick()  # the window holding that checkout has gone: no data
    assert shop.recorder.statuses == ["firing"]
    (alert,) = shop.engine.active_alerts()
    assert alert.status == "firing"
    assert alert.values["state"] == "no_data"
    assert "No data for conversion" in alert.annotations["no_data_en"]
    shop.window(4, checkouts=25, orders=9)
    assert shop.recorder.statuses == ["firing", "resolved"]
    assert "state" not in shop.recorder.changes[-1].values


def test_a_threshold_resolution_names_the_threshold() -> None:
    """A threshold alert's resolution gives the value now, the value it fired at and the
    threshold."""
    message = resolution_messages(
        {"metric": "visitors", "title": {"en": "Visitors", "fr": "Visiteurs"}, "kind": "count",
         "unit": None, "value": 420.0, "fired_value": 650.0, "threshold": 500.0}
    )  # fmt: skip
    assert message["resolution_en"] == "Visitors back to 420 (fired at 650, threshold 500)"
    assert message["resolution_fr"] == "Visiteurs revenu à 420 (alerte à 650, seuil 500)"


def test_groups_with_a_missing_label_are_left_out_unless_asked() -> None:
    """Events without a campaign make a `(none)` group: the rule does not look at it,
    unless it says `missing_labels: evaluate`."""
    for option, expected in (("skip", []), ("evaluate", ["firing"])):
        rule = Rule(name="conversion-drop", kind="change", metric="conversion", drop=0.3,
                    missing_labels=option)  # type: ignore[arg-type]  # fmt: skip
        shop = Shop(rule, campaign=None)
        shop.window(0, checkouts=25, orders=9)
        shop.window(1, checkouts=25, orders=0)
        assert shop.recorder.statuses == expected, option
        assert [r.group for r in shop.engine.kpis.read("conversion")] == ["(none)"]


def test_a_change_alert_is_one_incident_while_it_comes_and_goes() -> None:
    """Issue 15: a `change` rule shares the incident semantics: with `resolve_after`, a fall
    that recovers for one window and falls again stays one firing alert, which resolves
    once the conversion has been normal for that long."""
    rule = Rule(name="conversion-drop", kind="change", metric="conversion", drop=0.3,
                resolve_after="25m")  # fmt: skip
    shop = Shop(rule)
    shop.window(0, checkouts=25, orders=9)  # 36 %
    shop.window(1, checkouts=25, orders=0)  # fires
    shop.window(2, checkouts=25, orders=9)  # back for one window
    shop.window(3, checkouts=25, orders=0)  # falls again: the same incident
    assert shop.recorder.statuses == ["firing"]
    for number in range(4, 7):
        shop.window(number, checkouts=25, orders=9)
    assert shop.recorder.statuses == ["firing"]  # normal for 20 minutes only
    shop.window(7, checkouts=25, orders=9)
    assert shop.recorder.statuses == ["firing", "resolved"]
    assert len({a.id for a in shop.recorder.changes}) == 1


def test_a_change_alert_falling_again_within_its_cooldown_reopens() -> None:
    """Issue 15: a `change` alert that falls again within its `cooldown` reopens the alert
    it resolved (same id) instead of raising a new one."""
    rule = Rule(name="conversion-drop", kind="change", metric="conversion", drop=0.3,
                cooldown="1h", resolve_after="0s")  # fmt: skip
    shop = Shop(rule)
    shop.window(0, checkouts=25, orders=9)
    shop.window(1, checkouts=25, orders=0)
    shop.window(2, checkouts=25, orders=9)
    shop.window(3, checkouts=25, orders=9)
    shop.window(4, checkouts=25, orders=0)
    assert shop.recorder.statuses == ["firing", "resolved", "firing"]
    assert len({a.id for a in shop.recorder.changes}) == 1
