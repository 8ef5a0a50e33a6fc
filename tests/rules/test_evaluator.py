"""The alerting engine on a simulated clock: batches, ticks, anomalies and processing time."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.kpi.metrics import Metric
from vigie.log import SqlEventLog
from vigie.rules.alerts import Alert
from vigie.rules.backtest import replay
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine, baselines_needed
from vigie.rules.store import AlertStore
from vigie.store import connect, upgrade
from vigie.types import to_us

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Alert] = []

    def alert_changed(self, alert: Alert) -> None:
        self.changes.append(alert)


def _order(n: int, at: datetime) -> Event:
    return Event(
        message_id=f"o{n}",
        type="track",
        source="web",
        event="Order Completed",
        timestamp=at,
        received_at=at,
        offset=n,
    )


ORDERS = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1h")


def test_replayed_batch_is_not_counted_twice() -> None:
    """At-least-once delivery: the same batch handed over twice counts once."""
    clock = ManualClock(T0)
    engine = AlertingEngine([ORDERS], [], clock=clock)
    batch = [_order(n, T0) for n in range(1, 4)]
    engine.process(batch)
    engine.process(batch)
    assert engine.kpis.value("orders") == 3


def test_tick_lets_event_time_pass_and_resolves() -> None:
    """With no new events, ticks move event time on and a count alert resolves."""
    clock = ManualClock(T0)
    recorder = Recorder()
    rule = Rule(name="busy", metric="orders", op=">=", value=2)
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1m")
    engine = AlertingEngine([metric], [rule], clock=clock, listeners=[recorder])
    engine.process([_order(1, T0), _order(2, T0 + timedelta(seconds=1))])
    assert [a.status for a in recorder.changes] == ["firing"]
    clock.advance(timedelta(minutes=2))
    engine.tick()  # no longer holds: waits out the default three windows
    assert [a.status for a in recorder.changes] == ["firing"]
    clock.advance(timedelta(minutes=3))
    engine.tick()
    assert [a.status for a in recorder.changes] == ["firing", "resolved"]


def test_anomaly_after_a_warm_up_counted_in_samples() -> None:
    """Issue 15: after a day of ordinary hourly orders (a warm-up counted in samples, not
    days per slot), an hour with ten times the orders is one anomaly alert carrying its
    expected value and band; no window fires because it has only started."""
    clock = ManualClock(T0)
    recorder = Recorder()
    rule = Rule(name="odd", kind="anomaly", metric="orders", direction="both")
    engine = AlertingEngine([ORDERS], [rule], clock=clock, listeners=[recorder])
    n = 0
    for hour in range(30):
        per_hour = 100 if hour == 27 else 10 + hour % 3
        start = T0 + timedelta(hours=hour)
        for k in range(per_hour):
            n += 1
            at = start + timedelta(seconds=k * 3600 / per_hour)
            clock.set(at)
            engine.process([_order(n, at)])
    fired = [a for a in recorder.changes if a.status == "firing"]
    assert len(fired) == 1
    assert fired[0].fired_at is not None and fired[0].fired_at >= T0 + timedelta(hours=27)
    values = fired[0].values
    assert values["value"] > values["band"][1] > values["expected"] > values["band"][0]
    assert values["seasonality"] == "none"  # a day is not enough to learn a daily pattern


def test_same_slot_change_compares_with_previous_days() -> None:
    """Twice the usual orders at the same hour as the previous days is a rise."""
    clock = ManualClock(T0)
    recorder = Recorder()
    rule = Rule(name="rise", kind="change", metric="orders", compare="same_slot", rise=0.5)
    engine = AlertingEngine([ORDERS], [rule], clock=clock, listeners=[recorder])
    n = 0
    for day in range(4):
        per_hour = 40 if day == 3 else 10
        for hour in range(2):
            for k in range(per_hour):
                n += 1
                at = T0 + timedelta(days=day, hours=hour, seconds=k * 3600 / per_hour)
                clock.set(at)
                engine.process([_order(n, at)])
    fired = [a for a in recorder.changes if a.status == "firing"]
    assert fired
    assert fired[0].fired_at >= T0 + timedelta(days=3)  # type: ignore[operator]
    assert fired[0].values["compare"] == "same_slot"


def test_a_threshold_flapping_around_its_limit_is_one_incident() -> None:
    """Issue 15: a count hovering around its limit (3, 1, 3, 1... orders a minute against
    `>= 2`) fires on its first crossing, at once, and stays one firing alert counting its
    re-fires; it resolves three windows after the last crossing."""
    clock = ManualClock(T0)
    recorder = Recorder()
    rule = Rule(name="busy", metric="orders", op=">=", value=2)
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1m")
    engine = AlertingEngine([metric], [rule], clock=clock, listeners=[recorder])
    n = 0
    for minute in range(8):
        start = T0 + timedelta(minutes=minute)
        for second in range(3 if minute % 2 == 0 else 1):
            n += 1
            clock.set(start + timedelta(seconds=second))
            engine.process([_order(n, start + timedelta(seconds=second))])
            if n == 2:
                assert [(a.status, a.fired_at) for a in recorder.changes] == [
                    ("firing", start + timedelta(seconds=1))
                ]
        clock.set(start + timedelta(seconds=59))
        engine.tick()
    assert [a.status for a in recorder.changes] == ["firing"]
    (alert,) = engine.active_alerts()
    assert alert.values["refires"] == 3
    clock.set(T0 + timedelta(minutes=9, seconds=59))
    engine.tick()
    assert [a.status for a in recorder.changes] == ["firing"]
    clock.set(T0 + timedelta(minutes=11, seconds=1))
    engine.tick()
    assert [a.status for a in recorder.changes] == ["firing", "resolved"]
    assert recorder.changes[-1].values["refires"] == 3
    assert len({a.id for a in recorder.changes}) == 1


def test_quiet_groups_are_forgotten_after_their_alerts_resolve() -> None:
    """A group with no event left in its windows is dropped on a tick once nothing fires for it."""
    clock = ManualClock(T0)
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1m")
    rule = Rule(name="busy", metric="orders", op=">=", value=1, resolve_after="0s")
    engine = AlertingEngine([metric], [rule], clock=clock)
    engine.process([_order(1, T0)])
    clock.advance(timedelta(minutes=5))
    engine.tick()
    assert engine.book.active == {}
    engine.tick()
    assert not engine.kpis.groups("orders")


def test_a_batch_that_changes_an_alert_asks_for_its_checkpoint() -> None:
    """The runner holds checkpoints back, except after a batch that fired or resolved an
    alert: `checkpoint_due` tells it so, and only then."""
    clock = ManualClock(T0)
    rule = Rule(name="busy", metric="orders", op=">=", value=2)
    engine = AlertingEngine([ORDERS], [rule], clock=clock)
    engine.process([_order(1, T0)])
    assert not engine.checkpoint_due
    engine.process([_order(2, T0 + timedelta(seconds=1))])
    assert engine.checkpoint_due


def _amount(n: int, at: datetime, amount: float, shop: str = "s1") -> Event:
    return Event(
        message_id=f"a{n}",
        type="track",
        source="web",
        event="Order Completed",
        timestamp=at,
        received_at=at,
        properties={"amount": amount, "shop": shop},
        offset=n,
    )


def test_a_pending_alert_fires_on_a_tick_once_its_for_is_over() -> None:
    """No event and no window moving: the tick still fires the alert its `for` held back."""
    clock = ManualClock(T0)
    recorder = Recorder()
    rule = Rule(name="busy", metric="orders", op=">=", value=1, for_="30s")
    engine = AlertingEngine([ORDERS], [rule], clock=clock, listeners=[recorder])
    engine.process([_order(1, T0)])
    assert [a.status for a in recorder.changes] == ["pending"]
    clock.advance(timedelta(seconds=20))
    engine.tick()
    assert [a.status for a in recorder.changes] == ["pending"]
    clock.advance(timedelta(seconds=11))
    engine.tick()
    assert [a.status for a in recorder.changes] == ["pending", "firing"]


def test_an_alert_holding_again_within_its_cooldown_reopens() -> None:
    """Issue 15: a condition that holds again during the cooldown reopens the alert it
    resolved (the same incident) at once, not a new alert after the cooldown."""
    clock = ManualClock(T0)
    recorder = Recorder()
    sales = Metric(
        name="sales", kind="sum", value="properties.amount", where={"event": "Order Completed"},
        window="1h",
    )  # fmt: skip
    rule = Rule(name="big", metric="sales", op=">=", value=5, cooldown="1m", resolve_after="0s")
    engine = AlertingEngine([sales], [rule], clock=clock, listeners=[recorder])
    engine.process([_amount(1, T0, 5)])
    engine.process([_amount(2, T0 + timedelta(seconds=1), -5)])
    clock.advance(timedelta(seconds=2))
    engine.process([_amount(3, T0 + timedelta(seconds=2), 5)])
    assert [a.status for a in recorder.changes] == ["firing", "resolved", "firing"]
    assert len({a.id for a in recorder.changes}) == 1


class LookingAtEverything(AlertingEngine):
    """The reference: each tick evaluates every rule on every group at once, in the rules'
    order, then forgets quiet groups (what the engine did before it looked only where time
    can change an outcome)."""

    def tick(self) -> list[Alert]:
        with self._lock:
            event_now = self.event_now_us(to_us(self.clock.now()))
            if event_now is not None:
                self.kpis.advance(event_now)
            changed = self._evaluate(
                {r.metric: set(self.kpis.groups(r.metric)) for r in self.rules if r.metric}
            )
            self.kpis.evict_idle(self.alerting_groups())
            return changed


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 200),  # seconds before the step
            st.sampled_from(["tick", "s1", "s2", "s3"]),
            st.floats(-6, 6, allow_nan=False).map(lambda x: round(x, 1)),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_ticks_give_the_alerts_of_looking_at_every_group(
    steps: list[tuple[int, str, float]],
) -> None:
    """A tick evaluates only the groups whose window moved or whose alert waits, a slice of
    groups at a time: on random streams (several groups, sliding windows, `for`, cooldowns,
    relative changes, a composite rule) it raises the same alerts, at the same moments, as
    evaluating every group at once on every tick."""
    metrics = [
        Metric(
            name="sales", kind="sum", value="properties.amount", by=["shop"],
            where={"event": "Order Completed"}, window="2m", slide="30s",
        ),
        Metric(name="orders", kind="count", by=["shop"], where={"event": "Order Completed"},
               window="1m"),
    ]  # fmt: skip
    rules = [
        Rule(name="big", metric="sales", op=">=", value=4, cooldown="45s"),
        Rule(name="busy", metric="orders", op=">=", value=2, for_="40s"),
        Rule(name="drop", kind="change", metric="sales", drop=0.5),
        Rule(name="both", kind="all", rules=["big", "busy"], for_="50s"),
        Rule(name="either", kind="any", rules=["busy", "drop"], cooldown="70s"),
    ]
    engines = []
    for kind, tick_slice in ((AlertingEngine, 1), (LookingAtEverything, 1_000)):
        recorder = Recorder()
        clock = ManualClock(T0)
        engine = kind(metrics, rules, clock=clock, listeners=[recorder])
        engine.tick_slice = tick_slice  # one group at a time, against all at once
        engines.append((engine, clock, recorder))
    for n, (wait, what, amount) in enumerate(steps, start=1):
        for engine, clock, _ in engines:
            clock.advance(timedelta(seconds=wait))
            if what == "tick":
                engine.tick()
            else:
                engine.process([_amount(n, clock.now(), amount, shop=what)])
    seen = [  # the order of a tick's changes is no promise: what and when is
        sorted(
            (a.updated_at, a.rule, a.labels.get("shop") or "", a.status) for a in recorder.changes
        )
        for _, _, recorder in engines
    ]
    assert seen[0] == seen[1]


def test_a_composite_waits_for_its_parts_on_a_tick() -> None:
    """A composite rule whose `for` runs out on the tick that moves its part's window away
    does not fire: the part is evaluated first."""
    clock = ManualClock(T0)
    recorder = Recorder()
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1m")
    rules = [
        Rule(name="busy", metric="orders", op=">=", value=1),
        Rule(name="confirmed", kind="all", rules=["busy"], for_="60s"),
    ]
    engine = AlertingEngine([metric], rules, clock=clock, listeners=[recorder])
    engine.process([_order(1, T0)])
    for seconds in (30, 61):
        clock.set(T0 + timedelta(seconds=seconds))
        engine.tick()
    assert [(a.rule, a.status) for a in recorder.changes if a.rule == "confirmed"] == [
        ("confirmed", "pending"),
        ("confirmed", "resolved"),
    ]


def test_a_restored_pending_alert_fires_once_its_for_is_over(tmp_path: Path) -> None:
    """After a restart, the first tick looks at every group: an alert pending before it fires
    when its `for` is over, though no event came and no window moved."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    log = SqlEventLog(engine)
    store = AlertStore(engine)
    rules = [Rule(name="busy", metric="orders", op=">=", value=1, for_="30s")]
    log.append([_order(1, T0)])
    clock = ManualClock(T0)
    before = AlertingEngine([ORDERS], rules, clock=clock, store=store)
    before.process(log.read(1, 10))
    log.save_checkpoint(before.name, 2)
    assert [a.status for a in store.active()] == ["pending"]
    clock.set(T0 + timedelta(seconds=10))
    recorder = Recorder()
    after = AlertingEngine([ORDERS], rules, clock=clock, store=store, listeners=[recorder])
    after.restore(log, lookback_us=3_600_000_000)
    for seconds in (20, 31):
        clock.set(T0 + timedelta(seconds=seconds))
        after.tick()
    assert [(a.status, a.fired_at) for a in recorder.changes] == [
        ("firing", T0 + timedelta(seconds=31))
    ]
    engine.dispose()


def test_forgotten_groups_leave_nothing_behind_in_the_rules() -> None:
    """A group forgotten once quiet is forgotten by its rules too, and so is its alert once
    resolved: ticks do not look at it for ever."""
    clock = ManualClock(T0)
    metric = Metric(
        name="sales", kind="sum", value="properties.amount", by=["shop"],
        where={"event": "Order Completed"}, window="1m",
    )  # fmt: skip
    rule = Rule(name="low", metric="sales", op=">=", value=5, cooldown="1h", resolve_after="0s")
    engine = AlertingEngine([metric], [rule], clock=clock)
    for n in range(0, 150, 3):
        shop = f"s{n}"
        engine.process([_amount(n + 1, T0, 5.0, shop=shop)])  # fires
        engine.process([_amount(n + 2, T0, -5.0, shop=shop)])  # resolves, cooldown
    assert engine.book.active == {}
    assert len(engine.book.reopenable) == 50
    clock.advance(timedelta(hours=2))
    engine.tick()
    assert not engine.kpis.groups("sales")
    assert engine.holding["low"] == {}
    assert engine.book.reopenable == {}


def test_a_threshold_with_clear_value_holds_until_back_past_it() -> None:
    """Hysteresis on the value: `>= 3` with `clear_value: 2` fires at 3 orders a minute,
    stays one firing alert through minutes of 2 (it would resolve without `clear_value`),
    and resolves only once the count falls to 1, after the usual three quiet windows."""
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1m")
    counts = [3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1]

    def run(rule: Rule) -> list[tuple[str, datetime | None]]:
        clock = ManualClock(T0)
        recorder = Recorder()
        engine = AlertingEngine([metric], [rule], clock=clock, listeners=[recorder])
        n = 0
        for minute, count in enumerate(counts):
            start = T0 + timedelta(minutes=minute)
            for second in range(count):
                n += 1
                clock.set(start + timedelta(seconds=second))
                engine.process([_order(n, start + timedelta(seconds=second))])
            clock.set(start + timedelta(seconds=59))
            engine.tick()
        return [(a.status, a.ends_at) for a in recorder.changes]

    held = run(Rule(name="busy", metric="orders", op=">=", value=3, clear_value=2))
    assert [status for status, _ in held] == ["firing", "resolved"]
    resolved_at = held[-1][1]
    assert resolved_at is not None and resolved_at >= T0 + timedelta(minutes=9)
    plain = run(Rule(name="busy", metric="orders", op=">=", value=3))
    assert [status for status, _ in plain] == ["firing", "resolved"]
    assert plain[-1][1] is not None and plain[-1][1] < T0 + timedelta(minutes=6)


SPRING = datetime(2026, 3, 29, 1, tzinfo=UTC)  # 02:00 in Paris becomes 03:00: the last Sunday
PARIS = ZoneInfo("Europe/Paris")


def _paris_shop_orders(days_before: int = 8, step: int = 10) -> list[Event]:
    """Hourly orders of a shop open 09:00-19:00 in Paris, the same every day: `step` orders
    in its first hour, twice as many in its second ... ten times as many in its last, evenly
    spread, from `days_before` days before the spring change of time to the end of that
    Sunday."""
    events: list[Event] = []
    start = datetime(2026, 3, 29, tzinfo=PARIS) - timedelta(days=days_before)
    for day in range(days_before + 1):
        for hour in range(9, 19):
            opens = datetime.combine(
                (start + timedelta(days=day)).date(), time(hour), tzinfo=PARIS
            ).astimezone(UTC)
            per_hour = step * (hour - 8)
            for k in range(per_hour):
                at = opens + timedelta(seconds=(k + 0.5) * 3600 / per_hour)
                events.append(_order(len(events) + 1, at))
    return events


@pytest.mark.parametrize(
    ("rule_zone", "site_zone", "fires"),
    [
        ("Europe/Paris", "UTC", False),
        (None, "Europe/Paris", False),
        (None, "UTC", True),
        ("UTC", "Europe/Paris", True),
    ],
    ids=["rule-in-paris", "site-in-paris", "utc", "rule-in-utc-in-a-paris-site"],
)
def test_same_slot_follows_the_shops_wall_clock_across_a_change_of_time(
    rule_zone: str | None, site_zone: str, fires: bool
) -> None:
    """Issue 15: a Paris shop's orders compared with the same hour of the previous days do
    not rise when the clocks go forward (its 10:00 is compared with its 10:00), in the
    rule's or the site's zone; in UTC the shop's hours shift by one and a rise fires."""
    rule = Rule(
        name="rise",
        kind="change",
        metric="orders",
        compare="same_slot",
        rise=0.5,
        timezone=rule_zone,
    )
    changes = replay([ORDERS], [rule], _paris_shop_orders(), tick="10m", timezone=site_zone)
    fired = [a for a in changes if a.status == "firing"]
    if fires:
        assert fired and min(a.starts_at for a in fired) >= SPRING
    else:
        assert fired == []


def _orders_per_hour(per_hour: Callable[[int, int], int], days: int) -> list[Event]:
    """`per_hour(day, hour)` orders in each hour of `days` days from T0's midnight, evenly
    spread."""
    events: list[Event] = []
    start = T0.replace(hour=0)
    for day in range(days):
        for hour in range(24):
            n = per_hour(day, hour)
            opens = start + timedelta(days=day, hours=hour)
            for k in range(n):
                events.append(
                    _order(len(events) + 1, opens + timedelta(seconds=(k + 0.5) * 3600 / n))
                )
    return events


def _live(rules: list[Rule], events: list[Event], timezone: str = "UTC") -> list[Alert]:
    """The alert changes of the live engine fed `events` ten minutes at a time and ticked
    in between, as a server would."""
    step = timedelta(minutes=10)
    moment = events[0].received_at.replace(minute=0, second=0, microsecond=0)
    clock = ManualClock(moment)
    recorder = Recorder()
    engine = AlertingEngine([ORDERS], rules, clock=clock, listeners=[recorder], timezone=timezone)
    _feed(engine, clock, events, moment, events[-1].received_at + timedelta(microseconds=1), step)
    return recorder.changes


def _feed(
    engine: AlertingEngine,
    clock: ManualClock,
    events: list[Event],
    moment: datetime,
    until: datetime,
    step: timedelta = timedelta(minutes=1),
    position: int = 0,
) -> None:
    """Tick `engine` every `step` from `moment` until `until`, handing it at each tick the
    events from `position` on received before it, as a server would."""
    while moment < until:
        moment += step
        clock.set(moment)
        engine.tick()
        batch = []
        while position < len(events) and events[position].received_at < moment:
            batch.append(events[position])
            position += 1
        if batch:
            engine.process(batch)


def _fired(changes: list[Alert], rule: str) -> list[Alert]:
    return [a for a in changes if a.status == "firing" and a.rule == rule]


def _strike_yesterday(day: int, hour: int) -> int:
    """Ten orders an hour every day but the seventh, a strike day with three an hour."""
    return 3 if day == 6 else 10


SEVEN_DAYS = Rule(
    name="rise", kind="change", metric="orders", compare="same_slot", days=7, rise=0.5
)
ODD_DAILY = Rule(name="odd", kind="anomaly", metric="orders", seasonality="daily")
ODD_WEEKLY = Rule(name="odd", kind="anomaly", metric="orders", seasonality="weekly")


@pytest.mark.parametrize("way", ["live", "backtest"])
@pytest.mark.parametrize(
    "rules",
    [
        [SEVEN_DAYS],
        [SEVEN_DAYS, ODD_DAILY],
        [ODD_DAILY, SEVEN_DAYS],
    ],
    ids=["alone", "then-anomaly", "after-anomaly"],
)
def test_an_anomaly_rule_does_not_shorten_a_same_slot_rules_days(
    rules: list[Rule], way: str
) -> None:
    """Issue 15: a change rule comparing with the mean of the same hour over seven days does
    not see a rise the day after a one-day strike (10 orders an hour against a mean of 9),
    whether or not an anomaly rule watches the same metric (the rules shared one day of
    history, the anomaly rule's: 10 against the strike's 3 fired)."""
    events = _orders_per_hour(_strike_yesterday, days=8)
    changes = _live(rules, events) if way == "live" else replay([ORDERS], rules, events, tick="10m")
    assert _fired(changes, "rise") == []


@pytest.mark.parametrize("way", ["live", "backtest"])
@pytest.mark.parametrize(
    "rules",
    [[SEVEN_DAYS, ODD_WEEKLY], [ODD_WEEKLY, SEVEN_DAYS], [ODD_DAILY, SEVEN_DAYS]],
    ids=["then-weekly-anomaly", "after-weekly-anomaly", "after-daily-anomaly"],
)
def test_a_same_slot_rule_rises_on_previous_days_beside_an_anomaly_rule(
    rules: list[Rule], way: str
) -> None:
    """Issue 15: beside an anomaly rule learning a weekly (or daily) cycle, a change rule over
    the previous days fires when the fourth day's noon doubles the orders of the three noons
    before (its history was filed by the hour of the week, and had no previous noon yet)."""
    events = _orders_per_hour(lambda day, hour: 20 if day == 3 and hour == 12 else 10, days=4)
    changes = _live(rules, events) if way == "live" else replay([ORDERS], rules, events, tick="10m")
    fired = _fired(changes, "rise")
    assert len(fired) == 1 and fired[0].fired_at is not None
    assert T0 + timedelta(days=3) <= fired[0].fired_at < T0 + timedelta(days=3, hours=1)
    assert fired[0].values["reference"] == 10


@pytest.mark.parametrize("way", ["live", "backtest"])
@pytest.mark.parametrize("paris_first", [True, False], ids=["paris-first", "utc-first"])
def test_same_slot_rules_in_two_zones_each_follow_their_own_clock(
    paris_first: bool, way: str
) -> None:
    """Issue 15: on one metric, a change rule in the shop's zone (the site's) stays quiet
    when the clocks go forward, while one in UTC, where the shop's hours shift, fires: each
    compares with the same hour on its own clock, whichever rule comes first."""
    in_paris = Rule(name="paris", kind="change", metric="orders", compare="same_slot", rise=0.5)
    in_utc = msgspec.structs.replace(in_paris, name="utc", timezone="UTC")
    rules = [in_paris, in_utc] if paris_first else [in_utc, in_paris]
    events = _paris_shop_orders()
    if way == "live":
        changes = _live(rules, events, timezone="Europe/Paris")
    else:
        changes = replay([ORDERS], rules, events, tick="10m", timezone="Europe/Paris")
    assert _fired(changes, "paris") == []
    fired = _fired(changes, "utc")
    assert fired and min(a.starts_at for a in fired) >= SPRING


def test_an_anomaly_rule_keeps_its_metrics_groups_without_a_baseline() -> None:
    """An anomaly rule's metric keeps its quiet groups (its detectors go on learning them)
    but files no history of its own; a same_slot change rule's history is its days deep."""
    anomaly = Rule(name="odd", kind="anomaly", metric="orders", seasonality="weekly")
    change = Rule(name="rise", kind="change", metric="orders", compare="same_slot", days=5)
    assert baselines_needed([anomaly]) == {"orders": []}
    assert baselines_needed([anomaly, change], "Europe/Paris") == {
        "orders": [("daily", 5, "Europe/Paris")]
    }


def test_a_live_change_keeps_within_the_same_slot_history_learned() -> None:
    """Issue 15: a same_slot rule's new version may change its rise or read fewer days live,
    but not more days or another time zone than the history learned since the start (it
    would compare with nothing, or with another clock): that is refused, naming the rule."""
    engine = AlertingEngine([ORDERS], [SEVEN_DAYS], clock=ManualClock(T0))
    engine.replace_rule(msgspec.structs.replace(SEVEN_DAYS, rise=0.8, days=3))
    assert engine.rules[0].days == 3
    for moved in (
        msgspec.structs.replace(SEVEN_DAYS, days=14),
        msgspec.structs.replace(SEVEN_DAYS, timezone="Europe/Paris"),
    ):
        with pytest.raises(ValueError, match=r"'rise'.*same_slot"):
            engine.replace_rule(moved)
    assert engine.rules[0].days == 3


def _story(changes: list[Alert], rule: str) -> list[tuple[str, datetime, datetime | None]]:
    return [(a.status, a.starts_at, a.fired_at) for a in changes if a.rule == rule]


def test_rules_on_one_metric_fire_together_as_each_fires_alone() -> None:
    """Issue 15: same_slot, anomaly, sequential and rate-aware absence rules on one Paris
    shop's orders, on the site's clock or in UTC, over various days and cycles, raise
    together (in either order) exactly the alerts each raises alone: none borrows another's
    history, time zone or cycles."""
    where = {"event": "Order Completed"}
    rules = [
        Rule(name="rise", kind="change", metric="orders", compare="same_slot", rise=0.5),
        Rule(
            name="rise-utc-3d",
            kind="change",
            metric="orders",
            compare="same_slot",
            rise=0.5,
            days=3,
            timezone="UTC",
        ),
        Rule(name="odd", kind="anomaly", metric="orders", seasonality="daily"),
        Rule(
            name="odd-utc-weekly",
            kind="anomaly",
            metric="orders",
            seasonality="weekly",
            timezone="UTC",
        ),
        Rule(name="rate", kind="sequential", where=where, expected_rate=0.005),
        Rule(
            name="rate-utc",
            kind="sequential",
            where=where,
            expected_rate=0.005,
            timezone="UTC",
        ),
        Rule(
            name="quiet-utc",
            kind="absence",
            where=where,
            expected_rate=0.005,
            silence="3h",
            timezone="UTC",
        ),
    ]
    events = _paris_shop_orders(days_before=5, step=2)

    def run(chosen: list[Rule]) -> list[Alert]:
        return replay([ORDERS], chosen, events, tick="30m", timezone="Europe/Paris")

    together, reversed_ = run(rules), run(rules[::-1])
    for rule in rules:
        alone = _story(run([rule]), rule.name)
        assert _story(together, rule.name) == alone == _story(reversed_, rule.name), rule.name
    assert _story(together, "rise") == [] and _story(together, "rise-utc-3d")


def _steady_orders(
    hours: int,
    *,
    per_hour: float = 120,
    seed: int = 15,
    pace: Callable[[datetime], float] | None = None,
    poisson: bool = False,
) -> list[Event]:
    """Orders at a steady `per_hour` an hour (or `pace(moment)`, 0: none) for `hours` hours
    from T0's midnight: evenly spread, each a little early or late at random, or with
    `poisson` at random times (a Poisson process)."""
    rng = random.Random(seed)
    events: list[Event] = []
    moment = start = T0.replace(hour=0)
    end = start + timedelta(hours=hours)
    while moment < end:
        rate = per_hour if pace is None else pace(moment)
        if rate <= 0:
            moment += timedelta(minutes=1)
            continue
        gap = 3600 / rate
        moment += timedelta(seconds=rng.expovariate(1 / gap) if poisson else gap)
        at = moment if poisson else moment + timedelta(seconds=rng.uniform(-0.4, 0.4) * gap)
        if moment < end:
            events.append(_order(len(events) + 1, at))
    return events


def _by_minute(rules: list[Rule], events: list[Event]) -> list[Alert]:
    """The alert changes of a live engine ticked every minute, each minute's orders handed
    over at its end, as a server would."""
    moment = events[0].received_at.replace(second=0, microsecond=0)
    clock = ManualClock(moment)
    recorder = Recorder()
    engine = AlertingEngine([ORDERS], rules, clock=clock, listeners=[recorder])
    _feed(engine, clock, events, moment, events[-1].received_at + timedelta(minutes=1))
    return recorder.changes


HOURLY_DROP = Rule(name="fall", kind="change", metric="orders", drop=0.3)
USUAL_HOUR = Rule(
    name="fall", kind="change", metric="orders", compare="same_slot", days=2, drop=0.3
)
HOURLY_RISE = Rule(name="surge", kind="change", metric="orders", rise=0.5)
USUAL_RISE = msgspec.structs.replace(USUAL_HOUR, name="surge", drop=None, rise=0.5)
BREAK = T0.replace(hour=10, minute=20) + timedelta(days=2)  # orders stop for two hours
HOURS = 64  # hours of orders: two days, then the morning of the break


@pytest.mark.parametrize("way", ["live", "backtest"])
@pytest.mark.parametrize("compare", ["previous", "same_slot"])
def test_a_steady_hourly_count_raises_nothing_while_each_hour_fills(compare: str, way: str) -> None:
    """Issue 15: 120 orders an hour for three days against change rules on the hourly count
    (`drop: 0.3`, `rise: 0.5`) raise no alert: ten minutes into an hour the count is a sixth
    of the last hour's, which fired a drop at the start of every hour (and held it for
    ever); a filling hour is judged on what it is on course for."""
    rules = [HOURLY_DROP, HOURLY_RISE] if compare == "previous" else [USUAL_HOUR, USUAL_RISE]
    events = _steady_orders(72)
    changes = (
        _by_minute(rules, events) if way == "live" else replay([ORDERS], rules, events, tick="1m")
    )
    assert changes == []


def test_random_arrivals_early_in_an_hour_fire_nothing() -> None:
    """Issue 15: 300 orders an hour at random times (a Poisson process) for two days fire
    no drop and no rise: a few orders more or less early in an hour are a large share of
    what has come, not of the allowance a whole hour has."""
    events = _steady_orders(48, per_hour=300, poisson=True)
    assert replay([ORDERS], [HOURLY_DROP, HOURLY_RISE], events, tick="1m") == []


def _orders_stop(moment: datetime) -> float:
    return 0 if BREAK <= moment < BREAK + timedelta(hours=2) else 120


@pytest.mark.parametrize("rule", [HOURLY_DROP, USUAL_HOUR], ids=["previous", "same_slot"])
def test_orders_that_stop_fire_a_drop_before_their_hour_ends(rule: Rule) -> None:
    """Issue 15: orders that stop at 10:20 fire the drop within that hour, once the count so
    far (about 40) plus the rest of the hour at the usual pace is 30 % short (about 10:38,
    with no event to trigger it), the same live and in a backtest; the alert stays one
    incident through the next hour's start while orders stay stopped (resolving at once
    when it stops holding), and resolves only after they come back at 12:20."""
    events = _steady_orders(HOURS, pace=_orders_stop)
    rule = msgspec.structs.replace(rule, resolve_after="0s")
    live, backtest = _by_minute([rule], events), replay([ORDERS], [rule], events, tick="1m")
    for changes in (live, backtest):
        assert [a.status for a in changes] == ["firing", "resolved"]
        fired_at, resolved_at = changes[0].fired_at, changes[1].ends_at
        assert fired_at is not None and resolved_at is not None
        assert BREAK + timedelta(minutes=12) <= fired_at <= BREAK + timedelta(minutes=25)
        assert resolved_at > BREAK + timedelta(hours=2)
        values = changes[0].values
        assert values["change"] <= -0.3 and 0 < values["elapsed"] < 1
        assert values["projected"] == pytest.approx(
            values["value"] + (1 - values["elapsed"]) * values["reference"]
        )
    assert abs(live[0].fired_at - backtest[0].fired_at) <= timedelta(minutes=1)  # type: ignore[operator]


def _orders_surge(moment: datetime) -> float:
    return 360 if BREAK <= moment < BREAK + timedelta(hours=1) else 120


@pytest.mark.parametrize("rule", [HOURLY_RISE, USUAL_RISE], ids=["previous", "same_slot"])
def test_a_surge_fires_a_rise_within_its_hour(rule: Rule) -> None:
    """Issue 15: orders tripling at 10:20 fire the rise within that hour (the count so far
    plus the rest at the usual pace 50 % above the reference: about 10:35), the same live
    and in a backtest, and raise nothing else."""
    events = _steady_orders(HOURS, pace=_orders_surge)
    live, backtest = _by_minute([rule], events), replay([ORDERS], [rule], events, tick="1m")
    for changes in (live, backtest):
        fired = [a for a in changes if a.status == "firing"]
        assert len(fired) == 1 and fired[0].fired_at is not None
        assert BREAK + timedelta(minutes=5) <= fired[0].fired_at < BREAK + timedelta(minutes=40)
        assert fired[0].values["change"] >= 0.5
    assert abs(live[0].fired_at - backtest[0].fired_at) <= timedelta(minutes=1)  # type: ignore[operator]


def test_min_events_still_holds_back_a_window_judged_on_too_little() -> None:
    """A rule asking for 50 events in the window before judging it does not judge the hour
    whose orders stopped at 10:20 (about 40): `min_events` keeps its meaning."""
    events = _steady_orders(HOURS, pace=_orders_stop)
    rule = msgspec.structs.replace(HOURLY_DROP, min_events=50)
    assert [a for a in replay([ORDERS], [rule], events, tick="1m") if a.status == "firing"] == []


def test_a_filling_hours_alert_says_how_far_it_is_and_what_it_is_on_course_for() -> None:
    """The summary of a drop fired in a filling hour names the count so far, the part of
    the hour gone by and what the hour is on course for, in English and in French."""
    events = _steady_orders(HOURS, pace=_orders_stop)
    fired = [a for a in replay([ORDERS], [HOURLY_DROP], events, tick="1m") if a.status == "firing"]
    assert "of its window (on course for" in fired[0].annotations["summary_en"]
    assert "de sa fenêtre (en route vers" in fired[0].annotations["summary_fr"]


FLOOR = Rule(name="few", kind="threshold", metric="orders", op="<", value=60, resolve_after="0s")


@pytest.mark.parametrize("way", ["live", "backtest"])
def test_a_steady_hourly_count_fires_no_floor_as_each_hour_opens(way: str) -> None:
    """Issue 15: 120 orders an hour for three days against `orders < 60` raise no alert:
    a few minutes into each hour the count is still below 60, which fired (and resolved
    half an hour later) every hour; a filling hour is judged once it can no longer fall
    below, or on the last closed hour."""
    events = _steady_orders(72)
    live = way == "live"
    changes = _by_minute([FLOOR], events) if live else replay([ORDERS], [FLOOR], events, tick="1m")
    assert changes == []


def test_a_floor_does_not_judge_an_hour_watched_only_in_part() -> None:
    """Orders seen from 00:40 only (40 in their first hour, 120 an hour after) raise no
    `orders < 60`: the first hour was not watched whole, so its count says nothing."""
    events = [e for e in _steady_orders(6) if e.timestamp >= T0.replace(hour=0, minute=40)]
    assert replay([ORDERS], [FLOOR], events, tick="1m") == []


@pytest.mark.parametrize("way", ["live", "backtest"])
def test_orders_that_stop_fire_a_floor_as_their_hour_closes(way: str) -> None:
    """Issue 15: orders that stop from 10:20 to 12:20 fire `orders < 60` as the 10:00 hour
    closes on about 40 (with no event to trigger it), name that hour, hold through the
    empty hour and resolve once the 12:00 hour has reached 60 again (about 12:50)."""
    events = _steady_orders(HOURS, pace=_orders_stop)
    live = way == "live"
    changes = _by_minute([FLOOR], events) if live else replay([ORDERS], [FLOOR], events, tick="1m")
    assert [a.status for a in changes] == ["firing", "resolved"]
    hour = BREAK.replace(minute=0)
    fired_at, resolved_at = changes[0].fired_at, changes[1].ends_at
    assert fired_at is not None and resolved_at is not None
    assert hour + timedelta(hours=1) <= fired_at <= hour + timedelta(hours=1, minutes=2)
    assert hour + timedelta(hours=2, minutes=45) <= resolved_at < hour + timedelta(hours=3)
    assert 35 <= changes[0].values["value"] <= 45
    assert changes[0].values["window"] == {
        "start": hour.isoformat(),
        "end": (hour + timedelta(hours=1)).isoformat(),
    }


def test_a_floor_judges_the_hour_rebuilt_after_a_restart(tmp_path: Path) -> None:
    """Issue 15: a server restarted at 10:30, its hourly windows rebuilt from the log over
    the two-hour lookback, fires `orders < 60` as the 10:00 hour (watched whole, orders
    stopped at 10:20) closes, as it would have without the restart: the replay counted that
    hour's orders from 10:00 on, one batch of the log though it was."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    log = SqlEventLog(engine)
    events = _steady_orders(HOURS, pace=_orders_stop)
    restart = BREAK + timedelta(minutes=10)
    before = [e for e in events if e.received_at < restart]
    log.append(before)
    moment = restart
    clock = ManualClock(moment)
    recorder = Recorder()
    after = AlertingEngine([ORDERS], [FLOOR], clock=clock, listeners=[recorder])
    log.save_checkpoint(after.name, len(before) + 1)
    after.restore(log, lookback_us=2 * 3_600_000_000)
    _feed(after, clock, events, moment, BREAK + timedelta(hours=3), position=len(before))
    fired = [a for a in recorder.changes if a.status == "firing"]
    hour = BREAK.replace(minute=0)
    assert fired and fired[0].fired_at is not None
    assert hour + timedelta(hours=1) <= fired[0].fired_at <= hour + timedelta(hours=1, minutes=2)
    assert fired[0].values["window"]["start"] == hour.isoformat()
    engine.dispose()


def test_a_floor_judges_each_shop_from_its_first_order_after_a_restart(tmp_path: Path) -> None:
    """Issue 15: after a restart at 11:30, with the log's last four hours replayed in one
    batch, a shop whose first order came at 10:40 (20 an hour) is judged on its 11:00 hour
    (fires `< 60` at 12:00), not on the 10:00 hour it was watched for a third of; a shop
    selling 120 an hour since the morning fires nothing."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    log = SqlEventLog(engine)
    day = T0.replace(hour=6, minute=0)
    events = []
    for shop, first, per_hour in (("busy", day, 120), ("new", day.replace(hour=10, minute=40), 20)):
        moment = first
        while moment < day.replace(hour=14):
            events.append((moment, shop))
            moment += timedelta(seconds=3600 / per_hour)
    events.sort()
    orders = [_amount(n + 1, at, 1.0, shop=shop) for n, (at, shop) in enumerate(events)]
    metric = msgspec.structs.replace(ORDERS, by=["shop"])
    restart = day.replace(hour=11, minute=30)
    before = [e for e in orders if e.received_at < restart]
    log.append(before)
    clock = ManualClock(restart)
    recorder = Recorder()
    after = AlertingEngine([metric], [FLOOR], clock=clock, listeners=[recorder])
    log.save_checkpoint(after.name, len(before) + 1)
    after.restore(log, lookback_us=4 * 3_600_000_000)
    _feed(after, clock, orders, restart, day.replace(hour=13, minute=30), position=len(before))
    fired = [a for a in recorder.changes if a.status == "firing"]
    assert [a.labels.get("shop") for a in fired] == ["new"]
    assert fired[0].fired_at is not None
    noon = day.replace(hour=12)
    assert noon <= fired[0].fired_at <= noon + timedelta(minutes=2)
    assert fired[0].values["window"]["start"] == day.replace(hour=11).isoformat()
    engine.dispose()
