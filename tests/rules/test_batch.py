"""The batched replay of a series gives what the live, window-by-window path gives."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import NO_GROUP, Metric
from vigie.rules.alerts import Alert
from vigie.rules.anomalies import AnomalyWatch
from vigie.rules.backtest import _window, _windows, replay_samples
from vigie.rules.conditions import OPS, Finding, Outcome
from vigie.rules.definitions import Rule
from vigie.rules.detectors import Verdict
from vigie.rules.detectors.batch import band_of, band_p, score_series
from vigie.rules.detectors.seasonal import (
    KEEP,
    NO_TAILS,
    RobustSeasonal,
    Shapes,
    fit_settled,
    fit_sorted,
    fit_tails,
    tail_edges,
    tail_p,
)
from vigie.rules.lifecycle import AlertBook, resolve_after_us
from vigie.types import from_us

T0 = 1_767_225_600_000_000
MINUTE = 60_000_000
SHAPES = ("seasonal", "counts", "quantised", "walk", "integers", "offset", "heavy")


def _series(rng: random.Random, shape: str, n: int, step_us: int) -> list[float]:
    """A random series of `shape`: a daily pattern and noise (heavy-tailed for `heavy`),
    with spikes, a shift, an outage or a weekend now and then."""
    level = rng.uniform(-50, 500)
    amp = rng.uniform(0, 0.5) * abs(level)
    sd = rng.uniform(0.01, 0.2) * (abs(level) + 1)
    out, walk = [], 0.0
    for i in range(n):
        t = i * step_us / 86_400_000_000
        x = level + amp * math.sin(2 * math.pi * t) + rng.gauss(0, sd)
        if (int(t) + 3) % 7 >= 5:
            x -= 0.3 * amp
        if rng.random() < 0.01:
            x += rng.choice((-1, 1)) * rng.uniform(5, 15) * sd
        if i > n // 2:
            x += 6 * sd
        if shape == "walk":
            walk += rng.gauss(0, sd)
            x = walk
        elif shape == "counts":
            x = float(max(0, round(rng.expovariate(1 / max(0.5, abs(x) / 50)))))
            if n // 3 < i < n // 3 + 12:
                x = 0.0
        elif shape == "quantised":
            x = round(x / sd) * sd
        elif shape == "integers":
            x = float(round(x))
        elif shape == "offset":
            x += 1e6
        elif shape == "heavy":  # Student's t, 3 degrees of freedom: a learned tail index
            x += sd * rng.gauss(0, 1) / math.sqrt(rng.gammavariate(1.5, 1 / 1.5))
        out.append(x)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_batched_and_per_sample_replays_raise_the_same_alerts(seed: int) -> None:
    """Issue 15: the batched replay (`AnomalyWatch.replay`) and the window-by-window one
    (`AnomalyWatch.observe`, as live) give equal alert changes, evidence and plot included,
    on random series of every shape, for every seasonality and direction."""
    rng = random.Random(seed)
    for shape in SHAPES:
        step_us = rng.choice((1, 5, 15, 60, 180)) * MINUTE
        n = rng.randint(5, 1500)
        values = _series(rng, shape, n, step_us)
        samples = [(T0 + i * step_us, i, x) for i, x in enumerate(values)]
        if rng.random() < 0.3:  # several rows in some windows
            samples += [(at + step_us // 3, line, x * 1.01) for at, line, x in samples[::5]]
            samples.sort()
        metric = Metric(
            name="m", kind="average", value="properties.value", window=f"{step_us // 10**6}s"
        )
        rules = [
            Rule(
                name="odd",
                kind="anomaly",
                metric="m",
                seasonality=rng.choice(("auto", "none", "daily", "weekly", "both")),
                direction=rng.choice(("both", "up", "down")),
                min_samples=rng.choice((3, 12, 30)),
                p_value=rng.choice((3e-4, 1e-2)),
            ),
            Rule(name="high", kind="threshold", metric="m", op=">", value=max(values)),
        ]
        batched = replay_samples(metric, rules, samples)
        assert batched == replay_samples(metric, rules, samples, batched=False), shape


def test_batched_verdicts_equal_the_detectors() -> None:
    """Every sample's verdict from `score_series` equals `RobustSeasonal.score` before the
    sample is learned, from the not-ready first samples on."""
    rng = random.Random(99)
    for shape in SHAPES:
        values = _series(rng, shape, 700, 10 * MINUTE)
        times = [T0 + i * 10 * MINUTE for i in range(len(values))]
        live = RobustSeasonal(step_us=10 * MINUTE)
        expected = []
        for at, x in zip(times, values, strict=True):
            expected.append(live.score(at, x))
            live.learn(at, x)
        scores = score_series(RobustSeasonal(step_us=10 * MINUTE), times, values)
        assert [scores.verdict(i) for i in range(len(values))] == expected, shape


@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_a_return_from_a_first_weekend_is_scored_alike(minutes: int) -> None:
    """Issue 15: on a weekly series whose weekends drop by 40 %, with spikes, the batched
    verdicts equal the detector's through the weekend's shift, the Monday's return (judged
    against the level held before it) and the week after."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    values = []
    for i in range(10 * 24 * 60 // minutes):
        t = i * step / 86_400_000_000
        x = (100 + 20 * math.sin(2 * math.pi * t)) * (0.6 if (int(t) + 3) % 7 >= 5 else 1.0)
        values.append(x + rng.gauss(0, 2) + (rng.choice((-30, 30)) if rng.random() < 0.01 else 0))
    times = [T0 + i * step for i in range(len(values))]
    live = RobustSeasonal(step_us=step)
    expected, kept = [], []
    for at, x in zip(times, values, strict=True):
        expected.append(live.score(at, x))
        live.learn(at, x)
        kept.append(live.before)
    saturday, monday = 2 * 24 * 60 // minutes, int(4.25 * 24 * 60) // minutes
    assert kept[saturday + 6] is not None and kept[monday] is None  # left, came back
    scores = score_series(RobustSeasonal(step_us=step), times, values)
    assert [scores.verdict(i) for i in range(len(values))] == expected


def test_a_first_hours_step_is_scored_alike() -> None:
    """Issue 15: through a shift confirmed in a series' first hours (kept as no level to
    return to) and a drop at its hour two days later, the batched verdicts equal the
    detector's."""
    rng = random.Random(10)
    step = 10 * MINUTE
    values = []
    for i in range(4 * 24 * 6):
        t = i * step / 86_400_000_000
        drop = 40 if 2.255 <= t < 2.27 else 0
        values.append(100 + 20 * math.sin(2 * math.pi * t) + 40 * (t >= 0.25) - drop)
        values[-1] += rng.gauss(0, 2)
    times = [T0 + i * step for i in range(len(values))]
    _assert_alike(step, times, values)


@pytest.mark.parametrize("minutes", [50, 61])
def test_a_step_that_does_not_divide_a_day_is_replayed(minutes: int) -> None:
    """Issue 15: an anomaly rule on a metric of 50- or 61-minute windows (profile knots that
    do not divide a day) replays live and batched alike, without failing on the day's last
    knot, and catches a spike on its daily pattern."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    spike = 8 * 24 * 60 // minutes
    samples = []
    for i in range(10 * 24 * 60 // minutes):
        t = i * step / 86_400_000_000
        x = 100 + 30 * math.sin(2 * math.pi * t) + rng.gauss(0, 2) + (60 if i == spike else 0)
        samples.append((T0 + i * step, i, x))
    metric = Metric(name="m", kind="average", value="properties.value", window=f"{minutes}m")
    rules = [Rule(name="odd", kind="anomaly", metric="m")]
    batched = replay_samples(metric, rules, samples)
    assert batched == replay_samples(metric, rules, samples, batched=False)
    fired = [a.fired_at for a in batched if a.status == "firing" and a.fired_at is not None]
    assert any(
        abs((f - from_us(samples[spike][0])).total_seconds()) <= 2 * minutes * 60 for f in fired
    )


def test_tails_fit_as_the_sorted_deviations_say() -> None:
    """The median and MAD found by bisection are those of a plain sort of the deviations
    (an independent reference), ties and small windows included."""
    rng = random.Random(7)
    for _ in range(2000):
        n = rng.randint(3, 300)
        values = [round(rng.gauss(0, 1) * rng.choice((1, 3, 100))) / 3 for _ in range(n)]
        ordered = sorted(values)
        center = ordered[n // 2]
        deviations = sorted([center - x for x in ordered[: n // 2 + 1]] + [
            x - center for x in ordered[n // 2 :]
        ])  # fmt: skip
        mad = deviations[n // 2]
        fitted = fit_tails(values, NO_TAILS)
        assert fitted[0] == center
        assert fitted[1] == 1.4826 * mad * (1.0 + 8.0 / n)


def test_a_settled_tail_is_the_median_shape_of_the_windows_fits() -> None:
    """Issue 15: each tail's threshold and mean excess, in scales, is the median of the fits
    of the last window (one fit's wild tail does not move the fire edge), while the centre and
    the scale are the last fit's own; with fewer than three fits the last fit stands alone."""
    rng = random.Random(3)
    calm = sorted(rng.gauss(0, 1) for _ in range(256))
    wild = sorted([*calm[:-20], *(x * 6 for x in calm[-20:])])
    shapes = Shapes()
    first = fit_settled(calm, NO_TAILS, shapes, 16, 256)
    assert first[:6] == fit_sorted(calm, NO_TAILS)[:6]
    fit_settled(calm, first, shapes, 32, 256)
    fit_settled(calm, first, shapes, 48, 256)
    settled = fit_settled(wild, first, shapes, 64, 256)
    own = fit_sorted(wild, first)
    assert settled[:2] == own[:2]
    assert [round(x / own[1], 9) for x in settled[2:6]] == [
        round(x / first[1], 9) for x in first[2:6]
    ]
    assert own[5] > 2 * settled[5]
    # Once the window has turned over, the calm fits are gone and a lone fit stands as it is.
    assert fit_settled(wild, first, shapes, 400, 256)[:6] == own[:6]


@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),
            st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=32, max_size=80),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(16, 256),
)
def test_a_settled_tail_is_the_median_of_the_fits_within_the_span(
    fits: list[tuple[int, list[float]]], span: int
) -> None:
    """Issue 15: the settled tails, whose medians `Shapes` keeps ranked as fits come and go,
    are the medians of the shapes of the fits made within the last `span` samples, each
    sorted afresh."""
    shapes = Shapes()
    previous = NO_TAILS
    kept: list[tuple[int, tuple[float, ...]]] = []
    now = 0
    for step, values in fits:
        now += step
        ordered = sorted(values)
        settled = fit_settled(ordered, previous, shapes, now, span)
        own = fit_sorted(ordered, previous)
        previous = settled
        if own[1] <= 0:
            assert settled == own
            continue
        kept = [(at, shape) for at, shape in kept if now - at <= span]
        kept.append((now, tuple(x / own[1] for x in own[2:6])))
        assert settled[:2] == own[:2]
        if len(kept) >= 3:
            medians = [sorted(shape[i] for _, shape in kept)[len(kept) // 2] for i in range(4)]
            assert list(settled[2:6]) == [x * own[1] for x in medians]


@pytest.mark.parametrize("minutes", [15, 60])
def test_spikes_on_a_series_with_gaps_are_scored_alike(minutes: int) -> None:
    """Issue 15: on a series with hours missing and drops of 15 deviations now and then
    (each a residual beyond the fire edge, kept in the tails at the clearing level), the
    batched verdicts equal the detector's."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    times, values = [], []
    for i in range(8 * 24 * 60 // minutes):
        if 200 <= i % 300 < 230:
            continue  # a gap
        x = 100 + 20 * math.sin(2 * math.pi * i * minutes / 1440) + rng.gauss(0, 2)
        times.append(T0 + i * step)
        values.append(x - (30 if i % 131 < 3 else 0))
    live = RobustSeasonal(step_us=step)
    expected = []
    for at, x in zip(times, values, strict=True):
        expected.append(live.score(at, x))
        live.learn(at, x)
    assert sum(v.ready and v.p_value <= live.p_fire for v in expected) >= 3
    scores = score_series(RobustSeasonal(step_us=step), times, values)
    assert [scores.verdict(i) for i in range(len(values))] == expected


@pytest.mark.parametrize("minutes", [10, 15, 60])
def test_a_first_saturday_and_a_recurring_weekend_are_scored_alike(minutes: int) -> None:
    """Issue 15: on a weekly series over two weeks and a half, with spikes (one at its first
    Saturday's midnight) and a day of outage, the batched verdicts equal the detector's
    through the first Saturday's start (not alerted), the weekends and Mondays of the second
    week (steps recurring a week later) and the outage."""
    rng = random.Random(minutes + 7)
    step = minutes * MINUTE
    values = []
    for i in range(17 * 24 * 60 // minutes):
        t = i * step / 86_400_000_000
        x = (100 + 20 * math.sin(2 * math.pi * t)) * (0.6 if (int(t) + 3) % 7 >= 5 else 1.0)
        x += rng.gauss(0, 2) + (rng.choice((-30, 30)) if rng.random() < 0.01 else 0)
        values.append(0.0 if 13 <= t < 14 else x)
    values[2 * 24 * 60 // minutes] += 40
    times = [T0 + i * step for i in range(len(values))]
    expected = _assert_alike(step, times, values)
    assert any(v.p_value < 1e-6 for v in expected[13 * 24 * 60 // minutes :])  # the outage


@pytest.mark.parametrize("minutes", [30, 60])
@pytest.mark.parametrize("step_at", [None, 0.4])
def test_a_settled_first_day_and_a_first_weekends_cycle_are_scored_alike(
    minutes: int, step_at: float | None
) -> None:
    """Issue 15: on a series whose daily cycle is fifteen times its noise, whose weekends
    are 40 % lower with a smaller cycle (the first one forgiven its cycle against the
    settled weekdays' profile) and, on one draw, whose first day steps up (that day is not
    settled), the batched verdicts equal the detector's, a spike on a Monday included."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    values = []
    for i in range(12 * 24 * 60 // minutes):
        t = i * step / 86_400_000_000
        x = (100 + 30 * math.sin(2 * math.pi * (t - 0.3))) * (0.6 if (int(t) + 3) % 7 >= 5 else 1)
        values.append(x + rng.gauss(0, 2) + (40 if step_at is not None and t >= step_at else 0))
    spike = int(4.6 * 24 * 60 / minutes)  # a Monday afternoon
    values[spike] -= 20
    times = [T0 + i * step for i in range(len(values))]
    _assert_alike(step, times, values)


def _assert_alike(step: int, times: list[int], values: list[float]) -> list[Verdict]:
    """`score_series` gives each sample the verdict `RobustSeasonal.score` gave it live
    (returned)."""
    live = RobustSeasonal(step_us=step)
    expected = []
    for at, x in zip(times, values, strict=True):
        expected.append(live.score(at, x))
        live.learn(at, x)
    scores = score_series(RobustSeasonal(step_us=step), times, values)
    assert [scores.verdict(i) for i in range(len(values))] == expected
    return expected


def _poisson(rng: random.Random, rate: float) -> float:
    """A Poisson count by inversion: nothing outside the standard library."""
    x, p, u = 0, math.exp(-rate), rng.random()
    cumulative = p
    while u > cumulative and x < 500:
        x += 1
        p *= rate / x
        cumulative += p
    return float(x)


def _every_window(
    metric: Metric, rules: list[Rule], samples: list[tuple[int, int, float]]
) -> list[Alert]:
    """`replay_samples` as it was before it skipped windows: every rule on every window."""
    slide_us = parse_duration(metric.window)
    ends, lasts, values = _windows(samples, slide_us)
    book, changes = AlertBook(), []
    found = {
        rule.name: AnomalyWatch(rule, step_us=slide_us).replay(NO_GROUP, ends, values)
        for rule in rules
        if rule.kind == "anomaly"
    }
    for i, end_us in enumerate(ends):
        for rule in rules:
            if rule.name in found:
                evidence = found[rule.name][i]
            elif rule.value is not None and OPS[rule.op](
                values[i], rule.held_limit(active=book.tracks(rule.name, NO_GROUP))
            ):
                evidence = {"value": values[i], "threshold": rule.value, "op": rule.op}
            else:
                evidence = None
            outcome = Outcome(evaluated={NO_GROUP})
            if evidence is None and not book.tracks(rule.name, NO_GROUP):
                continue
            if evidence is not None:
                evidence = {"metric": metric.name, "window": _window(end_us, slide_us)} | evidence
                outcome.findings[NO_GROUP] = Finding(NO_GROUP, {}, evidence)
            wait = resolve_after_us(rule, slide_us)
            changes += book.apply(rule, outcome, from_us(lasts[i]), resolve_after_us=wait)
    return changes


@pytest.mark.parametrize("seed", range(4))
def test_skipping_quiet_windows_moves_the_book_as_every_window_does(seed: int) -> None:
    """Issue 15: the sample replay, which goes from one window where a rule holds to the next
    unless an alert is tracked, gives the alert changes (firing, waiting out the resolve
    time, resolved, fired again) of a book fed every window."""
    rng = random.Random(seed)
    step_us = 15 * MINUTE
    values = _series(rng, "seasonal", 1200, step_us)
    for start in rng.sample(range(300, 1150), 6):  # bursts of one to five windows
        for i in range(start, min(start + rng.randint(1, 5), len(values))):
            values[i] += 1000.0
    samples = [(T0 + i * step_us, i, x) for i, x in enumerate(values)]
    metric = Metric(name="m", kind="average", value="properties.value", window="900s")
    rules = [
        Rule(name="odd", kind="anomaly", metric="m"),
        Rule(name="high", kind="threshold", metric="m", op=">", value=900.0, clear_value=500.0),
        Rule(name="low", kind="threshold", metric="m", op="<", value=-1e9),
    ]
    changes = replay_samples(metric, rules, samples)
    assert {a.status for a in changes} >= {"firing", "resolved"}
    assert changes == _every_window(metric, rules, samples)


@given(
    tails=st.tuples(
        *[st.floats(-5.0, 5.0)] + [st.floats(0.0, 5.0)] * 5 + [st.sampled_from((0.0, 0.2, 0.5))] * 2
    ),
    floor=st.floats(1e-9, 3.0),
    deviation=st.floats(-60.0, 60.0),
)
def test_a_band_scores_and_clips_as_the_tails_do(
    tails: tuple[float, float, float, float, float, float, float, float],
    floor: float,
    deviation: float,
) -> None:
    """A fit's `Band` gives exactly `tail_p`'s probability and `tail_edges`' fire and
    clearing edges (within `KEEP` scales, and the fire edges as they are), whatever the
    tails, their index (exponential or generalized Pareto) and the floor."""
    band = band_of(tails, floor, 1e-4 / 2, 1e-2 / 2)
    for x in (deviation, *tails[2:6], *band[3:7], *band[9:13]):  # either side of each edge
        for at in (x, -x, 1.01 * x, -1.01 * x, 0.99 * x, -0.99 * x):
            assert band_p(band, at) == tail_p(tails, at, floor)
    if tails[1] > 0:
        wide = KEEP * max(tails[1], floor)
        fire = tail_edges(tails, 1e-4 / 2, floor)
        clear = tail_edges(tails, 1e-2 / 2, floor)
        assert band[9:13] == tuple(min(edge, wide) for edge in (*fire, *clear))
        assert band[13:] == fire


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("zone", "minutes"),
    [("Europe/Paris", 10), ("America/St_Johns", 15), ("Australia/Lord_Howe", 30)],
)
def test_a_series_in_a_time_zone_is_scored_alike_through_its_changes(
    zone: str, minutes: int, shape: str
) -> None:
    """Issue 15: a detector reading its calendar in a time zone gives the same verdicts
    batched as live over five weeks that cross a change of daylight-saving time (one
    half an hour off the UTC hour, one of half an hour)."""
    rng = random.Random(f"{zone}{minutes}{shape}")
    step = minutes * MINUTE
    start = 1_790_864_000_000_000  # 2026-10-01 14:13 UTC, before every change of the three
    values = _series(rng, shape, 35 * 24 * 60 // minutes, step)
    times = [start + i * step for i in range(len(values))]
    live = RobustSeasonal(step_us=step, timezone=zone)
    expected = []
    for at, x in zip(times, values, strict=True):
        expected.append(live.score(at, x))
        live.learn(at, x)
    scores = score_series(RobustSeasonal(step_us=step, timezone=zone), times, values)
    assert [scores.verdict(i) for i in range(len(values))] == expected


@pytest.mark.parametrize("minutes", [10, 15, 60])
def test_a_first_weekend_on_a_change_of_time_is_scored_alike(minutes: int) -> None:
    """Issue 15: a weekly series in Paris that starts on the Thursday before the spring
    change (its first weekend loses an hour, its first Saturday starts at the local
    midnight) gives the same verdicts batched as live through the weekend's shift and the
    Monday's return."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    start = 1_774_566_000_000_000  # 2026-03-26 23:00 UTC: Friday's midnight in Paris
    values = []
    for i in range(10 * 24 * 60 // minutes):
        t = i * step / 86_400_000_000
        x = (100 + 20 * math.sin(2 * math.pi * t)) * (0.6 if 1 <= t < 3 else 1.0)
        values.append(x + rng.gauss(0, 2) + (rng.choice((-30, 30)) if rng.random() < 0.01 else 0))
    times = [start + i * step for i in range(len(values))]
    live = RobustSeasonal(step_us=step, timezone="Europe/Paris")
    expected = []
    for at, x in zip(times, values, strict=True):
        expected.append(live.score(at, x))
        live.learn(at, x)
    scores = score_series(RobustSeasonal(step_us=step, timezone="Europe/Paris"), times, values)
    assert [scores.verdict(i) for i in range(len(values))] == expected


@pytest.mark.parametrize("minutes", [5, 10, 60])
def test_a_shops_counts_are_scored_alike(minutes: int) -> None:
    """Issue 15: a shop's sales counts (closed nights and Sundays, a first week, a till
    outage) get the same verdict from `score_series` as from `RobustSeasonal.score`, sample
    by sample (the first night, the first closed day and the zero runs' shares)."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    per_day = 1440 // minutes
    times, values = [], []
    for i in range(16 * per_day):
        hour = (i % per_day) * minutes / 60
        day = i // per_day
        open_ = 8.5 <= hour < 19 and day % 7 != 3  # day 0 a Thursday: closed on Sundays
        rate = 2.0 * minutes / 10 if open_ else 0.3 * minutes / 60
        if day == 10 and 11 <= hour < 13:
            rate = 0.0
        times.append(T0 + i * step)
        values.append(_poisson(rng, rate))
    _assert_alike(step, times, values)


@pytest.mark.parametrize(("minutes", "opens"), [(15, 7.0), (30, 9.0), (60, 8.0)])
def test_a_shops_first_days_and_steps_are_scored_alike(minutes: int, opens: float) -> None:
    """Issue 15: a shop opening and closing on the hour, closed two days a week, with a
    rush in its second week, gets the same verdict from `score_series` as from
    `RobustSeasonal.score`, sample by sample (its first day's shifts kept in the profiles,
    the steps between two knots, a closed day's zeros left out of the run's rarity)."""
    rng = random.Random(minutes * 7)
    step = minutes * MINUTE
    per_day = 1440 // minutes
    times, values = [], []
    for i in range(15 * per_day):
        hour = (i % per_day) * minutes / 60
        day = i // per_day
        open_ = opens <= hour < 18 and day % 7 not in (3, 4)  # day 0 a Thursday
        rate = (30.0 if open_ else 0.5) * minutes / 60
        if day == 9 and 12 <= hour < 13:
            rate *= 2
        times.append(T0 + i * step)
        values.append(_poisson(rng, rate))
    _assert_alike(step, times, values)


def test_a_cafes_outage_is_scored_alike() -> None:
    """Issue 15: a café's counts over three weeks, with a two-hour outage where it sells
    most, get the same verdict from `score_series` as from `RobustSeasonal.score`, sample by
    sample (a zero left to its run, the predictor held through the run, each day's share of
    zeros against the most closed time of day's)."""
    rng = random.Random(15)
    step = 10 * MINUTE
    times, values = [], []
    for i in range(21 * 144):
        hour = (i % 144) / 6
        rate = 4.0 if 7.5 <= hour < 14 else 0.06
        if i // 144 == 16 and 9 <= hour < 11:
            rate = 0.0
        times.append(T0 + i * step)
        values.append(_poisson(rng, rate))
    _assert_alike(step, times, values)


@pytest.mark.parametrize("minutes", [1, 5])
def test_a_stuck_source_and_a_quantised_ones_repeats_are_scored_alike(minutes: int) -> None:
    """Issue 15: a noisy series whose source repeats one value for 8 hours, then a sensor
    whose readings repeat for a dozen samples and read 0 every night, get the same verdict
    from `score_series` as from `RobustSeasonal.score`, sample by sample (the stuck run
    alerted and its residuals left out of the tails, the short average and the evidence;
    the sensor's runs and nights kept)."""
    rng = random.Random(minutes)
    step = minutes * MINUTE
    per_day = 1440 // minutes
    values, noise = [], 0.0
    for i in range(4 * per_day):
        hour = (i % per_day) * minutes / 60
        noise = 0.6 * noise + rng.gauss(0, 2.5)
        x = 20 + 15 * math.exp(-(((hour - 14) / 4) ** 2)) + noise
        values.append(x if minutes == 1 else float(round(x / 8)) if hour >= 6 else 0.0)
    first = 2 * per_day + 9 * 60 // minutes
    values[first : first + 8 * 60 // minutes] = [values[first - 1]] * (8 * 60 // minutes)
    times = [T0 + i * step for i in range(len(values))]
    _assert_alike(step, times, values)


def test_a_latency_whose_level_doubles_is_scored_alike() -> None:
    """Issue 15: a latency (log-normal noise) whose level doubles, and its noise with it,
    gets the same verdicts from `score_series` as from `RobustSeasonal.score`, sample by
    sample (the residuals learned before the shift widened once its noise is measured)."""
    rng = random.Random(3)
    step = 5 * MINUTE
    values = []
    for i in range(3 * 288):
        hour = (i % 288) / 12
        x = 200 * (1 + 0.3 * math.exp(-(((hour - 15) / 4) ** 2))) * math.exp(rng.gauss(0, 0.1))
        values.append(x * (2 if i >= 2 * 288 else 1))
    times = [T0 + i * step for i in range(len(values))]
    _assert_alike(step, times, values)


def test_a_series_of_huge_values_settles_its_first_day_alike() -> None:
    """A series of values near the float's limit (a counter in yoctoseconds, a corrupt
    source) is learned through its first day's settling without an overflow, and scored
    alike live and replayed: the settling's check of the day's cycle squared them with
    `** 2`, which raises past 1e154 where a product is inf."""
    rng = random.Random(5)
    step = 60 * MINUTE
    values = [1e300 * (1.0 + 0.1 * rng.random()) for _ in range(30)]
    times = [T0 + i * step for i in range(len(values))]
    verdicts = _assert_alike(step, times, values)
    assert min(v.p_value for v in verdicts) > 1e-4  # noise within 10 %: nothing fires


@pytest.mark.parametrize("hours", [12, 24])
def test_a_count_of_a_day_or_half_a_day_is_scored_alike(hours: int) -> None:
    """A count sampled every 12 or 24 hours (a day's orders), which has no profile knots,
    is scored live without an error and alike replayed, a day with ten times the orders
    alerted: judging a count between two knots (`_between`) took every time of day modulo
    the number of knots, none here."""
    rng = random.Random(2)
    step = hours * 60 * MINUTE
    values = [_poisson(rng, 40.0) for _ in range(60)] + [400.0]
    times = [T0 + i * step for i in range(len(values))]
    verdicts = _assert_alike(step, times, values)
    assert verdicts[-1].p_value < 1e-4
