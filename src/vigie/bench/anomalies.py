"""`vigie bench anomalies`: the anomaly rule at its defaults on labelled generated series.

Each kind of behaviour a real series shows (spikes, level shifts, trend changes, changes of
the seasonal pattern or of the variance, quantised values, a large offset, weekly
seasonality, spiky counts, missing data) is generated `series` times with realistic noise
(autocorrelated, heavy-tailed), a random sampling period (5 min to 1 h), daily and often
weekly seasonality, one to three labelled incident windows; incident-free series of the
same shapes give the false-alert rate. Behaviours common in real series that the kinds above
do not cover follow, from their own random stream (so the kinds above keep their series for
a seed): heavy-tailed noise (Student's t, 3 degrees of freedom: latencies, returns),
low-rate Poisson counts (mentions), strongly autocorrelated noise on a daily pattern (a
server metric) and a geometric random walk (a price), each incident-free and with labelled
incidents. A shop's sales counts (opening hours, closed days; a till outage, a rush, a day
closed by mistake) come last, from a stream of their own too, and are reported apart. With a
`timezone`, each series' daily and weekly pattern follows that zone's
local time (from a Thursday's local midnight, daylight-saving changes included; the
real-world kinds' daily pattern stays on UTC days) and the rule reads its calendar there.
Every series is replayed through the same path as
`vigie backtest --csv` (`replay_samples`: the anomaly rule's `AnomalyWatch` and the alert
lifecycle) and scored per kind with the windowed scoring of `vigie.rules.scorecard`,
against raising no alert at all. Replay speed is counted in CPU seconds of the replay only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.table import Table

from vigie.kpi.metrics import Metric
from vigie.kpi.wallclock import UTC_NAME, WallClock
from vigie.rules.backtest import replay_samples
from vigie.rules.definitions import Rule
from vigie.rules.detectors.compiled import compiled_scorer
from vigie.rules.scorecard import Scorecard, score
from vigie.types import to_us

DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00Z, a Thursday
PERIODS_MIN = (5, 10, 15, 30, 60)

Rng = np.random.Generator
Incidents = list[tuple[int, int]]  # (first, last) sample index of each incident


@dataclass
class Series:
    """One generated series: sample times (us), values (NaN: missing), incident windows."""

    kind: str
    times: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]
    step_us: int = 0  # the sampling period when the times are irregular (else 0)


def _base(
    rng: Rng, n: int, step_min: int, *, weekly: bool | None = None, t: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """A level, a daily pattern (often a weekly one) and autocorrelated heavy-tailed noise;
    `t`: each sample's local time in days since the start (default: the sample's index)."""
    if t is None:
        t = np.arange(n) * step_min / 1440.0  # days
    level = rng.uniform(20, 200)
    daily = rng.uniform(0, 0.4) * level * np.sin(2 * np.pi * (t - rng.uniform(0, 1)))
    week = weekly if weekly is not None else rng.random() < 0.4
    weekend = ((np.floor(t) + 3) % 7 >= 5) if week else np.zeros(n, bool)  # starts Thursday
    noise_sd = rng.uniform(0.02, 0.08) * level
    shocks = rng.standard_t(6, n) * noise_sd
    phi = rng.uniform(0.2, 0.7)
    noise = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + math.sqrt(1 - phi * phi) * shocks[i]
        noise[i] = acc
    # The weekend scales the day's pattern (traffic falls most when it is high).
    return (level + daily) * (1 - weekend * rng.uniform(0.2, 0.5)) + noise, noise_sd * 1.22


_SD = [1.0]  # the noise's standard deviation of the series being generated


def _noise_sd(values: np.ndarray) -> float:
    """The standard deviation of the generated noise (t with 6 degrees of freedom: 1.22
    times its scale), which incident sizes are counted in."""
    return _SD[0]


def _starts(rng: Rng, n: int, count: int, per_day: int) -> list[int]:
    """Incident start indices after two days of history, spaced apart."""
    low, span = 2 * per_day, n - 3 * per_day
    slots = np.sort(rng.choice(span // (per_day // 2), size=count, replace=False))
    return [int(low + s * (per_day // 2) + rng.integers(0, per_day // 4)) for s in slots]


def _spikes(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    sd, out = _noise_sd(v), []
    for s in _starts(rng, len(v), int(rng.integers(1, 4)), per_day):
        width = int(rng.integers(1, 4))
        v[s : s + width] += rng.choice([-1, 1]) * rng.uniform(7, 14) * sd
        out.append((s, s + width - 1))
    return out


def _level_shift(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    s = _starts(rng, len(v), 1, per_day)[0]
    v[s:] += rng.choice([-1, 1]) * rng.uniform(5, 10) * _noise_sd(v)
    return [(s, s)]


def _trend_change(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    s = _starts(rng, len(v), 1, per_day)[0]
    ramp = np.arange(len(v) - s) / (per_day / 4)  # reaches the full size in 6 hours
    v[s:] += rng.choice([-1, 1]) * np.minimum(ramp, 1.0) * rng.uniform(8, 14) * _noise_sd(v)
    return [(s, s + per_day // 4)]


def _seasonality_change(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    s = _starts(rng, len(v), 1, per_day)[0]
    t = np.arange(len(v) - s) / per_day
    v[s:] += rng.uniform(6, 10) * _noise_sd(v) * np.sin(2 * np.pi * t + rng.uniform(0, 1))
    return [(s, s + per_day // 2)]


def _variance_change(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    s = _starts(rng, len(v), 1, per_day)[0]
    e = min(len(v), s + int(rng.integers(per_day // 4, per_day)))
    v[s:e] += rng.standard_normal(e - s) * rng.uniform(5, 8) * _noise_sd(v)
    return [(s, e - 1)]


def _quantised(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    out = _level_shift(rng, v, per_day) if rng.random() < 0.5 else _spikes(rng, v, per_day)
    quantum = _noise_sd(v) * rng.uniform(1, 3)
    v[:] = np.round(v / quantum) * quantum
    return out


def _large_offset(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    v[:] = v - v.mean() + rng.uniform(500, 5000)
    return _spikes(rng, v, per_day) if rng.random() < 0.5 else _variance_change(rng, v, per_day)


def _weekly(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    """A weekday that looks like a weekend (a drop), on a strongly weekly series."""
    s = _starts(rng, len(v), 1, per_day)[0]
    e = min(len(v), s + per_day // 3)
    v[s:e] -= rng.uniform(6, 10) * _noise_sd(v)
    return [(s, e - 1)]


def _spiky_counts(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    """Overdispersed counts with ordinary bursts; the incident is an outage (zeros)."""
    rate = np.maximum(v / v.mean() * rng.uniform(0.5, 6), 0.05)
    bursts = rng.random(len(v)) < 0.02
    counts = rng.negative_binomial(2, 2 / (2 + rate * (1 + 4 * bursts)))
    s = _starts(rng, len(v), 1, per_day)[0]
    e = min(len(v), s + max(6, per_day // 6))
    counts[s:e] = 0 if rate[s:e].mean() > 2 else counts[s:e] * 0 + int(8 * rate.mean() + 10)
    v[:] = counts
    return [(s, e - 1)]


def _missing(rng: Rng, v: np.ndarray, per_day: int) -> Incidents:
    out = _spikes(rng, v, per_day)
    for _ in range(int(rng.integers(2, 6))):
        gap = int(rng.integers(1, per_day // 2))
        s = int(rng.integers(0, len(v) - gap))
        if not any(a - gap <= s <= b + 1 for a, b in out):
            v[s : s + gap] = np.nan
    return out


KINDS: dict[str, Callable[[Rng, np.ndarray, int], Incidents]] = {
    "spikes": _spikes,
    "level_shift": _level_shift,
    "trend_change": _trend_change,
    "seasonality_change": _seasonality_change,
    "variance_change": _variance_change,
    "quantised": _quantised,
    "large_offset": _large_offset,
    "weekly": _weekly,
    "spiky_counts": _spiky_counts,
    "missing_data": _missing,
}
FREE = ("free_smooth", "free_weekly", "free_counts", "free_quantised", "free_offset")
# A shop's sales counts, drawn from their own random stream (`shop_stream`) after the kinds
# above, so that adding them left every earlier kind's series as it was.
SHOPS = ("shop", "free_shop")
SHOP_INCIDENTS = ("outage", "rush", "closed")


def shop_stream(seed: int) -> Rng:
    """The random stream of the shop kinds, apart from the others'."""
    return np.random.default_rng([seed, 1])


def _calendar(n: int, step_us: int, timezone: str) -> tuple[int, np.ndarray]:
    """The first sample's time and each sample's local time in days since the first local
    midnight (a Thursday)."""
    if timezone == UTC_NAME:
        return START_US, np.arange(n) * step_us / DAY_US
    start = to_us(datetime(2026, 1, 1, tzinfo=ZoneInfo(timezone)))  # local midnight
    walls = np.asarray(WallClock(timezone).walls((start + np.arange(n) * step_us).tolist()))
    return start, (walls - START_US) / DAY_US


def shop(rng: Rng, *, days: int, incident: bool, timezone: str = UTC_NAME) -> Series:
    """A shop's sales per window (Poisson): open from 07:00-10:00 to 17:00-21:00 with a
    midday peak of 20 to 200 an hour, closed on Sundays (and Mondays, 40 %) with up to one
    sale an hour; with `incident`, after its first week, one of: the till down for two hours
    of an open day (no sale), a rush (twice the sales for an hour), or a day closed by
    mistake."""
    step_min = int(rng.choice(PERIODS_MIN))
    per_day = 1440 // step_min
    n = days * per_day
    step_us = step_min * 60_000_000
    start, local = _calendar(n, step_us, timezone)
    opens, closes = rng.uniform(7, 10), rng.uniform(17, 21)
    closed = [3, 4] if rng.random() < 0.4 else [3]  # day 0 is a Thursday
    peak, night = rng.uniform(20, 200), rng.uniform(0, 1)
    hour = (local % 1.0) * 24
    day = np.floor(local).astype(np.int64)
    is_open = (hour >= opens) & (hour < closes) & ~np.isin(day % 7, closed)
    shape = 0.5 + 0.5 * np.sin(np.pi * (hour - opens) / (closes - opens))
    rate = np.where(is_open, peak * shape, night) * step_min / 60
    incidents: Incidents = []
    if incident:
        first = 8 if days > 10 else 1  # after a first week when there is one
        open_days = [d for d in range(first, days - 1) if d % 7 not in closed]
        d = int(rng.choice(open_days))
        what = SHOP_INCIDENTS[int(rng.integers(0, len(SHOP_INCIDENTS)))]
        if what == "closed":
            a, b = int(np.argmax(day == d)), int(np.argmax(day == d + 1))
            rate[a:b] = night * step_min / 60
        else:
            hours = 2.0 if what == "outage" else 1.0
            begin = rng.uniform(opens + 1, closes - 1 - hours)
            inside = np.flatnonzero((day == d) & (hour >= begin) & (hour < begin + hours))
            a, b = int(inside[0]), int(inside[-1]) + 1
            rate[a:b] = 0.0 if what == "outage" else 2 * rate[a:b]
        incidents.append((a, b))
    values = rng.poisson(rate).astype(float)
    times = start + np.arange(n, dtype=np.int64) * step_us
    tolerance = max(3, per_day // 48) * step_us
    windows = [(int(times[a]), int(times[min(b, n - 1)]) + tolerance) for a, b in incidents]
    return Series("free_shop" if not incident else "shop", times, values, windows)


def _heavy(rng: Rng, n: int, step_min: int, incidents: bool) -> tuple[np.ndarray, Incidents]:
    """Student-t noise (3 degrees of freedom) around a level, with a mild daily pattern; the
    incidents are spikes far beyond the noise's own extremes, or a lasting shift."""
    per_day = 1440 // step_min
    t = np.arange(n) / per_day
    level = rng.uniform(20, 500)
    scale = rng.uniform(0.02, 0.1) * level
    daily = rng.uniform(0, 2) * scale * np.sin(2 * np.pi * (t - rng.uniform(0, 1)))
    v = level + daily + rng.standard_t(3, n) * scale
    out: Incidents = []
    if incidents and rng.random() < 0.5:
        for s in _starts(rng, n, int(rng.integers(1, 3)), per_day):
            width = int(rng.integers(1, 4))
            v[s : s + width] += rng.choice([-1, 1]) * rng.uniform(40, 80) * scale
            out.append((s, s + width - 1))
    elif incidents:
        s = _starts(rng, n, 1, per_day)[0]
        v[s:] += rng.choice([-1, 1]) * rng.uniform(5, 10) * scale
        out.append((s, s))
    return v, out


def _poisson(rng: Rng, n: int, step_min: int, incidents: bool) -> tuple[np.ndarray, Incidents]:
    """Poisson counts at a low rate (0.2 to 2 per sample, a mild daily pattern); the
    incidents are a burst (a post that spreads: ten times the rate for a few samples) and
    an outage (nothing counted for six hours or more)."""
    per_day = 1440 // step_min
    t = np.arange(n) / per_day
    rate = rng.uniform(0.2, 2.0) * (1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * t))
    out: Incidents = []
    if incidents:
        first, second = _starts(rng, n, 2, per_day)
        burst, outage = (first, second) if rng.random() < 0.5 else (second, first)
        width = int(rng.integers(3, 9))
        rate[burst : burst + width] *= rng.uniform(8, 15)
        length = max(24, per_day // 4)
        if outage < burst:  # it ends before the burst
            length = min(length, burst - outage - 1)
        rate[outage : outage + length] = 0.0
        out = sorted([(burst, burst + width - 1), (outage, min(n, outage + length) - 1)])
    return rng.poisson(rate).astype(float), out


def _autocorrelated(
    rng: Rng, n: int, step_min: int, incidents: bool
) -> tuple[np.ndarray, Incidents]:
    """AR(1) noise (phi 0.9 to 0.97: slow wanders) on a daily pattern and no weekly one;
    the incident is a level shift of a few of the noise's standard deviations."""
    per_day = 1440 // step_min
    t = np.arange(n) / per_day
    phi = rng.uniform(0.9, 0.97)
    sd = rng.uniform(1, 5)  # the noise's stationary standard deviation
    shocks = rng.standard_normal(n) * sd * math.sqrt(1 - phi * phi)
    noise = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        noise[i] = acc
    level = rng.uniform(20, 80)
    v = level + rng.uniform(2, 5) * sd * np.sin(2 * np.pi * (t - rng.uniform(0, 1))) + noise
    out: Incidents = []
    if incidents:
        s = _starts(rng, n, 1, per_day)[0]
        v[s:] += rng.choice([-1, 1]) * rng.uniform(4, 8) * sd
        out.append((s, s))
    return v, out


def _random_walk(rng: Rng, n: int, step_min: int, incidents: bool) -> tuple[np.ndarray, Incidents]:
    """A geometric random walk (a price: 0.1 % to 0.4 % per sample); the incident is a jump
    (a crash or a rally) of 30 to 60 of those steps at once."""
    vol = rng.uniform(0.001, 0.004)
    moves = rng.standard_normal(n) * vol
    out: Incidents = []
    if incidents:
        s = _starts(rng, n, 1, 1440 // step_min)[0]
        moves[s] += rng.choice([-1, 1]) * rng.uniform(30, 60) * vol
        out.append((s, s))
    return rng.uniform(10, 1000) * np.exp(np.cumsum(moves)), out


REAL: dict[str, Callable[[Rng, int, int, bool], tuple[np.ndarray, Incidents]]] = {
    "heavy_tailed": _heavy,
    "poisson_counts": _poisson,
    "autocorrelated": _autocorrelated,
    "random_walk": _random_walk,
}
"""Real-world behaviours the kinds above do not cover; each also comes incident-free, as
`free_` and its name."""
REAL_FREE = tuple(f"free_{kind}" for kind in REAL)


def generate(kind: str, rng: Rng, *, days: int, timezone: str = UTC_NAME) -> Series:
    """One series of `kind` (a key of `KINDS` or `REAL`, or one of `FREE` or `REAL_FREE`),
    labelled; its pattern in the local time of `timezone`."""
    step_min = int(rng.choice(PERIODS_MIN))
    per_day = 1440 // step_min
    n = days * per_day
    step_us = step_min * 60_000_000
    start, local = START_US, None
    if timezone != UTC_NAME:
        start, local = _calendar(n, step_us, timezone)
    if kind in REAL or kind in REAL_FREE:
        values, incidents = REAL[kind.removeprefix("free_")](rng, n, step_min, kind in REAL)
        return _labelled(kind, values, incidents, step_min, start)
    weekly = True if kind in ("weekly", "free_weekly") else None
    values, _SD[0] = _base(rng, n, step_min, weekly=weekly, t=local)
    if kind in KINDS:
        incidents = KINDS[kind](rng, values, per_day)
    else:
        incidents = []
        if kind == "free_counts":
            rate = np.maximum(values / values.mean() * rng.uniform(0.5, 6), 0.05)
            bursts = rng.random(n) < 0.02
            values = rng.negative_binomial(2, 2 / (2 + rate * (1 + 4 * bursts))).astype(float)
        elif kind == "free_quantised":
            quantum = _noise_sd(values) * rng.uniform(1, 3)
            values = np.round(values / quantum) * quantum
        elif kind == "free_offset":
            values = values - values.mean() + rng.uniform(500, 5000)
    return _labelled(kind, values, incidents, step_min, start)


def _labelled(
    kind: str, values: np.ndarray, incidents: Incidents, step_min: int, start: int
) -> Series:
    """The series with its sample times (from `start`) and labelled windows."""
    n = len(values)
    per_day = 1440 // step_min
    step_us = step_min * 60_000_000
    times = start + np.arange(n, dtype=np.int64) * step_us
    # A labelled window: from the incident's start to its end plus a little tolerance.
    tolerance = max(3, per_day // 48) * step_us
    windows = [(int(times[a]), int(times[min(b, n - 1)]) + tolerance) for a, b in incidents]
    return Series(kind, times, values, windows)


def _rule(timezone: str) -> Rule:
    zone = None if timezone == UTC_NAME else timezone
    return Rule(name="odd", kind="anomaly", metric="value", timezone=zone)


def _metric(step_us: int) -> Metric:
    return Metric(
        name="value", kind="average", value="properties.value", window=f"{step_us // 1_000_000}s"
    )


def run_anomalies_bench(
    *,
    series: int,
    days: int,
    seed: int,
    console: Console,
    timezone: str = UTC_NAME,
    family: str = "default",
) -> dict[str, Any]:
    """Generate, replay and score; returns the figures per kind and overall. `family`
    "holdout": the series of `vigie.bench.holdout` instead (their own lengths: `days` unused)."""
    rule = _rule(timezone)
    cards: dict[str, Scorecard] = {}
    samples_total = 0
    cpu = 0.0
    for s in _family(family, series=series, days=days, seed=seed, timezone=timezone):
        step_us = s.step_us or int(s.times[1] - s.times[0])
        rows = [
            (int(t), i, float(x))
            for i, (t, x) in enumerate(zip(s.times, s.values, strict=True))
            if not math.isnan(x)
        ]
        started = time.process_time()
        changes = replay_samples(_metric(step_us), [rule], rows)
        cpu += time.process_time() - started
        samples_total += len(rows)
        fired = _alert_starts(changes)
        card = score(fired, s.windows, start_us=int(s.times[0]), end_us=int(s.times[-1]))
        cards[s.kind] = cards[s.kind].add(card) if s.kind in cards else card
    if family == "holdout":
        from vigie.bench import holdout  # it builds on this module's `Series`

        kinds, free = list(holdout.INCIDENTS), [k for k in holdout.KINDS if k.startswith("free")]
        figures = _figures(cards, samples_total, cpu, kinds=(kinds, free, [], [], [], []))
    else:
        figures = _figures(
            cards,
            samples_total,
            cpu,
            kinds=(list(KINDS), FREE, list(REAL), REAL_FREE, ["shop"], ["free_shop"]),
        )
    _print(figures, console)
    return figures


def _family(family: str, *, series: int, days: int, seed: int, timezone: str) -> Iterator[Series]:
    """The labelled series of `family`, `series` of each kind, in order."""
    if family == "holdout":
        from vigie.bench import holdout

        rng = holdout.stream(seed)
        for kind in holdout.KINDS:
            for _ in range(series):
                yield holdout.generate(kind, rng)[0]
        return
    rng = np.random.default_rng(seed)
    real_rng = np.random.default_rng([seed, 15])  # the real-world kinds' own stream
    shops = shop_stream(seed)
    for kind in [*KINDS, *FREE, *REAL, *REAL_FREE, *SHOPS]:
        for _ in range(series):
            if kind in SHOPS:
                yield shop(shops, days=days, incident=kind == "shop", timezone=timezone)
            else:
                own = real_rng if kind in REAL or kind in REAL_FREE else rng
                yield generate(kind, own, days=days, timezone=timezone)


def _alert_starts(changes: list[Any]) -> list[int]:
    """When each alert (incident) first fired, in us."""
    first: dict[str, int] = {}
    for alert in changes:
        if alert.status == "firing" and alert.id not in first and alert.fired_at is not None:
            first[alert.id] = int(alert.fired_at.timestamp() * 1_000_000)
    return list(first.values())


def _totals(
    cards: dict[str, Scorecard], kinds: Sequence[str], free: Sequence[str]
) -> dict[str, Any]:
    """Detection rate and false alerts per series-week over some kinds and incident-free
    kinds."""
    incidents = [cards[k] for k in kinds if k in cards]
    quiet = [cards[k] for k in free if k in cards]
    windows = sum(c.windows for c in incidents)
    detected = sum(c.detected for c in incidents)
    free_weeks = sum(c.days for c in quiet) / 7
    incident_weeks = sum(c.days for c in incidents) / 7
    return {
        "detection_rate": round(detected / windows, 4) if windows else None,
        "false_alerts_per_series_week_incident_free": round(
            sum(c.false_alerts for c in quiet) / free_weeks, 3
        )
        if free_weeks
        else None,
        "false_alerts_per_series_week_with_incidents": round(
            sum(c.false_alerts for c in incidents) / incident_weeks, 3
        )
        if incident_weeks
        else None,
    }


def _figures(
    cards: dict[str, Scorecard],
    samples: int,
    cpu: float,
    *,
    kinds: tuple[
        Sequence[str], Sequence[str], Sequence[str], Sequence[str], Sequence[str], Sequence[str]
    ],
) -> dict[str, Any]:
    """The figures over all kinds and per group; `kinds`: the first group's kinds with
    incidents and incident-free ones, the second's, the shops'."""
    first, first_free, second, second_free, shops, shops_free = kinds
    per_kind = {
        kind: card.report()
        | {"no_alert_score": card.null_score, "beats_no_alert": card.normalized >= 0}
        for kind, card in cards.items()
    }
    return {
        **_totals(cards, [*first, *second], [*first_free, *second_free]),
        "original_kinds": _totals(cards, first, first_free),
        "real_world_kinds": _totals(cards, second, second_free),
        "kinds_below_no_alert": [k for k in [*first, *second] if cards[k].normalized < 0],
        # The shops apart: the figures above stay comparable with those of earlier runs.
        "shop": _totals(cards, shops, shops_free),
        "samples": samples,
        "replay_cpu_s": round(cpu, 3),
        "samples_per_cpu_s": round(samples / cpu) if cpu else None,
        # Whether the Cython-compiled scorer replayed them (`detectors.compiled`), or Python.
        "compiled": compiled_scorer() is not None,
        "per_kind": per_kind,
    }


def _print(figures: dict[str, Any], console: Console) -> None:
    table = Table(title="vigie bench anomalies (windowed scoring; 0 = no alert, 100 = perfect)")
    for column in ("kind", "windows", "detected", "false", "false/day", "median TTD s", "score"):
        table.add_column(column)
    for kind, r in figures["per_kind"].items():
        table.add_row(
            kind,
            str(r["windows"]),
            str(r["detected"]),
            str(r["false_alerts"]),
            f"{r['false_alerts_per_day']:.3f}",
            str(r["median_time_to_detect_s"]),
            f"{r['normalized_score']:.1f}",
        )
    console.print(table)
    console.print(
        f"detection rate {figures['detection_rate']}, "
        f"false alerts per series-week (incident-free) "
        f"{figures['false_alerts_per_series_week_incident_free']}, "
        f"{figures['samples_per_cpu_s']} samples per CPU second "
        f"({'compiled' if figures['compiled'] else 'pure Python'} scorer)"
    )
    shop = figures["shop"]
    if shop["detection_rate"] is None:
        return
    console.print(
        f"shops: detection rate {shop['detection_rate']}, false alerts per series-week "
        f"{shop['false_alerts_per_series_week_incident_free']} (incident-free), "
        f"{shop['false_alerts_per_series_week_with_incidents']} (with incidents)"
    )
