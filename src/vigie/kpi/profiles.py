"""The expected rate of an event for each time of day, learned from history.

A `RateProfile` holds, per slot of the day (48 half-hours by default), the events seen and
the seconds watched, forgotten with a half-life. The rate of a slot is the Gamma-Poisson
posterior mean: a declared prior (`prior` events per second, worth `prior_weight_s` seconds
of history over the whole day, so `prior_weight_s / slots` per slot) plus what was seen,
pooled with the two neighbouring slots (weights 1/4, 1/2, 1/4) so a quiet half-hour
borrows from its neighbours. Between slot centres the rate is linear, so a smooth daily
curve is not turned into steps; `expected(a, b)` integrates it. A real step (a shop opening
or closing: neighbours whose rates differ beyond chance and by more than a factor 2,
`steps()`) is kept a step: no borrowing across it, and the rate jumps at the boundary. The
prior of a slot yields to history once the slot has been watched, so a half-hour seen empty
is not kept busy by a declared rate.
`noise_sd()` is how far, relatively, counts stray from the profile beyond Poisson chance
(real traffic is overdispersed): the sequential tests leave that much slack.
Over the daily profile sits a weekday layer (issue 15: a shop closed on Sundays). The same
lessons are also kept per day of the week and half-hour; a day of the week whose events
depart from what the daily profile expected for it, beyond chance (|z| > STEP_Z) and by more
than WEEKDAY_RATIO, gets its own factor, and within it a half-hour departing beyond chance and
by more than STEP_RATIO gets its own too. Both are Gamma-Poisson posterior means with
WEEKDAY_PRIOR_EVENTS pseudo-events toward the daily level: a weekday counts for the evidence
it showed (a Sunday seen empty where 500 orders were expected is a closed Sunday), while a
weekday that differs only by chance, or by little, is not taken for a pattern of its own
(the daily level, learned from every day, stands). A day of the week never watched takes the
daily level. Seven days are learned apart, not as weekdays and weekend: a weekend is not
the same pair of days everywhere (a shop open on Saturday and closed on Sunday), and each
day of the week is learned from its first sighting anyway.
The time of day is the wall clock's of the profile's `timezone` (`vigie.kpi.wallclock`): a
shop busy from 09:00 in Paris is expected busy from 09:00 local time in summer and in winter.
An interval that spans a daylight-saving change is integrated piece by piece, each piece at
its own UTC offset, so an expected count is always over real elapsed time.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from vigie.kpi.wallclock import HOUR_US, UTC_NAME, wall_clock

DAY_S = 86_400.0
HOUR_S = 3_600.0
SLOTS = 48
STEP_Z = 3.0  # a difference between neighbouring slots beyond chance
STEP_RATIO = 2.0  # and large: an opening or a closing, not a smooth curve's slope
WEEK_DAYS = 7
WEEK_S = WEEK_DAYS * DAY_S
WEEKDAY_RATIO = 1.1  # a day of the week this much busier or quieter than the daily level
WEEKDAY_PRIOR_EVENTS = 1.0  # what the daily level is worth, in events, against a weekday's


class RateProfile:
    """Expected events per second by local time of day (in `timezone`, UTC by default), with a
    declared prior for a cold start."""

    def __init__(
        self,
        *,
        prior: float | None,
        prior_weight_s: float = 3600.0,
        half_life_s: float = 7 * DAY_S,
        slots: int = SLOTS,
        timezone: str = UTC_NAME,
    ) -> None:
        if prior is not None and (not math.isfinite(prior) or prior < 0):
            raise ValueError(f"a prior rate is a finite number of events per second: {prior}")
        self.prior = prior
        clock = wall_clock(timezone)
        self.clock = None if clock.utc else clock  # None: UTC, the instant is its wall time
        self.prior_weight_s = prior_weight_s
        self.half_life_s = half_life_s
        self.slots = slots
        self.width_s = DAY_S / slots
        self.counts = np.zeros(slots)
        self.exposure = np.zeros(slots)
        # The same lessons by day of the week (row 0: the local epoch's day, a Thursday).
        self.week_counts = np.zeros((WEEK_DAYS, slots))
        self.week_exposure = np.zeros((WEEK_DAYS, slots))
        self.learned_until: float | None = None
        self.excess = 0.0  # sum of (n - mu)^2 - mu over lessons, forgotten as the counts
        self.scale = 0.0  # sum of mu^2 over the same lessons
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self._lists: tuple[list[float], list[float], list[float], float, float] = (
            [],
            [],
            [],
            0.0,
            0.0,
        )

    def slot(self, t_s: float) -> int:
        """The slot of the day holding instant `t_s` (seconds since the epoch)."""
        return int((self._wall(t_s) % DAY_S) // self.width_s) % self.slots

    def day_of_week(self, t_s: float) -> int:
        """The local day of the week of `t_s` as a row of the weekday layer (0: Thursday, the
        local epoch's day; `(day + 3) % 7` is Python's weekday, Monday 0)."""
        return int(self._wall(t_s) // DAY_S) % WEEK_DAYS

    def slot_start(self, t_s: float) -> float:
        """The instant the slot holding `t_s` began (at `t_s`'s UTC offset)."""
        if self.clock is None:
            return math.floor(t_s / self.width_s) * self.width_s
        offset = self._offset(t_s)
        return math.floor((t_s + offset) / self.width_s) * self.width_s - offset

    def slot_end(self, t_s: float) -> float:
        """The instant the slot holding `t_s` ends (at `t_s`'s UTC offset)."""
        if self.clock is None:
            return (math.floor(t_s / self.width_s) + 1) * self.width_s
        offset = self._offset(t_s)
        return (math.floor((t_s + offset) / self.width_s) + 1) * self.width_s - offset

    def _offset(self, t_s: float) -> float:
        """The UTC offset of the profile's zone at `t_s`, in seconds (0 in UTC)."""
        clock = self.clock
        return 0.0 if clock is None else clock.offset(math.floor(t_s * 1e6)) / 1e6

    def _wall(self, t_s: float) -> float:
        """The local wall-clock time of `t_s`, in seconds since the local epoch."""
        return t_s if self.clock is None else t_s + self._offset(t_s)

    def watched_s(self) -> float:
        """Seconds of history behind the profile (after forgetting)."""
        return float(self.exposure.sum())

    def learn(self, start_s: float, end_s: float, count: float) -> None:
        """Add `count` events seen over [start_s, end_s) (within one slot), forgetting the past
        by the half-life of the time since the last lesson."""
        if end_s <= start_s:
            return
        if self.learned_until is not None and end_s > self.learned_until:
            keep = 0.5 ** ((end_s - self.learned_until) / self.half_life_s)
            self.counts *= keep
            self.exposure *= keep
            self.week_counts *= keep
            self.week_exposure *= keep
            self.excess *= keep
            self.scale *= keep
        self.learned_until = max(end_s, self.learned_until or end_s)
        k = self.slot(start_s)
        if self.exposure[k] > 0:  # wander around a learned level, not a first look at a slot
            mu = self.expected(start_s, end_s)
            self.excess += (count - mu) ** 2 - mu
            self.scale += mu * mu
        self.counts[k] += count
        self.exposure[k] += end_s - start_s
        d = self.day_of_week(start_s)
        self.week_counts[d, k] += count
        self.week_exposure[d, k] += end_s - start_s
        self._table = None

    def noise_sd(self) -> float:
        """The relative standard deviation of counts around the profile beyond Poisson chance
        (0 until learned)."""
        if self.scale <= 0:
            return 0.0
        return math.sqrt(max(self.excess, 0.0) / self.scale)

    def steps(self) -> np.ndarray:
        """Where the level jumps: `steps()[k]` is True when slot k and slot k + 1 (the next
        one, across midnight too) have both been watched and their rates differ both beyond
        Poisson chance (|z| > STEP_Z) and by more than a factor STEP_RATIO; with a prior, also
        between a watched slot and one still at the prior. A shop's opening or closing is such
        a step: neither side borrows from the other, and the level jumps at the boundary
        instead of ramping over an hour."""
        c, e = self.counts, self.exposure
        cn, en = np.roll(c, -1), np.roll(e, -1)
        n = c + cn
        watched = (e > 0) & (en > 0) & (n > 0)
        share = np.where(watched, e / np.where(watched, e + en, 1.0), 0.5)
        spread = np.sqrt(np.maximum(n * share * (1 - share), 1e-300))
        z = np.where(watched, (c - n * share) / spread, 0.0)
        low = np.minimum(c * en, cn * e)  # rates compared without dividing by exposure
        high = np.maximum(c * en, cn * e)
        jump = watched & (np.abs(z) > STEP_Z) & (high > STEP_RATIO * low)
        if self.prior is not None:  # the declared level does not borrow what one side saw
            jump |= (e > 0) != (en > 0)
        return np.asarray(jump, dtype=bool)

    def rates(self) -> np.ndarray:
        """The expected rate (events per second) at each slot centre; without a prior, slots
        never seen take the mean rate of those seen (0 if none). A slot pools its neighbours
        (weights 1/4, 1/2, 1/4) except across a step (`steps`)."""
        step = self.steps()
        left = ~np.roll(step, 1)  # slot k - 1 may lend to slot k
        right = ~step  # slot k + 1 may lend to slot k
        counts = (
            0.5 * self.counts
            + 0.25 * np.roll(self.counts, 1) * left
            + 0.25 * np.roll(self.counts, -1) * right
        )
        exposure = (
            0.5 * self.exposure
            + 0.25 * np.roll(self.exposure, 1) * left
            + 0.25 * np.roll(self.exposure, -1) * right
        )
        if self.prior is not None:
            # The prior stands for a time of day until that half-hour has been watched once:
            # then what it showed, if only silence, is not outweighed by a declared rate.
            weight = np.where(self.exposure > 0, 0.0, self.prior_weight_s / self.slots)
            pooled = np.divide(
                self.prior * weight + counts,
                weight + exposure,
                out=np.full(self.slots, self.prior),
                where=(weight + exposure) > 0,
            )
            return np.asarray(pooled, dtype=float)
        seen = np.asarray(exposure) > 0
        mean = float(self.counts.sum() / self.exposure.sum()) if seen.any() else 0.0
        rates = np.full(self.slots, mean)
        rates[seen] = np.asarray(counts)[seen] / np.asarray(exposure)[seen]
        return rates

    def week_rates(self) -> np.ndarray:
        """The expected rate at each slot centre of each day of the week (rows as
        `day_of_week`): the daily level (`rates`) times the day's factor and the half-hour's,
        each 1 unless that day (half-hour) departs from the level above it beyond chance and
        by more than WEEKDAY_RATIO (STEP_RATIO)."""
        return self._weekly()[0]

    def _weekly(self) -> tuple[np.ndarray, np.ndarray]:
        """`week_rates`, and where a day or a half-hour of the week has a level of its own."""
        daily = self.rates()
        counts, expected = self.week_counts, self.week_exposure * daily
        day = np.ones(WEEK_DAYS)
        own_day = _departs(counts.sum(axis=1), expected.sum(axis=1), WEEKDAY_RATIO)
        day[own_day] = _shrunk(counts.sum(axis=1), expected.sum(axis=1))[own_day]
        flat_c, flat_m = counts.ravel(), (expected * day[:, None]).ravel()
        pooled_c = 0.5 * flat_c + 0.25 * (np.roll(flat_c, 1) + np.roll(flat_c, -1))
        pooled_m = 0.5 * flat_m + 0.25 * (np.roll(flat_m, 1) + np.roll(flat_m, -1))
        own_slot = _departs(pooled_c, pooled_m, STEP_RATIO) & (self.week_exposure.ravel() > 0)
        half_hour = np.ones(flat_c.size)
        half_hour[own_slot] = _shrunk(pooled_c, pooled_m)[own_slot]
        rates = (daily[None, :] * day[:, None]).ravel() * half_hour
        own = np.repeat(own_day, self.slots) | own_slot
        return rates, own

    def seen(self, t_s: float) -> bool:
        """Whether the slot holding `t_s` has been watched at least once."""
        return bool(self.exposure[self.slot(t_s)] > 0)

    def seen_on_weekday(self, t_s: float) -> bool:
        """Whether the slot holding `t_s` has been watched on its day of the week before."""
        return bool(self.week_exposure[self.day_of_week(t_s), self.slot(t_s)] > 0)

    def mean_rate(self) -> float:
        """The week's mean expected rate (events per second)."""
        _, _, _, week = self._knots()
        return week / WEEK_S

    def rate_at(self, t_s: float) -> float:
        """The expected rate (events per second) at instant `t_s`."""
        x, rho, _, _ = self._knots()
        return float(np.interp(self._wall(t_s) % WEEK_S, x, rho))

    def expected(self, start_s: float, end_s: float) -> float:
        """Expected events over [start_s, end_s)."""
        if end_s <= start_s:
            return 0.0
        if self.clock is None:
            return self._at(end_s) - self._at(start_s)
        return sum(
            self._at(b + off) - self._at(a + off) for a, b, off in self._pieces(start_s, end_s)
        )

    def _pieces(self, start_s: float, end_s: float) -> list[tuple[float, float, float]]:
        """[start_s, end_s) cut where the zone's UTC offset changes: (from, to, offset in s).
        An offset changes at most once within an hour (`WallClock`), so the offset is read at
        each hour's end and a change is then found to the microsecond."""
        clock = self.clock
        assert clock is not None
        first_us, end_us = math.floor(start_s * 1e6), math.floor(end_s * 1e6)
        offset = clock.offset(first_us)
        if end_us - first_us <= HOUR_US and clock.offset(end_us) == offset:
            return [(start_s, end_s, offset / 1e6)]
        pieces: list[tuple[float, float, float]] = []
        begin_s, at_us = start_s, first_us
        while at_us < end_us:
            next_us = min(at_us + HOUR_US, end_us)
            if clock.offset(next_us) != offset:
                same, changed = at_us, next_us  # the first instant at the new offset
                while changed - same > 1:
                    middle = (same + changed) // 2
                    if clock.offset(middle) == offset:
                        same = middle
                    else:
                        changed = middle
                pieces.append((begin_s, changed / 1e6, offset / 1e6))
                begin_s, offset = changed / 1e6, clock.offset(changed)
                next_us = changed
            at_us = next_us
        pieces.append((begin_s, end_s, offset / 1e6))
        return pieces

    def _at(self, t_s: float) -> float:
        """`cumulative` for one instant, in plain floats (called once per event live)."""
        self._knots()
        x, rho, cum, week, zero = self._lists
        weeks = math.floor(t_s / WEEK_S)
        within = t_s - weeks * WEEK_S
        j = min(max(bisect.bisect_right(x, within) - 1, 0), len(x) - 2)
        dx = within - x[j]
        slope = (rho[j + 1] - rho[j]) / (x[j + 1] - x[j])
        return weeks * week + cum[j] + dx * rho[j] + 0.5 * dx * dx * slope - zero

    def cumulative(self, t_s: np.ndarray) -> np.ndarray:
        """Expected events from the epoch to each instant of `t_s` (seconds): differences of
        these are expected counts (vectorised, for long simulated streams). UTC profiles only:
        a zone's changes of time would have to be counted from the epoch; use `expected`."""
        if self.clock is not None:
            raise ValueError("cumulative counts are for a UTC profile; use expected(a, b)")
        x, rho, cum, week = self._knots()
        weeks = np.floor(t_s / WEEK_S)
        within = t_s - weeks * WEEK_S
        j = np.clip(np.searchsorted(x, within, side="right") - 1, 0, len(x) - 2)
        dx = within - x[j]
        slope = (rho[j + 1] - rho[j]) / (x[j + 1] - x[j])
        inside = cum[j] + dx * rho[j] + 0.5 * dx * dx * slope
        return np.asarray(weeks * week + inside - cum_at_zero(x, rho, cum), dtype=float)

    def _knots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Slot centres over the week (with one wrapped centre on each side), their rates, the
        integral up to each, and the expected events of a whole week. Steps are the daily
        profile's, on every day, and where a day or half-hour with a level of its own jumps
        by more than STEP_RATIO from its neighbour."""
        if self._table is None:
            rates, own = self._weekly()
            n = rates.size
            nxt = np.roll(rates, -1)
            low, high = np.minimum(rates, nxt), np.maximum(rates, nxt)
            step = np.tile(self.steps(), WEEK_DAYS) | (
                (own | np.roll(own, -1)) & (high > STEP_RATIO * low)
            )
            xs, rhos = [(n - 0.5) * self.width_s - WEEK_S], [float(rates[-1])]
            if step[-1]:  # a step at the week's turn
                xs += [0.0, 0.0]
                rhos += [float(rates[-1]), float(rates[0])]
            for k in range(n):
                xs.append((k + 0.5) * self.width_s)
                rhos.append(float(rates[k]))
                if step[k]:  # flat to the boundary, then the next slot's level
                    xs += [(k + 1) * self.width_s] * 2
                    rhos += [float(rates[k]), float(rates[(k + 1) % n])]
            xs.append(0.5 * self.width_s + WEEK_S)
            rhos.append(float(rates[0]))
            x, rho = np.asarray(xs), np.asarray(rhos)
            cum = np.concatenate(([0.0], np.cumsum(np.diff(x) * (rho[:-1] + rho[1:]) / 2)))
            week = float(rates.mean() * WEEK_S)
            self._table = (x, rho, cum, week)
            zero = cum_at_zero(x, rho, cum)
            self._lists = (x.tolist(), rho.tolist(), cum.tolist(), week, zero)
        return self._table


def _departs(seen: np.ndarray, expected: np.ndarray, ratio: float) -> np.ndarray:
    """Where `seen` events depart from `expected` ones beyond Poisson chance (|z| > STEP_Z)
    and by more than `ratio` either way."""
    spread = np.sqrt(np.maximum(expected, 1e-300))
    chance = np.abs(seen - expected) > STEP_Z * spread
    large = (seen > ratio * expected) | (expected > ratio * seen)
    return np.asarray((expected > 0) & chance & large, dtype=bool)


def _shrunk(seen: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The factor by which `seen` departs from `expected`, shrunk toward 1 by
    WEEKDAY_PRIOR_EVENTS pseudo-events (a Gamma-Poisson posterior mean)."""
    return (seen + WEEKDAY_PRIOR_EVENTS) / (expected + WEEKDAY_PRIOR_EVENTS)


def cum_at_zero(x: np.ndarray, rho: np.ndarray, cum: np.ndarray) -> float:
    """The integral from the first knot to the period's start (the first segment holds it)."""
    dx = -x[0]
    slope = (rho[1] - rho[0]) / (x[1] - x[0])
    return float(cum[0] + dx * rho[0] + 0.5 * dx * dx * slope)
