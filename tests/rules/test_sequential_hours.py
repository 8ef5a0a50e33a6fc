"""Issue 15: a sequential rule learns a shop's opening hours in its first day (no surge at
opening, no drop or silence at closing), and still fires on a real break or surge."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vigie.events import Event
from vigie.kpi.durations import parse_rate
from vigie.rules.definitions import Rule
from vigie.rules.sequential import RateAwareAbsence, SequentialTracker, detection_table

PARIS = ZoneInfo("Europe/Paris")
OPEN_PER_MIN = 2.0
DAYS = 9  # Monday 5 October 2026 to Tuesday 13 October, Sunday 11 closed


def _at(day: int, hour: float) -> float:
    """The instant of `hour` o'clock, Paris time, on day `day` (0: Monday 5 October 2026)."""
    local = datetime(2026, 10, 5 + day, tzinfo=PARIS)
    return local.timestamp() + hour * 3600.0  # no change of time in these days


def _shop(
    seed: int, *, stop: float | None = None, surge: float | None = None, double_from: int = DAYS
) -> list[float]:
    """Orders as Poisson arrivals 09:00-19:00 Paris time, none at night nor on Sunday; the
    till stops at `stop` or traffic triples from `surge` (instants) if given; twice as many
    orders from day `double_from` on."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    for day in range(DAYS):
        if datetime.fromtimestamp(_at(day, 12), PARIS).weekday() == 6:
            continue
        level = OPEN_PER_MIN * (2 if day >= double_from else 1)
        times += _open_day(rng, _at(day, 9), _at(day, 19), level, stop=stop, surge=surge)
    return times


def _open_day(
    rng: np.random.Generator,
    a: float,
    b: float,
    level: float,
    *,
    stop: float | None,
    surge: float | None,
) -> list[float]:
    """A day's order instants from its opening `a` to its closing `b` (`level` a minute),
    none from `stop` on, and `2 * OPEN_PER_MIN` a minute more from `surge` on, if either
    falls in the day."""
    day_times = rng.uniform(a, b, rng.poisson(level / 60 * (b - a)))
    if stop is not None and a <= stop < b:
        day_times = day_times[day_times < stop]
    if surge is not None and a <= surge < b:
        more = rng.uniform(surge, b, rng.poisson(2 * OPEN_PER_MIN / 60 * (b - surge)))
        day_times = np.concatenate((day_times, more))
    return sorted(day_times.tolist())


def _event(t: float, i: int) -> Event:
    at = datetime.fromtimestamp(t, UTC)
    return Event(
        message_id=f"order-{i}",
        source="web",
        type="track",
        event="Order Completed",
        anonymous_id="a",
        timestamp=at,
        received_at=at,
        offset=None,
    )


def _alerts(
    direction: str, times: list[float], prior: float | None, closed: list[float] | None = None
) -> list[tuple[float, str]]:
    """Replay as live: each minute's orders fed, then a tick; when each alert opened, and its
    test (and into `closed`, when each resolved)."""
    fields: dict[str, object] = {
        "name": "orders",
        "kind": "sequential",
        "where": {"event": "Order Completed"},
        "direction": direction,
        "timezone": "Europe/Paris",
        "false_alarms": "1/year",  # chance alarms rarer than these nine days' lessons
    }
    if prior is not None:
        fields["expected_rate"] = prior
    start = _at(0, 0)
    tracker = SequentialTracker(Rule(**fields), started_us=int(start * 1e6))  # type: ignore[arg-type]
    opened: list[tuple[float, str]] = []
    firing: set[str] = set()
    i = 0
    for minute in range(1, DAYS * 1440 + 1):
        now = start + minute * 60.0
        batch = []
        while i < len(times) and times[i] < now:
            batch.append(_event(times[i], i))
            i += 1
        tracker.feed(batch)
        findings = tracker.evaluate(int(now * 1e6)).findings
        opened += [(now, findings[g].values["test"]) for g in set(findings) - firing]
        if closed is not None:
            closed += [now for _ in firing - set(findings)]
        firing = set(findings)
    return opened


def _day(t: float) -> int:
    return round((t - _at(0, 0)) // 86_400.0)


def _at_a_change(t: float) -> bool:
    """Whether `t` is within 45 minutes after the shop opens or closes."""
    local = datetime.fromtimestamp(t, PARIS)
    hour = local.hour + local.minute / 60
    return 9 <= hour < 9.75 or 19 <= hour < 19.75


@pytest.mark.parametrize("direction", ["up", "down", "both"])
def test_a_shop_s_opening_hours_are_learned_without_a_prior(direction: str) -> None:
    """No prior: the first day is learned, then no opening is a surge and no closing a
    silence or a drop; only the first closed Sunday reads as silence (its first Sunday)."""
    opened = _alerts(direction, _shop(1), prior=None)
    expected = [] if direction == "up" else [(6, "silence")]
    assert [(_day(t), test) for t, test in opened] == expected
    if direction != "up":
        assert abs(opened[0][0] - _at(6, 9)) < 1800  # Sunday, when the shop should open


@pytest.mark.parametrize("direction", ["up", "down", "both"])
def test_a_flat_prior_is_corrected_on_the_first_day(direction: str) -> None:
    """A prior of the open rate holds at night only until that night is watched: a `down`
    rule may say "silent" on the first night and the first closing, never again after."""
    opened = _alerts(direction, _shop(2), prior=OPEN_PER_MIN / 60)
    assert [t for t, _ in opened if _day(t) not in (0, 6) and _at_a_change(t)] == []
    assert [test for t, test in opened if _day(t) == 0 and test == "surge"] == []
    assert len([t for t, _ in opened if _day(t) not in (0, 6)]) <= 1  # chance, at 1/year


def test_a_prior_four_times_too_low_fires_once_and_the_new_level_is_learned() -> None:
    """A shop four times busier than declared: one surge on the first morning, resolved the
    same day (its half-hours are first looks, learned at once), and no surge after."""
    closed: list[float] = []
    opened = _alerts("up", _shop(3), prior=OPEN_PER_MIN / 4 / 60, closed=closed)
    assert [(_day(t), test) for t, test in opened] == [(0, "surge")]
    assert [_day(t) for t in closed] == [0]


def test_an_absence_rule_with_a_rate_learns_the_shop_too() -> None:
    """An `absence` rule with an `expected_rate` of the open rate: silent at the first night
    and first closing (the prior), the first closed Sunday, and the till stopping on the
    second Tuesday at 15:00; never at an ordinary closing."""
    stop = _at(8, 15)
    times = _shop(6, stop=stop)
    rule = Rule(
        name="orders",
        kind="absence",
        where={"event": "Order Completed"},
        expected_rate=OPEN_PER_MIN / 60,
        timezone="Europe/Paris",
        false_alarms="1/year",
    )
    start = _at(0, 0)
    tracker = RateAwareAbsence(rule, started_us=int(start * 1e6))
    opened: list[float] = []
    firing: set[str] = set()
    i = 0
    for minute in range(1, DAYS * 1440 + 1):
        now = start + minute * 60.0
        batch = []
        while i < len(times) and times[i] < now:
            batch.append(_event(times[i], i))
            i += 1
        tracker.feed(batch)
        findings = set(tracker.evaluate(int(now * 1e6)).findings)
        opened += [now for _ in findings - firing]
        firing = findings
    assert [_day(t) for t in opened] == [0, 0, 6, 8]
    assert 0 < opened[-1] - stop <= 900


def _predicted_silence_s() -> float:
    """What `vigie rules explain` predicts for a drop to zero at the open rate."""
    table = detection_table(
        effect=0.5,
        per_false_alarm_s=1
        / parse_rate(Rule(name="x", kind="sequential", where={}).declared_false_alarms()),
        tests=("silence", "drop"),
        rates=[OPEN_PER_MIN / 60],
    )
    return table[0].to_zero_s


@pytest.mark.parametrize("prior", [None, OPEN_PER_MIN / 60])
def test_the_till_stopping_on_a_tuesday_afternoon_still_fires(prior: float | None) -> None:
    """After a week learned, the till stopping at 15:00 on Tuesday fires a silence within
    about the time `vigie rules explain` predicts; the next day is quiet again."""
    stop = _at(8, 15)
    opened = _alerts("both", _shop(4, stop=stop), prior=prior)
    after = [(t, test) for t, test in opened if _day(t) >= 7]
    assert [test for _, test in after] == ["silence"]
    assert 0 < after[0][0] - stop <= 2 * _predicted_silence_s() + 120


@pytest.mark.parametrize("direction", ["up", "both"])
def test_a_tripled_rate_at_eleven_still_fires(direction: str) -> None:
    """After a week learned, orders tripling at 11:00 on Tuesday fire one surge within half an
    hour."""
    surge = _at(8, 11)
    opened = _alerts(direction, _shop(5, surge=surge), prior=None)
    after = [(t, test) for t, test in opened if _day(t) >= 7]
    assert [test for _, test in after] == ["surge"]
    assert 0 < after[0][0] - surge <= 1800


def test_a_level_that_lasts_is_learned_as_one_incident() -> None:
    """Orders doubling for good from the second Monday: one surge that day, held as one
    alert (not one per day), and the doubled days learned once it has lasted a day."""
    closed: list[float] = []
    opened = _alerts("up", _shop(7, double_from=7), prior=None, closed=closed)
    assert [(_day(t), test) for t, test in opened] == [(7, "surge")]
    assert closed == []
    rule = Rule(name="orders", kind="sequential", where={}, direction="up", timezone="Europe/Paris")
    tracker = SequentialTracker(rule, started_us=int(_at(0, 0) * 1e6))
    times = _shop(7, double_from=7)
    tracker.feed([_event(t, i) for i, t in enumerate(times)])
    for minute in range(1, DAYS * 1440 + 1):
        tracker.evaluate(int((_at(0, 0) + minute * 60.0) * 1e6))
    learned = next(iter(tracker.rates.values())).profile.rate_at(_at(8, 12)) * 60
    assert learned > 1.15 * OPEN_PER_MIN  # a week at 2/min, then one day and more at 4/min
