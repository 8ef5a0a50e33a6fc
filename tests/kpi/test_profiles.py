"""The expected rate per time of day: a declared prior at first, then what history taught."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vigie.kpi.profiles import DAY_S, RateProfile

START = 1_767_225_600.0  # a midnight, UTC


def _daily(t: float) -> float:
    """A reference daily pattern: 10 events/s at midnight, 30 at noon."""
    return 20.0 - 10.0 * math.cos(2 * math.pi * (t % DAY_S) / DAY_S)


def _teach(profile: RateProfile, days: int, rng: np.random.Generator, noise: float = 0.0) -> None:
    width = profile.width_s
    for k in range(int(days * DAY_S / width)):
        a = START + k * width
        mean = sum(_daily(a + s) for s in np.arange(0, width, 60.0) + 30.0) * 60.0
        mean *= math.exp(rng.normal(0, noise)) if noise else 1.0
        profile.learn(a, a + width, float(rng.poisson(mean)))


def test_the_declared_prior_is_the_rate_before_any_history() -> None:
    """With nothing learned, the expected count over any span is the prior rate times it."""
    profile = RateProfile(prior=2.5)
    assert profile.expected(START + 100, START + 500) == pytest.approx(1000.0)
    assert profile.rate_at(START + 43_210) == pytest.approx(2.5)


def test_history_teaches_the_daily_pattern() -> None:
    """After two weeks, an hour's expected count is within 2 % of the true daily curve."""
    profile = RateProfile(prior=1.0)
    _teach(profile, 14, np.random.default_rng(3))
    for hour in range(0, 24, 3):
        a = START + 15 * DAY_S + hour * 3600
        truth = sum(_daily(a + s) for s in np.arange(0, 3600, 10.0) + 5.0) * 10.0
        assert profile.expected(a, a + 3600) == pytest.approx(truth, rel=0.02)


def test_expected_counts_add_up_across_days() -> None:
    """The expected count of a span is the sum of its parts, across midnight too."""
    profile = RateProfile(prior=1.0)
    _teach(profile, 2, np.random.default_rng(4))
    a, b, c = START + 3 * DAY_S - 1234.5, START + 3 * DAY_S + 17.25, START + 4 * DAY_S + 99.0
    assert profile.expected(a, c) == pytest.approx(profile.expected(a, b) + profile.expected(b, c))
    assert profile.expected(b, b + DAY_S) == pytest.approx(profile.mean_rate() * DAY_S)


def test_noise_beyond_poisson_is_measured() -> None:
    """Pure Poisson counts show almost no excess noise; counts off by 10 % show about 10 %."""
    calm = RateProfile(prior=None)
    _teach(calm, 14, np.random.default_rng(5))
    wandering = RateProfile(prior=None)
    _teach(wandering, 14, np.random.default_rng(5), noise=0.1)
    assert calm.noise_sd() < 0.03
    assert 0.06 < wandering.noise_sd() < 0.14


def test_a_nonsense_prior_is_refused() -> None:
    """A negative or infinite prior rate is a clear error, not a silent wrong profile."""
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="prior rate"):
            RateProfile(prior=bad)


def test_one_instant_and_many_instants_agree() -> None:
    """The per-event path (`expected`) and the vectorised one (`cumulative`) give one answer."""
    profile = RateProfile(prior=1.0)
    _teach(profile, 3, np.random.default_rng(6))
    rng = np.random.default_rng(7)
    starts = START + rng.uniform(0, 10 * DAY_S, 50)
    ends = starts + rng.uniform(0, DAY_S, 50)
    many = profile.cumulative(ends) - profile.cumulative(starts)
    one = [profile.expected(a, b) for a, b in zip(starts, ends, strict=True)]
    assert np.allclose(many, one, rtol=1e-9, atol=1e-6)


SPRING = 1_774_746_000.0  # 2026-03-29 01:00 UTC: Paris goes from +1 to +2
AUTUMN = 1_792_890_000.0  # 2026-10-25 01:00 UTC: Paris goes from +2 to +1


def _paris(days: int) -> RateProfile:
    """A Paris profile taught `days` of the reference daily pattern on the local clock."""
    profile = RateProfile(prior=1.0, timezone="Europe/Paris")
    _teach(profile, days, np.random.default_rng(8))
    return profile


@pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["march", "october"])
@pytest.mark.parametrize("hours", [1.5, 49.0])
def test_a_span_across_a_change_of_time_counts_real_seconds(change: float, hours: float) -> None:
    """In a zone, the expected count over a span crossing a change of time is the rate at
    each real second's local time of day summed over the real seconds elapsed: the hour the
    wall clock skips is not counted, the hour it repeats is counted twice."""
    profile = _paris(3)
    a, b = change - hours * 3600, change + hours * 3600
    step = 10.0
    seconds = np.arange(a, b, step) + step / 2
    truth = math.fsum(profile.rate_at(t) * step for t in seconds.tolist())
    assert profile.expected(a, b) == pytest.approx(truth, rel=1e-4)


def test_the_level_is_read_at_the_local_time_of_day() -> None:
    """A Paris profile's 09:00 is Paris time: the same slot and the same expected rate in
    winter (08:00 UTC) and in summer (07:00 UTC), where a UTC profile's differ."""
    paris = ZoneInfo("Europe/Paris")
    winter = datetime(2026, 3, 27, 9, tzinfo=paris).timestamp()
    summer = datetime(2026, 3, 30, 9, tzinfo=paris).timestamp()
    local = _paris(3)
    assert local.slot(winter) == local.slot(summer) == 18
    assert local.rate_at(winter) == pytest.approx(local.rate_at(summer))
    utc = RateProfile(prior=1.0)
    _teach(utc, 3, np.random.default_rng(8))
    assert (utc.slot(winter), utc.slot(summer)) == (16, 14)
    assert utc.rate_at(winter) != pytest.approx(utc.rate_at(summer))


def test_a_slot_ends_at_the_next_local_slot_boundary() -> None:
    """In a zone a quarter of an hour off the UTC half hours (Kathmandu, +05:45), a slot
    starts and ends at a local half hour; in UTC at a UTC half hour."""
    kathmandu = RateProfile(prior=1.0, timezone="Asia/Kathmandu")
    t = START + 100.0
    assert (kathmandu.slot_start(t), kathmandu.slot_end(t)) == (START - 900.0, START + 900.0)
    assert RateProfile(prior=1.0).slot_end(t) == START + 1800.0


def test_a_zoned_profile_refuses_counts_from_the_epoch() -> None:
    """`cumulative` (counts from the epoch) is refused in a zone rather than wrong."""
    with pytest.raises(ValueError, match="UTC profile"):
        _paris(1).cumulative(np.array([SPRING]))


PARIS = ZoneInfo("Europe/Paris")


def _week_of_shop(
    profile: RateProfile, first: datetime, days: int, level: dict[int, tuple[float, float, float]]
) -> None:
    """Teach `days` local days from `first` (a Paris midnight), half-hour by half-hour: on a
    weekday w (Monday 0) open from `level[w][0]` to `level[w][1]` o'clock at `level[w][2]`
    events per half-hour exactly, closed otherwise (and closed on days not in `level`)."""
    t = first.timestamp()
    end = (first + timedelta(days=days)).timestamp()
    while t < end:
        b = profile.slot_end(t)
        local = datetime.fromtimestamp(t, PARIS)
        hour = local.hour + local.minute / 60
        opens, closes, per_slot = level.get(local.weekday(), (0.0, 0.0, 0.0))
        profile.learn(t, b, per_slot if opens <= hour < closes else 0.0)
        t = b


def _open_hours(profile: RateProfile, day: datetime) -> float:
    """Expected events over the local day `day` (a Paris midnight)."""
    return profile.expected(day.timestamp(), (day + timedelta(days=1)).timestamp())


SHOP = {w: (9.0, 19.0, 60.0) for w in range(6)}  # 1 200 orders a day, Monday to Saturday


def test_a_closed_sunday_is_learned_from_one_sunday() -> None:
    """One week of a shop closed on Sundays: a week later (the clocks gone back in between)
    its Sunday expects almost nothing, its Monday and Saturday their 1 200 orders."""
    profile = RateProfile(prior=None, timezone="Europe/Paris")
    first = datetime(2026, 10, 19, tzinfo=PARIS)  # a Monday; clocks go back on Sunday 25
    _week_of_shop(profile, first, 7, SHOP)
    assert _open_hours(profile, datetime(2026, 11, 1, tzinfo=PARIS)) < 5.0
    for day in (datetime(2026, 10, 26, tzinfo=PARIS), datetime(2026, 10, 31, tzinfo=PARIS)):
        assert _open_hours(profile, day) == pytest.approx(1200.0, rel=0.02)


def test_a_saturday_closing_early_is_learned_by_the_half_hour() -> None:
    """A shop open 09:00-13:00 on Saturdays and 09:00-19:00 on other weekdays: after two
    weeks, its Saturday afternoon expects almost nothing and its Saturday morning its orders."""
    profile = RateProfile(prior=None, timezone="Europe/Paris")
    first = datetime(2026, 6, 1, tzinfo=PARIS)  # a Monday
    _week_of_shop(profile, first, 14, {**SHOP, 5: (9.0, 13.0, 60.0)})
    saturday = datetime(2026, 6, 20, tzinfo=PARIS)
    morning = profile.expected(
        (saturday + timedelta(hours=9.5)).timestamp(),
        (saturday + timedelta(hours=12.5)).timestamp(),
    )
    afternoon = profile.expected(
        (saturday + timedelta(hours=14)).timestamp(), (saturday + timedelta(hours=19)).timestamp()
    )
    assert morning == pytest.approx(360.0, rel=0.1)
    assert afternoon < 12.0


def test_a_weekday_differing_by_chance_keeps_the_daily_level() -> None:
    """Two weeks of the same Poisson traffic every day: no day of the week, and no half-hour
    of one, is given a level of its own; each reads the daily level learned from all."""
    profile = RateProfile(prior=1.0)
    _teach(profile, 14, np.random.default_rng(21))
    assert profile.week_rates() == pytest.approx(np.tile(profile.rates(), 7))


def test_quiet_weekends_are_learned_as_a_share_of_the_week() -> None:
    """A B2B site at a quarter of its weekday traffic on Saturdays and Sundays: after one
    week, a weekend day expects a quarter of a weekday's events."""
    profile = RateProfile(prior=None, timezone="Europe/Paris")
    first = datetime(2026, 6, 1, tzinfo=PARIS)
    _week_of_shop(profile, first, 7, {**SHOP, 5: (9.0, 19.0, 15.0), 6: (9.0, 19.0, 15.0)})
    weekday = _open_hours(profile, datetime(2026, 6, 10, tzinfo=PARIS))
    sunday = _open_hours(profile, datetime(2026, 6, 14, tzinfo=PARIS))
    assert weekday == pytest.approx(1200.0, rel=0.05)
    assert sunday == pytest.approx(300.0, rel=0.05)


def test_a_day_of_the_week_is_read_in_local_time() -> None:
    """Sunday 00:30 in Paris is a Sunday for a Paris profile though it is still Saturday in
    UTC, and the hour the clocks repeat is a Sunday both times."""
    profile = RateProfile(prior=1.0, timezone="Europe/Paris")
    sunday = datetime(2026, 10, 25, 0, 30, tzinfo=PARIS).timestamp()
    repeated = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    days = {
        profile.day_of_week(t)
        for t in (sunday, repeated.timestamp(), repeated.replace(fold=1).timestamp())
    }
    assert days == {(6 - 3) % 7}  # rows count from Thursday: Sunday is row 3
    assert RateProfile(prior=1.0).day_of_week(sunday) == 2  # Saturday 22:30 UTC
