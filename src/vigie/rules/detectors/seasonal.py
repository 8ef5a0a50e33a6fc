"""The default anomaly detector: a robust, fast-adapting level with learned seasonality.

Each candidate model (no seasonality, daily, weekly, both) predicts the next sample as a
level (exponential smoothing, updated with the residual clipped so that an outlier does
not drag it) plus its seasonal profile (one value per time slot, smoothed over periods).
With `seasonality: auto` the models run side by side and the one with the smallest recent
error is used once it has seen enough of its period; a declared seasonality falls back to
the level alone until it has. Nothing is refitted: a sample costs a few float operations.

The deviation of a value from the prediction is divided by a robust scale taken from the
model's recent residuals: the larger of the MAD and the 95th percentile of absolute
deviations (scaled to a normal's), so heavy-tailed series are judged against their own
tails, and never below the data's resolution (the smallest step seen between two values),
so a quantised series does not fire on one step. That standardised residual, or a short
average of them (a level shift of a few scales), becomes a tail p-value: one threshold
means the same on every series. After a confirmed shift (several samples in a row beyond
the clearing level, on one side) the level jumps to where the data went, so an incident
ends instead of lasting for days while a slow baseline catches up.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist

import numpy as np

from vigie.rules.detectors import Direction, SeasonalityChoice, Verdict

DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
ALPHA = 0.1  # level smoothing per sample
GAMMA = 0.3  # seasonal smoothing per period
SHIFT_RATE = 0.15  # the short average of standardised residuals
# The short average's spread under the null, doubled for the residuals' autocorrelation.
SHIFT_SPREAD = 2 * math.sqrt(SHIFT_RATE / (2 - SHIFT_RATE))
CONFIRM = 5  # samples in a row beyond the clearing level that confirm a shift
ERROR_RATE = 1 / 128  # the models' recent absolute error, compared in `auto`
RESCALE = 16  # samples between two estimates of the scale
NORMAL = NormalDist()
TAIL = 0.05  # beyond this tail probability the residuals' own (exponential) tail is used


class _Model:
    """One candidate: a level and up to two seasonal profiles (period in slots, 0: none),
    with the robust centre and scale of its recent residuals."""

    __slots__ = (
        "beta",
        "center",
        "err",
        "level",
        "name",
        "p1",
        "p2",
        "residuals",
        "s1",
        "s2",
        "scale",
        "scored",
        "seen1",
        "u",
    )

    def __init__(self, name: str, p1: int, p2: int, window: int) -> None:
        self.name = name
        self.p1, self.p2 = p1, p2
        self.s1 = [0.0] * p1
        self.seen1 = bytearray(p1)
        self.s2 = [0.0] * p2
        self.level: float | None = None
        self.err = 0.0
        self.scored = 0
        self.center = 0.0
        self.scale = 0.0
        self.u = 0.0
        self.beta = 0.0
        self.residuals: deque[float] = deque(maxlen=window)

    def predict(self, step: int) -> float:
        level = self.level if self.level is not None else 0.0
        if self.p1:
            level += self.s1[step % self.p1]
        if self.p2:
            level += self.s2[step % self.p2]
        return level

    def ready(self, step: int) -> bool:
        """Whether this model has seen this slot in a past period (its prediction means
        something)."""
        return self.level is not None and (not self.p1 or bool(self.seen1[step % self.p1]))

    def eligible(self, warmup: int) -> bool:
        """Whether its recent error can be compared with the others'."""
        return self.scored >= max(warmup, 24, (self.p2 or self.p1) // 2)

    def rescale(self) -> None:
        """Re-estimate the centre, the scale (MAD) and the tail of the recent residuals:
        beyond their 95th percentile of absolute deviation `u`, the tail is taken as
        exponential with the mean excess `beta` (peaks over threshold), so a series with
        ordinary bursts is judged against its own bursts."""
        n = len(self.residuals)
        if n < 3:
            self.center, self.scale = 0.0, 1.2533 * self.err
            self.u, self.beta = 1.96 * self.scale, 0.4 * self.scale
            return
        residuals = np.fromiter(self.residuals, np.float64, n)
        center = float(np.median(residuals))
        spread = np.abs(residuals - center)
        spread.sort()
        inflate = 1 + 10 / n  # few residuals: a wider tail
        mad = 1.4826 * float(spread[n // 2]) * inflate
        top = spread[min(n - 1, int(0.95 * n)) :]
        u = max(float(top[0]) * inflate, 1.5 * mad)
        self.center = center
        self.scale = mad
        self.u = u
        self.beta = max(float(np.mean(top)) * inflate - u, 0.4 * mad)


class RobustSeasonal:
    """A `Detector` for one series sampled every `step_us` (a metric's slide).

    `seasonality` is declared (`none`, `daily`, `weekly`, `both`) or `auto`; `p_value` is
    the tail probability below which a value is anomalous, in `direction`; nothing is
    ready before `warmup` samples. A value is judged by the model that finds it least
    surprising among the chosen one and those nearly as good that know its slot: a
    weekend that the weekly model has seen once is not an anomaly because the daily model
    is still chosen.
    """

    def __init__(
        self,
        *,
        step_us: int,
        seasonality: SeasonalityChoice = "auto",
        direction: Direction = "both",
        p_value: float = 1e-4,
        warmup: int = 12,
        window: int = 256,
    ) -> None:
        self.step_us = max(1, step_us)
        self.direction = direction
        self.warmup = warmup
        self.z_fire = _z_for(p_value, direction)
        self.p_fire = p_value if direction == "both" else 2 * p_value
        day, week = DAY_US // self.step_us, WEEK_US // self.step_us
        periods = {"none": (0, 0)}
        if day >= 2:
            periods["daily"] = (day, 0)
        if week >= 2:
            periods["weekly"] = (week, 0)
        if day >= 2 and week > day:
            periods["both"] = (day, week)
        names = list(periods) if seasonality == "auto" else ["none", seasonality]
        self.models = [_Model(n, *periods[n], window) for n in dict.fromkeys(names) if n in periods]
        self.declared = seasonality
        self.chosen = self.models[0]
        self.samples = 0
        self.quantum = math.inf
        self.last: float | None = None
        self.shift = 0.0
        self.run: list[float] = []
        self._rescale_in = 0

    def _floor(self, model: _Model) -> float:
        """The smallest scale the data allows: its resolution (the smallest step seen)."""
        floor = self.quantum if math.isfinite(self.quantum) else 0.0
        floor = max(floor, 1e-9 * max(1.0, abs(model.level or 0.0)))
        if model.scale <= 0 and self.last is not None and model.level is not None:
            floor = max(floor, abs(self.last - model.level))
        return floor

    def _tail(self, model: _Model, deviation: float) -> float:
        """The two-sided tail probability of an absolute `deviation` from the model."""
        floor = self._floor(model)
        scale = max(model.scale, floor)
        u = max(model.u, 1.96 * scale)
        beta = max(model.beta, 0.4 * scale)
        if deviation <= u:
            return max(TAIL, math.erfc(deviation / scale / math.sqrt(2)))
        return TAIL * math.exp(-(deviation - u) / beta)

    def _edge(self, model: _Model) -> float:
        """The absolute deviation whose tail probability is the threshold's."""
        scale = max(model.scale, self._floor(model))
        u = max(model.u, 1.96 * scale)
        beta = max(model.beta, 0.4 * scale)
        return u + beta * math.log(TAIL / self.p_fire)

    def score(self, at_us: int, value: float) -> Verdict:
        """How surprising `value` is at `at_us`, under the model that explains it best
        (nothing learned)."""
        step = at_us // self.step_us
        best: tuple[float, float, _Model] | None = None
        rival = 1.25 * self.chosen.err  # a much worse model would explain anything
        for model in self.models:
            if model is not self.chosen and (
                not model.ready(step) or not model.eligible(self.warmup) or model.err > rival
            ):
                continue
            expected = model.predict(step) + model.center
            p = self._tail(model, abs(value - expected))
            if best is None or p > best[0]:
                best = (p, expected, model)
        assert best is not None
        p, expected, model = best
        scale = max(model.scale, self._floor(model))
        z = math.copysign(_z_of(p), value - expected)
        shifted = ((1 - SHIFT_RATE) * self.shift + SHIFT_RATE * _clip(z, 5.0)) / SHIFT_SPREAD
        if abs(shifted) > abs(z) and (shifted > 0) == (z > 0):
            z = shifted
            p = math.erfc(abs(z) / math.sqrt(2))
        if self.direction == "up":
            p = p / 2 if z > 0 else 1.0
        elif self.direction == "down":
            p = p / 2 if z < 0 else 1.0
        band = self._edge(model)
        return Verdict(
            observed=value,
            expected=expected,
            low=expected - band,
            high=expected + band,
            scale=scale,
            z=z,
            p_value=p,
            seasonality=model.name,
            samples=self.samples,
            ready=self.samples >= self.warmup and model.level is not None,
        )

    def learn(self, at_us: int, value: float) -> None:
        """File the final value of the sample at `at_us`: update every model, the scale,
        the shift statistic, and confirm a level shift when the data has moved."""
        if not math.isfinite(value):
            return
        step = at_us // self.step_us
        if self.last is not None:
            gap = abs(value - self.last)
            if gap > 1e-9 * max(1.0, abs(value)) and gap < self.quantum:
                self.quantum = gap
        chosen = self.chosen
        residual = value - chosen.predict(step) - chosen.center
        p = self._tail(chosen, abs(residual))
        z = math.copysign(_z_of(p), residual)
        self.last = value
        for model in self.models:
            self._update(model, step, value)
        self.samples += 1
        self.shift = (1 - SHIFT_RATE) * self.shift + SHIFT_RATE * _clip(z, 5.0)
        self._confirm_shift(z, residual)
        self._rescale_in -= 1
        if self._rescale_in <= 0 or self.samples < 32:
            for model in self.models:
                model.rescale()
            self._rescale_in = RESCALE
        self._choose()

    def _update(self, model: _Model, step: int, value: float) -> None:
        if model.level is None:
            model.level = value
            if model.p1:
                model.seen1[step % model.p1] = 1
            return
        ready = model.ready(step)
        residual = value - model.predict(step)
        limit = 5.0 * 1.2533 * model.err if model.scored >= 8 else math.inf
        clipped = _clip(residual, limit)
        if ready:
            model.err += (abs(clipped) - model.err) * (ERROR_RATE if model.scored else 1.0)
            model.scored += 1
            model.residuals.append(clipped)
        model.level += ALPHA * clipped
        if model.p1:
            slot = step % model.p1
            if model.seen1[slot]:
                model.s1[slot] += GAMMA * (1 - ALPHA) * clipped
            else:
                model.seen1[slot] = 1
                model.s1[slot] = value - model.level
                return
        if model.p2:
            model.s2[step % model.p2] += GAMMA * (1 - ALPHA) * (1 - GAMMA) * clipped

    def _confirm_shift(self, z: float, residual: float) -> None:
        clear = self.z_fire / 1.5
        if abs(z) < clear or (self.run and (self.run[-1] > 0) != (residual > 0)):
            self.run.clear()
            if abs(z) < clear:
                return
        self.run.append(residual)
        if len(self.run) >= CONFIRM:
            moved = sorted(self.run)[len(self.run) // 2]
            for model in self.models:
                if model.level is not None:
                    model.level += moved
                    model.residuals.clear()
                    model.rescale()
            self.shift = 0.0
            self.run.clear()

    def _choose(self) -> None:
        if self.declared == "auto":
            best = self.models[0]
            for model in self.models[1:]:
                if model.eligible(self.warmup) and model.err < 0.9 * best.err:
                    best = model
        else:
            best = self.models[-1] if self.models[-1].eligible(self.warmup) else self.models[0]
        self.chosen = best


def _z_of(p: float) -> float:
    """The standardised deviation of a normal whose two-sided tail probability is `p`."""
    return -NORMAL.inv_cdf(min(max(p, 1e-300), 1.0) / 2) if p < 1 else 0.0


def _clip(x: float, limit: float) -> float:
    return limit if x > limit else -limit if x < -limit else x


def _z_for(p_value: float, direction: Direction) -> float:
    """The standardised deviation whose tail probability is `p_value`."""
    tail = p_value / 2 if direction == "both" else p_value
    return NORMAL.inv_cdf(1 - min(max(tail, 1e-15), 0.5))
