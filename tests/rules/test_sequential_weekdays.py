"""Issue 15: a sequential (or rate-aware absence) rule learns the days of the week: a shop
closed on Sundays is silent on its second and later Sundays, across a change of time, and
still fires on a real break, a surge, or a Sunday opening by mistake."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.rules.test_sequential_hours import _event, _open_day
from vigie.kpi.durations import parse_rate
from vigie.rules.definitions import Rule
from vigie.rules.sequential import RateAwareAbsence, SequentialTracker, detection_table

PARIS = ZoneInfo("Europe/Paris")
OPEN_PER_MIN = 2.0
DAYS = 21  # Monday 12 October 2026 to Sunday 1 November; clocks go back on Sunday 25 October
SUNDAYS = (6, 13, 20)


def _at(day: int, hour: float) -> float:
    """The instant of `hour` o'clock, Paris wall time, on day `day` (0: Monday 12 October)."""
    local = datetime(2026, 10, 12, tzinfo=PARIS) + timedelta(days=day, hours=hour)
    return local.timestamp()


def _day(t: float) -> int:
    """The local day (0: Monday 12 October) of instant `t`."""
    local = datetime.fromtimestamp(t, PARIS).date()
    return (local - datetime(2026, 10, 12).date()).days


def _shop(
    seed: int,
    *,
    stop: float | None = None,
    surge: float | None = None,
    open_sunday: int | None = None,
) -> list[float]:
    """Orders as Poisson arrivals 09:00-19:00 Paris time, none at night nor on Sundays (but
    on day `open_sunday`, opened by mistake); the till stops at `stop`, or traffic triples
    from `surge` (instants), if given."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    for day in range(DAYS):
        if day in SUNDAYS and day != open_sunday:
            continue
        times += _open_day(rng, _at(day, 9), _at(day, 19), OPEN_PER_MIN, stop=stop, surge=surge)
    return times


def _replay(
    tracker: SequentialTracker | RateAwareAbsence, times: list[float]
) -> list[tuple[float, str]]:
    """Replay as live: each minute's orders fed, then a tick; when each alert opened, and its
    test."""
    start = _at(0, 0)
    opened: list[tuple[float, str]] = []
    firing: set[str] = set()
    i = 0
    minute = 0
    while start + minute * 60.0 < _at(DAYS, 0):
        minute += 1
        now = start + minute * 60.0
        batch = []
        while i < len(times) and times[i] < now:
            batch.append(_event(times[i], i))
            i += 1
        tracker.feed(batch)
        findings = tracker.evaluate(int(now * 1e6)).findings
        opened += [
            (now, str(findings[g].values.get("test", "absence"))) for g in set(findings) - firing
        ]
        firing = set(findings)
    return opened


def _rule(direction: str, prior: float | None, kind: str = "sequential") -> Rule:
    fields: dict[str, object] = {
        "name": "orders",
        "kind": kind,
        "where": {"event": "Order Completed"},
        "timezone": "Europe/Paris",
        "false_alarms": "1/year",  # chance alarms rarer than these three weeks' lessons
    }
    if kind == "sequential":
        fields["direction"] = direction
    if prior is not None:
        fields["expected_rate"] = prior
    return Rule(**fields)  # type: ignore[arg-type]


def _alerts(direction: str, times: list[float], prior: float | None) -> list[tuple[int, str]]:
    rule = _rule(direction, prior)
    tracker = SequentialTracker(rule, started_us=int(_at(0, 0) * 1e6))
    return [(_day(t), test) for t, test in _replay(tracker, times)]


@pytest.mark.parametrize("prior", [None, OPEN_PER_MIN / 60])
@pytest.mark.parametrize("direction", ["up", "down", "both"])
def test_a_shop_closed_on_sundays_is_silent_from_its_second_sunday(
    direction: str, prior: float | None
) -> None:
    """Three weeks of a shop closed on Sundays (the third week across the clocks going back):
    at most one alert on the first Sunday, none on the later Sundays nor the Mondays after."""
    opened = _alerts(direction, _shop(11), prior)
    assert [day for day, _ in opened if day == 6] in ([], [6])
    assert [(day, test) for day, test in opened if day >= 7] == []


def _predicted_silence_s() -> float:
    """What `vigie rules explain` predicts for a drop to zero at the open rate."""
    table = detection_table(
        effect=0.5,
        per_false_alarm_s=1 / parse_rate(_rule("both", None).declared_false_alarms()),
        tests=("silence", "drop", "surge"),
        rates=[OPEN_PER_MIN / 60],
    )
    return table[0].to_zero_s


@pytest.mark.parametrize("prior", [None, OPEN_PER_MIN / 60])
def test_the_till_stopping_on_the_third_tuesday_still_fires(prior: float | None) -> None:
    """With Sundays learned, the till stopping at 15:00 on the third Tuesday (after the
    clocks went back) fires one silence within the time `vigie rules explain` predicts."""
    stop = _at(15, 15)
    rule = _rule("both", prior)
    opened = _replay(SequentialTracker(rule, started_us=int(_at(0, 0) * 1e6)), _shop(4, stop=stop))
    after = [(t, test) for t, test in opened if _day(t) >= 7]
    assert [test for _, test in after] == ["silence"]
    assert 0 < after[0][0] - stop <= 2 * _predicted_silence_s() + 120


def test_a_tripled_rate_on_the_third_tuesday_still_fires() -> None:
    """Orders tripling at 11:00 on the third Tuesday fire one surge within half an hour."""
    surge = _at(15, 11)
    rule = _rule("up", None)
    opened = _replay(
        SequentialTracker(rule, started_us=int(_at(0, 0) * 1e6)), _shop(5, surge=surge)
    )
    after = [(t, test) for t, test in opened if _day(t) >= 7]
    assert [test for _, test in after] == ["surge"]
    assert 0 < after[0][0] - surge <= 1800


def test_a_sunday_opening_by_mistake_is_a_surge() -> None:
    """Orders on the third Sunday, when two Sundays taught the shop is closed, fire a surge
    within half an hour of the opening."""
    rule = _rule("both", None)
    opened = _replay(
        SequentialTracker(rule, started_us=int(_at(0, 0) * 1e6)), _shop(6, open_sunday=20)
    )
    after = [(t, test) for t, test in opened if _day(t) >= 7]
    assert [(_day(t), test) for t, test in after] == [(20, "surge")]
    assert 0 < after[0][0] - _at(20, 9) <= 1800


def test_an_absence_rule_with_a_rate_learns_sundays_too() -> None:
    """An `absence` rule with an `expected_rate` (the open rate): silent at the first night
    and closing (the prior) and the first Sunday, never on a later Sunday, and again when
    the till stops on the third Tuesday at 15:00."""
    stop = _at(15, 15)
    rule = _rule("down", OPEN_PER_MIN / 60, kind="absence")
    opened = _replay(RateAwareAbsence(rule, started_us=int(_at(0, 0) * 1e6)), _shop(7, stop=stop))
    assert [_day(t) for t, _ in opened if _day(t) >= 1] == [6, 15]
    assert 0 < opened[-1][0] - stop <= 900
