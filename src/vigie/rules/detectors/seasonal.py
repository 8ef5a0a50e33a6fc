"""The default anomaly detector: a robust, fast-adapting level with learned seasonality.

Each candidate model (no seasonality, daily, weekly, both) predicts the next sample as a
level (exponential smoothing, updated with the residual clipped so that an outlier does
not drag it) plus its seasonal profile (one value per time slot, smoothed over periods).
With `seasonality: auto` the models run side by side and the one with the smallest recent
error is used once it has seen enough of its period; a declared seasonality falls back to
the level alone until it has. Nothing is refitted: a sample costs a few float operations.

The deviation of a value from the prediction is divided by a robust scale taken from the
model's recent residuals: the larger of the MAD and the 99th percentile of absolute
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

from vigie.rules.detectors import Direction, SeasonalityChoice, Verdict

DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
ALPHA = 0.2  # level smoothing per sample
GAMMA = 0.3  # seasonal smoothing per period
SHIFT_RATE = 0.15  # the short average of standardised residuals
# The short average's spread under the null, doubled for the residuals' autocorrelation.
SHIFT_SPREAD = 2 * math.sqrt(SHIFT_RATE / (2 - SHIFT_RATE))
CONFIRM = 5  # samples in a row beyond the clearing level that confirm a shift
ERROR_RATE = 1 / 128  # the models' recent absolute error, compared in `auto`
RESCALE = 8  # samples between two estimates of the scale
NORMAL = NormalDist()


class _Model:
    """One candidate: a level and up to two seasonal profiles (period in slots, 0: none)."""

    __slots__ = ("err", "level", "name", "p1", "p2", "residuals", "s1", "s2", "scored", "seen1")

    def __init__(self, name: str, p1: int, p2: int, window: int) -> None:
        self.name = name
        self.p1, self.p2 = p1, p2
        self.s1 = [0.0] * p1
        self.seen1 = bytearray(p1)
        self.s2 = [0.0] * p2
        self.level: float | None = None
        self.err = 0.0
        self.scored = 0
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


class RobustSeasonal:
    """A `Detector` for one series sampled every `step_us` (a metric's slide).

    `seasonality` is declared (`none`, `daily`, `weekly`, `both`) or `auto`; `p_value` is
    the tail probability below which a value is anomalous, in `direction`; nothing is
    ready before `warmup` samples.
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
        self.center = 0.0
        self.scale = 0.0
        self._rescale_in = 0

    def score(self, at_us: int, value: float) -> Verdict:
        """How surprising `value` is at `at_us` under the chosen model (nothing learned)."""
        step = at_us // self.step_us
        model = self.chosen
        expected = model.predict(step) + self.center
        scale = self._scale()
        z = (value - expected) / scale
        shifted = ((1 - SHIFT_RATE) * self.shift + SHIFT_RATE * _clip(z, 5.0)) / SHIFT_SPREAD
        if abs(shifted) > abs(z) and (shifted > 0) == (z > 0):
            z = shifted
        if self.direction == "up":
            p = 0.5 * math.erfc(z / math.sqrt(2))
        elif self.direction == "down":
            p = 0.5 * math.erfc(-z / math.sqrt(2))
        else:
            p = math.erfc(abs(z) / math.sqrt(2))
        band = self.z_fire * scale
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
        self.last = value
        scale = self._scale()
        z = (value - self.chosen.predict(step) - self.center) / scale
        for model in self.models:
            self._update(model, step, value)
        self.samples += 1
        self.shift = (1 - SHIFT_RATE) * self.shift + SHIFT_RATE * _clip(z, 5.0)
        self._confirm_shift(z, value - self.chosen.predict(step), scale)
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

    def _confirm_shift(self, z: float, residual: float, scale: float) -> None:
        clear = self.z_fire / 1.5
        if abs(z) < clear or (self.run and (self.run[-1] > 0) != (residual > 0)):
            self.run.clear()
            if abs(z) < clear:
                return
        self.run.append(residual)
        if len(self.run) >= CONFIRM:
            moved = sorted(self.run)[len(self.run) // 2] - self.center
            for model in self.models:
                if model.level is not None:
                    model.level += moved
                    model.residuals.clear()
            self.shift = 0.0
            self.run.clear()
            self._rescale_in = 0

    def _choose(self) -> None:
        if self.declared == "auto":
            best = self.models[0]
            for model in self.models[1:]:
                if model.eligible(self.warmup) and model.err < 0.9 * best.err:
                    best = model
        else:
            best = self.models[-1] if self.models[-1].eligible(self.warmup) else self.models[0]
        if best is not self.chosen:
            self.chosen = best
            self._rescale_in = 0

    def _scale(self) -> float:
        """The robust scale of the chosen model's residuals, re-estimated every few samples."""
        if self._rescale_in > 0:
            self._rescale_in -= 1
            return self.scale
        self._rescale_in = RESCALE
        residuals = sorted(self.chosen.residuals)
        n = len(residuals)
        floor = self.quantum if math.isfinite(self.quantum) else 0.0
        floor = max(floor, 1e-9 * max(1.0, abs(self.chosen.level or 0.0)))
        if n < 3:
            self.center = 0.0
            self.scale = max(floor, 1.2533 * self.chosen.err) if n else floor
            if not n and self.last is not None and self.chosen.level is not None:
                self.scale = max(floor, abs(self.last - self.chosen.level))
            return self.scale
        center = residuals[n // 2]
        spread = sorted(abs(r - center) for r in residuals)
        mad = 1.4826 * spread[n // 2]
        tail = spread[min(n - 1, int(0.99 * n))] / 2.576
        self.center = center
        self.scale = max(mad, tail, floor) * (1 + 3 / n)
        return self.scale


def _clip(x: float, limit: float) -> float:
    return limit if x > limit else -limit if x < -limit else x


def _z_for(p_value: float, direction: Direction) -> float:
    """The standardised deviation whose tail probability is `p_value`."""
    tail = p_value / 2 if direction == "both" else p_value
    return NORMAL.inv_cdf(1 - min(max(tail, 1e-15), 0.5))
