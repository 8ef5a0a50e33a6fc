"""Sequential rules: a break is flagged as soon as it is improbable at the declared
false-alarm rate, during silence too, with its evidence; and normal traffic stays quiet."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.conftest import make_settings
from vigie.clock import ManualClock
from vigie.config import ConfigError, parse_config
from vigie.events import Event
from vigie.kpi.durations import parse_rate
from vigie.kpi.profiles import RateProfile
from vigie.log.eventlog import AppendJob
from vigie.rules.backtest import Recorder, replay
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.sequential import (
    ConversionTest,
    Design,
    DropScan,
    RateTest,
    SequentialTracker,
    detection_table,
    rate_test,
    scan_drops,
)
from vigie.system import build_system
from vigie.types import to_us

START = 1_767_225_600.0
MONTH_S = 30 * 86_400.0


def _rule(**fields: object) -> Rule:
    base: dict[str, object] = {
        "name": "orders",
        "kind": "sequential",
        "where": {"event": "Order Completed"},
        "direction": "down",
    }
    return Rule(**{**base, **fields})  # type: ignore[arg-type]


def _poisson(rng: np.random.Generator, rate: float, start: float, end: float) -> np.ndarray:
    """Event times of a stationary Poisson process, drawn independently of the code tested."""
    n = rng.poisson(rate * (end - start))
    return np.sort(rng.uniform(start, end, n))


def _alarms(test: RateTest, times: np.ndarray) -> list[float]:
    """Feed events one by one; the times at which the test went from normal to alarmed."""
    fired: list[float] = []
    was = False
    for t in times:
        test.observe(float(t))
        now = test.alarm is not None
        if now and not was:
            fired.append(test.alarm.fired_s)  # type: ignore[union-attr]
        was = now
    return fired


def test_rates_read_as_written() -> None:
    """`1/month` is one per 30 days; `2/week`, `1/30d` and `3/hours` read as they say."""
    assert parse_rate("1/month") == pytest.approx(1 / MONTH_S)
    assert parse_rate("2/week") == pytest.approx(2 / (7 * 86_400))
    assert parse_rate("1/30d") == pytest.approx(1 / MONTH_S)
    assert parse_rate("3/hours") == pytest.approx(3 / 3600)
    for bad in ("often", "1/fortnight", "0/month", "-1/day"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_false_alarms_stay_within_the_declared_rate_on_steady_traffic() -> None:
    """On a steady Poisson stream (seeded, 1 event/s for 60,000 s) a rule declaring one false
    alarm per 10 minutes raises at most that many, and is not mute either (at least a quarter)."""
    rng = np.random.default_rng(26)
    test = rate_test(_rule(expected_rate=1.0, false_alarms="1/10m"))
    times = _poisson(rng, 1.0, START, START + 60_000)
    declared = 60_000 / 600
    fired = _alarms(test, times)
    assert declared / 4 <= len(fired) <= declared


def test_a_drop_to_zero_fires_during_the_silence_on_the_tick() -> None:
    """At 20 events/s and one false alarm a month, ticks during the silence fire within about
    log(2 x events per month) / 20 s of the last event (under 2 s), with the evidence."""
    rng = np.random.default_rng(1)
    test = rate_test(_rule(expected_rate=20.0))
    times = _poisson(rng, 20.0, START, START + 60)
    assert _alarms(test, times) == []
    last = float(times[-1])
    tick = last
    while test.alarm is None and tick < last + 30:
        tick += 0.05
        test.advance(tick)
    expected_s = math.log(2 * 20.0 * MONTH_S) / 20.0
    assert expected_s * 0.95 <= tick - last <= expected_s + 0.06
    assert tick - last < 2.0
    evidence = test.evidence()
    assert evidence["test"] == "silence"
    since = datetime.fromisoformat(evidence["since"])
    assert abs(since - datetime.fromtimestamp(last, UTC)) <= timedelta(microseconds=1)
    assert evidence["observed"] == 0
    assert evidence["p_value"] == pytest.approx(math.exp(-evidence["expected"]), rel=1e-3)
    assert evidence["p_value"] < 1e-7
    assert evidence["log10_p_value"] == pytest.approx(-evidence["expected"] / math.log(10), 1e-3)


def test_a_halved_rate_is_detected_soon_after_the_break_and_not_before() -> None:
    """A drop from 20 to 10 events/s fires after the break, within twice the table's delay."""
    rng = np.random.default_rng(2)
    rule = _rule(expected_rate=20.0)
    test = rate_test(rule)
    before = _poisson(rng, 20.0, START, START + 300)
    after = _poisson(rng, 10.0, START + 300, START + 400)
    fired = _alarms(test, np.concatenate((before, after)))
    assert fired and fired[0] > START + 300
    (row,) = detection_table(
        effect=0.5, per_false_alarm_s=MONTH_S, tests=("silence", "drop"), rates=[20.0]
    )
    assert fired[0] - (START + 300) < 2 * row.by_effect_s
    assert test.evidence()["test"] == "drop"
    assert test.evidence()["observed"] < test.evidence()["expected"]


def test_a_surge_fires_an_up_rule() -> None:
    """A rule watching for surges fires when 5 events/s become 15, naming the surge."""
    rng = np.random.default_rng(3)
    test = rate_test(_rule(expected_rate=5.0, direction="up"))
    times = np.concatenate(
        (_poisson(rng, 5.0, START, START + 600), _poisson(rng, 15.0, START + 600, START + 700))
    )
    fired = _alarms(test, times)
    assert len(fired) == 1 and START + 600 < fired[0] < START + 630
    assert test.evidence()["test"] == "surge"


def test_recovery_needs_evidence_as_strong_as_the_break() -> None:
    """After a silence alarm, the first events do not clear it; normal traffic does, soon."""
    rng = np.random.default_rng(4)
    test = rate_test(_rule(expected_rate=20.0))
    _alarms(test, _poisson(rng, 20.0, START, START + 60))
    test.advance(START + 70)
    assert test.alarm is not None
    resumed = _poisson(rng, 20.0, START + 70, START + 130)
    test.observe(float(resumed[0]))
    test.observe(float(resumed[1]))
    assert test.alarm is not None
    cleared = None
    for t in resumed[2:]:
        test.observe(float(t))
        if test.alarm is None:
            cleared = float(t)
            break
    assert cleared is not None and cleared - START - 70 < 20


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_scan_finds_the_alarm_the_live_test_raises(seed: int) -> None:
    """`scan_drops` (the bench's fast path) crosses exactly where `RateTest` first sees the
    alarm: at the crossing, or at its first evaluation point after it."""
    rng = np.random.default_rng(seed)
    rate = 5.0
    profile = RateProfile(prior=rate, prior_weight_s=1e12)
    test = RateTest(profile, 0.5, ("silence", "drop"), 600.0)
    cut = START + float(rng.uniform(200, 600))
    times = np.concatenate(
        (_poisson(rng, rate, START, cut), _poisson(rng, rate * 0.4, cut, START + 1500))
    )
    test.advance(START)
    fired = _alarms(test, times)
    design = test.current_design()
    found = scan_drops(rate * (times - START), rate * 1500, design, DropScan())
    assert found is not None and fired
    crossing = START + found[0] / rate
    assert crossing <= fired[0] + 1e-6
    later = times[times >= crossing - 1e-9]
    assert fired[0] <= (later[0] if later.size else START + 1500) + 1e-6


def test_a_conversion_drop_fires_and_steady_conversion_does_not() -> None:
    """30 % of entries convert for 20,000 entries: no alarm (one a month declared); then 10 %:
    the conversion test fires within 1,000 entries, with expected vs observed conversions."""
    rng = np.random.default_rng(5)
    test = ConversionTest(
        p0=0.3,
        prior_trials=100.0,
        effect=0.5,
        tests=("drop",),
        per_false_alarm_s=MONTH_S,
        rate=RateProfile(prior=10.0),
    )
    t = START
    for p, entries in ((0.3, 20_000), (0.1, 1_000)):
        for _ in range(entries):
            t += 0.1
            test.observe(t, converted=False)
            if rng.random() < p:
                test.observe(t, converted=True)
            if test.alarm is not None:
                break
        if p == 0.3:
            assert test.alarm is None
    assert test.alarm is not None
    evidence = test.evidence()
    assert evidence["test"] == "conversion_drop"
    assert evidence["observed"] < evidence["expected"]


def test_thresholds_follow_the_declared_rate() -> None:
    """A rarer false alarm raises every threshold; the silence one is log(events x tests)."""
    often = Design.rates(effect=0.5, tests=("silence", "drop"), events_per_false_alarm=1e4)
    rare = Design.rates(effect=0.5, tests=("silence", "drop"), events_per_false_alarm=1e8)
    assert rare.cusum_h["drop"] > often.cusum_h["drop"] > 0
    assert often.silence_u == pytest.approx(math.log(2e4))


def _events(times: list[float], name: str = "Order Completed") -> list[Event]:
    out = []
    for i, t in enumerate(times):
        at = datetime.fromtimestamp(t, UTC)
        out.append(
            Event(
                message_id=f"{name}-{t}-{i}",
                source="web",
                type="track",
                event=name,
                anonymous_id="a",
                timestamp=at,
                received_at=at,
                offset=None,
            )
        )
    return out


def test_the_alerting_engine_fires_once_on_the_tick_and_resolves_on_recovery() -> None:
    """Through the engine live: events, then silence: a tick fires one alert carrying the
    sequential evidence; more ticks keep that one alert; traffic back resolves it."""
    rng = np.random.default_rng(6)
    clock = ManualClock(datetime.fromtimestamp(START, UTC))
    recorder = Recorder()
    engine = AlertingEngine([], [_rule(expected_rate=10.0)], clock=clock, listeners=[recorder])
    times = _poisson(rng, 10.0, START, START + 30)
    for second in range(30):
        batch = [t for t in times if START + second <= t < START + second + 1]
        clock.set(datetime.fromtimestamp(START + second + 1, UTC))
        engine.process(_events(batch))
        assert engine.tick() == []
    changes = []
    for step in range(1, 60):
        clock.set(datetime.fromtimestamp(START + 30 + step * 0.25, UTC))
        changes += engine.tick()
    assert [a.status for a in changes] == ["firing"]
    alert = changes[0]
    assert alert.values["test"] == "silence" and alert.values["observed"] == 0
    assert alert.values["p_value"] < 1e-5
    assert len(engine.active_alerts()) == 1
    back = _poisson(rng, 10.0, START + 45, START + 120)
    for second in range(45, 120):
        batch = [t for t in back if START + second <= t < START + second + 1]
        clock.set(datetime.fromtimestamp(START + second + 1, UTC))
        engine.process(_events(batch))
        engine.tick()
    assert [a.status for a in recorder.changes] == ["firing", "resolved"]
    resolved = recorder.changes[1]
    assert resolved.values["recovered"]["fired_value"] == 0  # a silence: 0 per minute
    assert 300 < resolved.values["recovered"]["value"] < 900  # back near 600 per minute
    assert resolved.annotations["resolution_en"].startswith("Event rate back to")


def test_a_backtest_raises_the_alert_the_live_engine_raised() -> None:
    """`replay` (the backtest) fires the same sequential alert at the same tick as live."""
    rng = np.random.default_rng(7)
    rule = _rule(expected_rate=10.0)
    times = _poisson(rng, 10.0, START, START + 30)
    changes = replay(
        [], [rule], _events(list(times)), until=datetime.fromtimestamp(START + 40, UTC)
    )
    firing = [a for a in changes if a.status == "firing"]
    assert len(firing) == 1
    silence = (firing[0].fired_at or firing[0].starts_at) - datetime.fromtimestamp(
        float(times[-1]), UTC
    )
    assert timedelta(0) < silence < timedelta(seconds=3)


def test_absence_with_an_expected_rate_fires_before_its_fixed_silence() -> None:
    """An absence rule at 5 events/s fires after seconds of silence, not its 10 minutes; at
    0.0001 events/s the fixed 10 minutes still bound it."""
    for rate, at_most in ((5.0, 10.0), (0.0001, 601.0)):
        rule = Rule(
            name="feed",
            kind="absence",
            where={"event": "Heartbeat"},
            silence="10m",
            expected_rate=rate,
        )
        clock = ManualClock(datetime.fromtimestamp(START, UTC))
        engine = AlertingEngine([], [rule], clock=clock)
        engine.process(_events([START], "Heartbeat"))
        fired_after = None
        for step in range(1, 1300):
            clock.set(datetime.fromtimestamp(START + step * 0.5, UTC))
            if engine.tick():
                fired_after = step * 0.5
                break
        assert fired_after is not None and fired_after <= at_most
        if rate == 5.0:
            assert engine.active_alerts()[0].values["test"] == "silence"


def test_hostile_arrivals_do_not_break_the_test() -> None:
    """Arrivals going back in time, a million events at one instant and a far-future jump are
    counted without error; the statistic and the evidence's probability stay finite."""
    test = rate_test(_rule(expected_rate=3.0))
    test.observe(START + 100)
    test.observe(START + 50)  # earlier than the last instant: counted at it
    test.observe(START + 100, count=1_000_000)
    test.advance(START + 10 * 365 * 86_400)
    assert test.alarm is not None
    assert all(math.isfinite(side.statistic) for side in test.sides.values())
    assert -1e10 < test.evidence()["log10_p_value"] < -1e6  # no underflow to -inf or 0


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"false_alarms": "often"}, "false_alarms"),
        ({"min_effect": 1.5}, "min_effect"),
        ({"min_effect": float("nan")}, "min_effect"),
        ({"expected_rate": -2.0}, "expected_rate"),
        ({"then": {"event": "Paid"}}, "expected_conversion"),
        ({"where": {}}, "where"),
        ({"prior_weight": "a while"}, "prior_weight"),
    ],
)
def test_config_errors_name_the_key(fields: dict[str, object], key: str) -> None:
    """Each wrong setting of a sequential rule is reported under its own key."""
    problems = _rule(**fields).check(set(), {"orders"})
    assert key in [k for k, _ in problems], problems


def test_the_config_file_reports_a_bad_sequential_rule_with_its_path() -> None:
    """vigie.yaml with a bad false_alarms names the rule's key path and line."""
    text = (
        "rules:\n"
        "  - name: orders\n"
        "    kind: sequential\n"
        "    where: {event: Order Completed}\n"
        "    false_alarms: sometimes\n"
    )
    with pytest.raises(ConfigError, match="false_alarms"):
        parse_config(text)


def test_an_absence_rule_needs_a_silence_or_a_rate() -> None:
    """An absence rule with neither `silence` nor `expected_rate` is refused, naming silence."""
    rule = Rule(name="feed", kind="absence", where={"event": "Heartbeat"})
    assert "silence" in [k for k, _ in rule.check(set(), set())]
    rated = Rule(name="feed", kind="absence", where={"event": "Heartbeat"}, expected_rate=1.0)
    assert rated.check(set(), set()) == []


def test_the_clock_decides_when_a_silence_is_evaluated() -> None:
    """The engine evaluates the silence at the clock's time, not at the last event's."""
    clock = ManualClock(datetime.fromtimestamp(START, UTC))
    engine = AlertingEngine([], [_rule(expected_rate=100.0)], clock=clock)
    engine.process(_events([START + 0.001 * i for i in range(100)]))
    assert engine.tick() == []
    clock.set(datetime.fromtimestamp(START + 5, UTC))
    fired = engine.tick()
    assert [a.status for a in fired] == ["firing"]
    assert to_us(fired[0].updated_at) == to_us(clock.now())


def test_the_system_fires_the_rule_on_its_tick_during_silence(tmp_path: Path) -> None:
    """A built system (store, log, processors, rules) stores a firing sequential alert once
    its tick sees an improbable silence after appended events, and only one."""
    config = parse_config(
        "sources: [{name: web, write_key: " + "k" * 24 + "}]\n"
        "rules:\n"
        "  - {name: orders, kind: sequential, where: {event: Order Completed},\n"
        "     expected_rate: 10, direction: down}\n"
    )
    clock = ManualClock(datetime.fromtimestamp(START, UTC))
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db", config), clock=clock)
    times = [START + 0.1 * i for i in range(1, 101)]

    async def scenario() -> tuple[int, int, str]:
        await system.start()
        try:
            clock.set(datetime.fromtimestamp(times[-1], UTC))
            result = await system.committer.append(
                AppendJob(events=_events(times), source="web", endpoint="test")
            )
            await system.runner.wait_for("rules", max(result.offsets), timeout=20)
            system.tick()
            before = len(system.alerts.list(status="firing", rule="orders"))
            for step in range(1, 40):
                clock.set(datetime.fromtimestamp(times[-1] + 0.25 * step, UTC))
                system.tick()
            firing = system.alerts.list(status="firing", rule="orders")
            return before, len(firing), firing[0].values["test"] if firing else ""
        finally:
            await system.stop()

    assert asyncio.run(scenario()) == (0, 1, "silence")


def test_a_conversion_rule_fires_through_the_engine_when_orders_stop_following_checkouts() -> None:
    """`where` checkouts `then` orders: checkouts still come but orders stop; the engine raises
    one alert, a conversion drop, while a mere traffic lull raises none."""
    rule = _rule(
        name="checkout-conversion",
        where={"event": "Checkout Started"},
        then={"event": "Order Completed"},
        expected_conversion=0.5,
    )
    rng = np.random.default_rng(8)
    clock = ManualClock(datetime.fromtimestamp(START, UTC))
    recorder = Recorder()
    engine = AlertingEngine([], [rule], clock=clock, listeners=[recorder])
    t = START
    for step in range(3000):
        t += 0.5 if step < 1000 else (5.0 if step < 1200 else 0.5)  # a lull in the middle
        converts = step < 2000 and rng.random() < 0.5
        clock.set(datetime.fromtimestamp(t, UTC))
        batch = _events([t], "Checkout Started")
        batch += _events([t], "Order Completed") if converts else []
        engine.process(batch)
        engine.tick()
    assert [a.status for a in recorder.changes] == ["firing"]
    assert recorder.changes[0].values["test"] == "conversion_drop"
    fired = recorder.changes[0].fired_at or recorder.changes[0].starts_at
    assert fired > datetime.fromtimestamp(START + 1000 * 0.5 + 200 * 5 + 800 * 0.5, UTC)


def test_events_replayed_after_a_restart_are_not_a_surge() -> None:
    """Two minutes of events replayed at start-up (older than the engine's start) are taken
    at their own arrival times: no surge, and silence counts from the last of them."""
    rng = np.random.default_rng(9)
    now = START + 600
    tracker = SequentialTracker(
        _rule(expected_rate=5.0, direction="both"), started_us=int(now * 1e6)
    )
    tracker.feed(_events(list(_poisson(rng, 5.0, START + 480, START + 600))))
    outcome = tracker.evaluate(int(now * 1e6))
    assert outcome.findings == {}


def test_each_group_is_judged_on_its_own_traffic() -> None:
    """A rule `by` shop: the shop whose orders stop fires, alone; the busy shop stays quiet."""
    rule = _rule(expected_rate=5.0, by=["properties.shop"])
    tracker = SequentialTracker(rule, started_us=int(START * 1e6))
    rng = np.random.default_rng(10)
    events = []
    for shop, end in (("paris", START + 120), ("lyon", START + 60)):
        for e in _events(list(_poisson(rng, 5.0, START, end))):
            e.properties = {"shop": shop}
            events.append(e)
    events.sort(key=lambda e: e.received_at)
    tracker.feed(events)
    outcome = tracker.evaluate(int((START + 120) * 1e6))
    assert set(outcome.findings) == {"lyon"}
    assert outcome.findings["lyon"].labels == {"properties.shop": "lyon"}
    assert outcome.evaluated == {"lyon", "paris"}


SPRING_S = datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()  # Paris: 02:00 becomes 03:00
PARIS = ZoneInfo("Europe/Paris")


def _shop_rate(t_s: float) -> float:
    """A Paris shop's orders per second at `t_s`: 0.5 a minute when closed, 4 when open
    (09:00-19:00 local time), ramping over the hour around opening and closing."""
    local = datetime.fromtimestamp(t_s, PARIS)
    hour = local.hour + local.minute / 60 + local.second / 3600
    open_ = min(1.0, max(0.0, hour - 8.5), max(0.0, 19.5 - hour))
    return (0.5 + 3.5 * open_) / 60


def _shop_arrivals(start_s: float, end_s: float) -> list[float]:
    """Arrivals at exactly the shop's rate, minute by minute (no chance in them)."""
    times: list[float] = []
    owed = 0.0
    for minute in np.arange(start_s, end_s, 60.0).tolist():
        owed += _shop_rate(minute + 30.0) * 60
        while owed >= 1.0:
            owed -= 1.0
            times.append(minute + 30.0)
    return times


def _alarms_over(test: RateTest, times: list[float], until_s: float) -> list[float]:
    """Feed arrivals and a tick every minute; when each alarm fired."""
    fired: list[float] = []
    ticks = np.arange(times[0], until_s, 60.0).tolist()
    for t, arrives in sorted([(t, True) for t in times] + [(t, False) for t in ticks]):
        was = test.alarm is not None
        if arrives:
            test.observe(t)
        else:
            test.advance(max(t, test.at_s or t))
        if test.alarm is not None and not was:
            fired.append(test.alarm.fired_s)
    return fired


@pytest.mark.parametrize(
    ("rule_zone", "site_zone", "quiet"),
    [("Europe/Paris", "UTC", True), (None, "Europe/Paris", True), (None, "UTC", False)],
    ids=["rule-in-paris", "site-in-paris", "utc"],
)
def test_the_time_of_day_level_follows_the_shops_wall_clock(
    rule_zone: str | None, site_zone: str, quiet: bool
) -> None:
    """Issue 15: a Paris shop's orders keep their level for the local time of day when the
    clocks go forward (opening at 09:00 is no surge, closing at 19:00 no drop), in the
    rule's or the site's zone; read in UTC the shop opens an hour early and an alarm fires."""
    rule = _rule(expected_rate=2.0 / 60, direction="both", timezone=rule_zone)
    test = rate_test(rule, timezone=site_zone)
    start, until = SPRING_S - 86_400.0, SPRING_S + 2 * 86_400.0
    for a in np.arange(start - 14 * 86_400.0, start, 1800.0).tolist():  # two weeks learned
        minutes = np.arange(a + 30.0, a + 1800.0, 60.0).tolist()
        test.profile.learn(a, a + 1800.0, sum(_shop_rate(m) * 60 for m in minutes))
    fired = _alarms_over(test, _shop_arrivals(start, until), until)
    assert (fired == []) is quiet
    assert all(t >= SPRING_S for t in fired)


def test_a_break_that_recovers_within_a_day_is_forgotten_not_held_for_later() -> None:
    """The half-hour a short break recovered in is not learned, now or when a later alarm lasts
    a day: nothing of it is left on hold once the break is over. (After a week: a half-hour's
    first sighting on its day of the week is taught even under an alarm.)"""
    test = rate_test(_rule(expected_rate=1 / 60, direction="both"))
    test.advance(START)
    t = START
    while t < START + 8 * 86_400:  # eight days at the declared rate, one order a minute
        test.observe(t)
        t += 60
    t += 7_200  # the till stops for two hours: a drop
    test.advance(t)
    assert test.alarm is not None
    while test.alarm is not None:
        test.observe(t)
        t += 60
    recovered_slot = test.profile.slot(t)
    exposure = test.profile.exposure[recovered_slot]
    for _ in range(120):  # two hours of normal traffic after the recovery
        test.observe(t)
        t += 60
    assert test.alarm is None
    assert test.waiting == []
    assert test.profile.exposure[recovered_slot] <= exposure  # older lessons fade, none added
