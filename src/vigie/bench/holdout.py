"""The holdout family of `vigie bench anomalies`: labelled series written apart from the
default family's generator, from how real series behave, to check that the anomaly rule's
defaults generalise beyond the series it was tuned on (issue 15).

Each series has a host, drawn per series: a server's CPU (1-minute samples, a working-day
cycle with a lunch dip, hourly cron bursts, quieter weekends), a request latency (5-minute,
log-normal, rising with load), a site's hourly traffic (a weekly cycle, an evening peak,
slow growth, in Paris time across a daylight-saving change), a shop's orders (Poisson at
a low or a high rate, 5 or 15 minutes, closed at night), a temperature or a price (a large
offset, a slow drift, no incident of its own), a quantised sensor (a coarse step). Series
last from 2 days to 6 weeks and start at any time; some are sampled irregularly, with gaps.
The incident kinds are a spike, a dip, a level shift, a stuck (flat-lined) sensor, a
variance burst and an outage (zeros), each on the hosts where it is met; each free kind is
one host without incident. Labelled windows run from an incident's start to its end plus
half an hour (at least three samples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from vigie.bench.anomalies import Series

MIN_US = 60_000_000
HOUR_US = 60 * MIN_US
DAY_US = 24 * HOUR_US
YEAR_START_US = 1_767_225_600_000_000  # 2026-01-01T00:00Z
PARIS = ZoneInfo("Europe/Paris")
DST_CHANGES_US = (  # 2026-03-29 and 2026-10-25 at 01:00Z
    1_774_746_000_000_000,
    1_792_890_000_000_000,
)

Rng = np.random.Generator


@dataclass
class Host:
    """A normal series before any incident: sample times (us), values, the size of its
    ordinary sample-to-sample noise, and how an incident scales on it."""

    name: str
    times: np.ndarray
    values: np.ndarray
    noise: float
    counts: bool = False  # values are counts (an outage is zeros, a dip keeps integers)
    step_us: int = 0  # the sampling period, once the times are irregular


def _grid(rng: Rng, step_min: int, days: float, start_us: int | None = None) -> np.ndarray:
    """Regular sample times from a random start (on the step) lasting `days`."""
    step = step_min * MIN_US
    if start_us is None:
        start_us = YEAR_START_US + int(rng.integers(0, 300)) * DAY_US
        start_us += int(rng.integers(0, DAY_US // step)) * step
    return start_us + np.arange(int(days * DAY_US // step), dtype=np.int64) * step


def _local(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each time's Paris hour of day (a float) and weekday (Monday 0)."""
    offsets = np.array(
        [
            int(datetime.fromtimestamp(t / 1e6, UTC).astimezone(PARIS).utcoffset().total_seconds())  # type: ignore[union-attr]
            for t in times[:: max(1, len(times) // 2000)]
        ]
    )
    # The offset changes at most twice a year: read it on a sparse grid and hold it.
    index = np.minimum(np.arange(len(times)) // max(1, len(times) // 2000), len(offsets) - 1)
    local = times // 1_000_000 + offsets[index]
    return (local % 86_400) / 3600.0, ((local // 86_400) + 3) % 7


def _ar(rng: Rng, n: int, phi: float, sd: float) -> np.ndarray:
    """Gaussian AR(1) noise of stationary standard deviation `sd`."""
    shocks = rng.standard_normal(n) * sd * np.sqrt(1 - phi * phi)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return out


def cpu(rng: Rng, days: float | None = None) -> Host:
    """A server's CPU use in %, every minute: busy in working hours with a lunch dip,
    quieter at weekends, a cron job's short burst at the top of each hour."""
    times = _grid(rng, 1, days or rng.uniform(2, 6))
    hour, weekday = _local(times)
    base, busy = rng.uniform(8, 30), rng.uniform(15, 40)
    office = np.clip((hour - 8) / 1.5, 0, 1) * np.clip((19 - hour) / 1.5, 0, 1)
    lunch = 1 - rng.uniform(0.2, 0.5) * np.exp(-(((hour - 12.75) / 0.6) ** 2))
    weekend = np.where(weekday >= 5, rng.uniform(0.1, 0.4), 1.0)
    sd = rng.uniform(1, 3)
    cron = np.where((hour % 1.0) < 3 / 60, rng.uniform(3, 8), 0.0)
    v = base + busy * office * lunch * weekend + cron + _ar(rng, len(times), 0.6, sd)
    return Host("cpu", times, np.clip(v, 0, 100), sd)


def latency(rng: Rng, days: float | None = None) -> Host:
    """A request latency in ms every 5 minutes: log-normal around a median that rises with
    the day's load."""
    times = _grid(rng, 5, days or rng.uniform(3, 15))
    hour, _ = _local(times)
    median = rng.uniform(60, 300)
    load = 1 + rng.uniform(0.1, 0.5) * np.exp(-(((hour - 15) / 4) ** 2))
    sigma = rng.uniform(0.05, 0.15)
    v = median * load * np.exp(_ar(rng, len(times), 0.3, sigma))
    return Host("latency", times, v, float(median * sigma))


def traffic(rng: Rng, days: float | None = None) -> Host:
    """A site's page views per hour over 3 to 6 weeks across a daylight-saving change, in
    Paris time: an evening peak, quieter weekends, slow growth."""
    days = days or rng.uniform(21, 42)
    change = DST_CHANGES_US[int(rng.integers(0, 2))]
    start = change - int(rng.uniform(0.3, 0.7) * days * DAY_US) // HOUR_US * HOUR_US
    times = _grid(rng, 60, days, start)
    hour, weekday = _local(times)
    peak = rng.uniform(200, 3000)
    shape = 0.15 + 0.5 * np.exp(-(((hour - 13) / 3) ** 2)) + 0.8 * np.exp(-(((hour - 21) / 2) ** 2))
    weekend = np.where(weekday >= 5, rng.uniform(0.5, 0.8), 1.0)
    growth = 1 + rng.uniform(0, 0.3) * (times - times[0]) / (times[-1] - times[0])
    mood = np.exp(_ar(rng, len(times), 0.8, 0.05))
    v = rng.poisson(peak * shape * weekend * growth * mood).astype(float)
    return Host("traffic", times, v, float(np.sqrt(peak) + 0.05 * peak), counts=True)


def orders(rng: Rng, days: float | None = None) -> Host:
    """A shop's orders per 5 or 15 minutes (Poisson), closed from midnight to 7 a.m., at a
    low (1 to 6 an hour at the peak) or a high (60 to 400) rate."""
    step = int(rng.choice([5, 15]))
    times = _grid(rng, step, days or rng.uniform(7, 28))
    hour, weekday = _local(times)
    peak = rng.uniform(1, 6) if rng.random() < 0.5 else rng.uniform(60, 400)
    open_ = (hour >= 7) & (hour < 23.5)
    shape = (
        0.3 + 0.7 * np.exp(-(((hour - 20) / 3) ** 2)) + 0.4 * np.exp(-(((hour - 12) / 1.5) ** 2))
    )
    weekly = np.where(weekday == 6, rng.uniform(1.0, 1.4), 1.0)
    rate = np.where(open_, peak * shape * weekly, 0.0) * step / 60
    v = rng.poisson(rate).astype(float)
    return Host("orders", times, v, float(np.sqrt(peak * step / 60)), counts=True)


def drift(rng: Rng, days: float | None = None) -> Host:
    """A temperature or a price every 10 minutes: a large offset, a slow drift (a smooth
    random walk of a few noise steps a day) and a small daily cycle."""
    times = _grid(rng, 10, days or rng.uniform(7, 42))
    hour, _ = _local(times)
    sd = rng.uniform(0.05, 0.5)
    wander = np.cumsum(_ar(rng, len(times), 0.98, sd * 0.3))
    cycle = rng.uniform(0, 3) * sd * np.sin(2 * np.pi * (hour - rng.uniform(0, 24)) / 24)
    v = rng.uniform(20, 5000) + wander + cycle + rng.standard_normal(len(times)) * sd
    return Host("drift", times, v, sd)


def sensor(rng: Rng, days: float | None = None) -> Host:
    """A quantised sensor (a 0.5 or 1 step, readings mostly within a step or two) every 1
    or 5 minutes, with a mild daily cycle."""
    step = int(rng.choice([1, 5]))
    times = _grid(rng, step, days or rng.uniform(2, 10))
    hour, _ = _local(times)
    quantum = float(rng.choice([0.5, 1.0]))
    v = (
        rng.uniform(15, 60)
        + rng.uniform(0.5, 3) * quantum * np.sin(2 * np.pi * (hour - 15) / 24)
        + _ar(rng, len(times), 0.7, quantum * rng.uniform(0.3, 0.8))
    )
    return Host("sensor", times, np.round(v / quantum) * quantum, quantum)


def irregular(rng: Rng, host: Host, keep: tuple[int, int] | None = None) -> Host:
    """The host sampled irregularly (times jittered by up to half a step) with a few gaps
    of one to six hours, none over the samples `keep` (an incident's first and last)."""
    step = int(host.times[1] - host.times[0])
    times = host.times + (rng.uniform(-0.45, 0.45, len(host.times)) * step).astype(np.int64)
    kept = np.ones(len(times), bool)
    for _ in range(int(rng.integers(1, 4))):
        at = int(rng.integers(0, len(times)))
        kept[at : at + max(1, int(rng.uniform(1, 6) * HOUR_US // step))] = False
    if keep is not None:
        kept[keep[0] : keep[1] + 1] = True
    return Host(host.name, times[kept], host.values[kept], host.noise, host.counts, step)


def _span(rng: Rng, host: Host, hours: tuple[float, float]) -> tuple[int, int]:
    """An incident's first and last sample index: starting after a day (or a third of the
    series if shorter) and lasting `hours`, at least one sample."""
    n = len(host.times)
    step = host.step_us or int(host.times[1] - host.times[0])
    length = max(1, int(rng.uniform(*hours) * HOUR_US // step))
    earliest = int(np.searchsorted(host.times, host.times[0] + DAY_US))
    earliest = min(earliest, n // 3)
    first = int(rng.integers(earliest, max(earliest + 1, n - length - 1)))
    return first, min(n - 1, first + length - 1)


def _spike(rng: Rng, host: Host) -> tuple[int, int]:
    first, last = _span(rng, host, (0, 0.1))
    last = min(last, first + int(rng.integers(0, 3)))
    sign = -1 if host.counts is False and rng.random() < 0.3 else 1
    if host.name == "latency":
        host.values[first : last + 1] *= rng.uniform(3, 6)
    else:
        host.values[first : last + 1] += sign * rng.uniform(8, 15) * host.noise
    return first, last


def _busy(rng: Rng, host: Host, hours: tuple[float, float]) -> tuple[int, int]:
    """A span as `_span`'s, starting when the series is above its median (a shop open, a
    server at work), where a fall shows."""
    median = float(np.median(host.values))
    for _ in range(100):
        first, last = _span(rng, host, hours)
        if host.values[first] > median:
            break
    return first, last


def _dip(rng: Rng, host: Host) -> tuple[int, int]:
    first, last = _busy(rng, host, (0.5, 3))
    host.values[first : last + 1] *= rng.uniform(0.2, 0.5)
    if host.counts:
        host.values[first : last + 1] = np.round(host.values[first : last + 1])
    return first, last


def _shift(rng: Rng, host: Host) -> tuple[int, int]:
    first, _ = _span(rng, host, (0, 0.1))
    if host.name == "latency":
        host.values[first:] *= rng.uniform(1.6, 2.5)
    else:
        host.values[first:] += rng.choice([-1, 1]) * rng.uniform(6, 12) * host.noise
        if host.name == "cpu":
            host.values[:] = np.clip(host.values, 0, 100)
    return first, first


def _stuck(rng: Rng, host: Host) -> tuple[int, int]:
    first, last = _span(rng, host, (3, 12))
    host.values[first : last + 1] = host.values[first - 1]
    return first, last


def _burst(rng: Rng, host: Host) -> tuple[int, int]:
    first, last = _span(rng, host, (1, 6))
    extra = rng.standard_normal(last + 1 - first) * rng.uniform(5, 8) * host.noise
    host.values[first : last + 1] = np.maximum(host.values[first : last + 1] + extra, 0)
    return first, last


def _outage(rng: Rng, host: Host) -> tuple[int, int]:
    first, last = _busy(rng, host, (0.5, 3))
    host.values[first : last + 1] = 0.0
    return first, last


def _high_orders(rng: Rng, days: float | None = None) -> Host:
    """Orders at a high rate, where an outage shows."""
    while True:
        host = orders(rng, days)
        if host.noise > 2:
            return host


INCIDENTS: dict[
    str, tuple[Callable[[Rng, Host], tuple[int, int]], tuple[Callable[[Rng], Host], ...]]
] = {
    "spike": (_spike, (cpu, latency, traffic, sensor)),
    "dip": (_dip, (cpu, traffic, _high_orders)),
    "level_shift": (_shift, (cpu, latency, sensor)),
    "stuck": (_stuck, (cpu, sensor, latency)),
    "variance_burst": (_burst, (cpu, latency, sensor)),
    "outage": (_outage, (traffic, _high_orders, cpu)),
}
"""Each incident kind: how it is made, and the hosts it is met on."""
FREE: dict[str, Callable[[Rng], Host]] = {
    "free_cpu": cpu,
    "free_latency": latency,
    "free_traffic_dst": traffic,
    "free_orders": orders,
    "free_drift": drift,
    "free_sensor": sensor,
}
KINDS = (*INCIDENTS, *FREE, "free_irregular")


def stream(seed: int) -> Rng:
    """The holdout family's random stream, apart from the default family's."""
    return np.random.default_rng([seed, 2026, 15])


def generate(kind: str, rng: Rng) -> tuple[Series, str]:
    """One labelled series of `kind` (one of `KINDS`) and its host's name; a quarter of the
    series with an incident are sampled irregularly."""
    windows: list[tuple[int, int]] = []
    if kind in INCIDENTS:
        make, hosts = INCIDENTS[kind]
        host = hosts[int(rng.integers(0, len(hosts)))](rng)
        first, last = make(rng, host)
        step = int(host.times[1] - host.times[0])
        start_us, end_us = int(host.times[first]), int(host.times[last])
        if rng.random() < 0.25:
            host = irregular(rng, host, keep=(first, last))
            # The window starts at the incident's first sample, wherever jitter moved it: the
            # first time past the previous sample's latest (jitter is under half a step).
            start_us = int(host.times[np.searchsorted(host.times, start_us - step // 2)])
        windows = [(start_us, end_us + max(3 * step, 30 * MIN_US))]
    elif kind == "free_irregular":
        pick = (cpu, latency, sensor)[int(rng.integers(0, 3))]
        host = irregular(rng, pick(rng))
    else:
        host = FREE[kind](rng)
    return Series(kind, host.times, host.values, windows, host.step_us), host.name
