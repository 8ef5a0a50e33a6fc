"""`RobustSeasonal` over a whole series at once: the fast path of a backtest.

`score_series` scores each sample then learns it, exactly as the live path does one window
at a time (`RobustSeasonal.score`, then `learn` once the window is final), with the same
arithmetic in the same order, so it raises the same alerts (tests/rules/test_batch.py runs
both on random series). It keeps the detector's state in local variables and builds a
`Verdict` only for the samples an alert shows (`SeriesScores.verdict`), which makes a
replay several times faster. `seasonal.py` stays the readable reference. A float is compared
with `0.0` and scaled by `2.0`, not by an int: CPython 3.11 runs float-float comparisons and
arithmetic on a fast path, and an int operand sends each one through the generic one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from math import erfc, exp, inf

import numpy as np

from vigie.rules.detectors import Verdict
from vigie.rules.detectors.seasonal import (
    _NEVER,
    BETA,
    CLIP,
    CLOSED,
    CLOSED_LEAST,
    CONFIRM,
    CYCLE_SLACK,
    DAY_MEMORY,
    DAY_US,
    DRIFT,
    ERROR_RATE,
    EVIDENCE_FROM,
    FINE_FROM,
    FINE_SURE,
    KEEP,
    NAMES,
    NO_TAILS,
    RESCALE,
    RIVAL,
    RIVAL_FROM,
    RUN_WEIGHT,
    SATURDAY,
    SHIFT_HISTORY,
    SHIFT_RATE,
    SHIFT_SPREAD,
    SHIFT_WINDOW,
    SPREAD_BEFORE,
    SPREAD_CHECK,
    SPREAD_GREW,
    SPREAD_SHIFT,
    SQRT2,
    STUCK_LEAST,
    STUCK_LOG,
    STUCK_RUNS,
    TAIL,
    TRADING,
    WEEK_US,
    WEEKEND,
    ZERO_PRIOR,
    ZERO_Y,
    RobustSeasonal,
    Shapes,
    Tails,
    Trial,
    _day_prior,
    _excess,
    _nearest,
    _scaled,
    _shifted,
    _span,
    _step_spread,
    _z_of,
    count_floor,
    count_p,
    evidence_clip,
    evidence_p,
    evidence_scale,
    evidence_theta,
    file_excess,
    fit_settled,
    fit_sorted,
    judged_counts,
    settle_day,
    settle_seasonless,
    tail_edges,
    tail_p,
    widened,
)

# One scored sample: (value, expected on the judged scale, index of the predictor that
# judged it, its tails, floor, p-value before the direction, p-value, residual, samples
# learned, ready); for a sample scored before the detector knew its scale, the tails are
# None and `expected` is what the verdict shows.
Record = tuple[float, float, int, Tails | None, float, float, float, float, int, bool]


class SeriesScores:
    """The verdicts of a series' samples, built on demand: `p_values` and `ready` for the
    alert's hysteresis, `verdict(i)` for the evidence of a sample an alert shows."""

    def __init__(self, detector: RobustSeasonal, counts: bool, records: list[Record]) -> None:
        self.counts = counts
        self.p_fire = detector.p_fire
        self.records = records
        self.p_values = [r[6] for r in records]
        self.ready = [r[9] for r in records]

    def _from(self, y: float) -> float:
        counts = self.counts
        return (y / 2.0) ** 2 - 0.375 if counts and y > 0.0 else (0.0 if counts else y)

    def verdict(self, i: int) -> Verdict:
        """The verdict of sample `i`, as `RobustSeasonal.score` gave it live."""
        value, expected, best, tails, floor, p_raw, p, residual, samples, ready = self.records[i]
        if tails is None:
            return Verdict(
                observed=value,
                expected=expected,
                low=-math.inf,
                high=math.inf,
                scale=0.0,
                z=0.0,
                p_value=1.0,
                seasonality="none",
                samples=samples,
                ready=False,
            )
        lo, hi = tail_edges(tails, self.p_fire / 2, floor)
        scale = max(tails[1], floor)
        to = self._from
        return Verdict(
            observed=value,
            expected=to(expected),
            low=to(expected - lo),
            high=to(expected + hi),
            scale=(to(expected + scale) - to(expected - scale)) / 2,
            z=math.copysign(_z_of(p_raw), residual),
            p_value=p,
            seasonality=NAMES[best],
            samples=samples,
            ready=ready,
        )


Band = tuple[
    Tails,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
]
"""What one fit's tails at one floor fix for a whole stretch of samples: (tails, floor, scale,
lower threshold, lower mean excess, upper threshold, upper mean excess, as `tail_p` floors
them; the clip limit of the learning and of the shift statistic (`evidence_clip`); the fire
edges below and above, and the clearing edges, both kept within `KEEP` scales; the fire
edges as they are, where `file_excess` cuts an excess)."""
NO_BAND: Band = (
    NO_TAILS,
    -1.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
)


def band_of(t: Tails, floor: float, p_fire: float, p_run: float) -> Band:
    """The `Band` of tails `t` at `floor`, with `tail_p`'s and `tail_edges`' arithmetic
    (`p_fire`, `p_run`: each side's share of the fire and clearing levels): the tails change
    every `RESCALE` samples and the floor seldom, so a sample reads them instead of working
    them out again."""
    scale = t[1] if t[1] > floor else floor
    least_u, least_beta = 1.64 * scale, BETA * scale
    lo_u = least_u if t[2] < least_u else t[2]
    lo_beta = least_beta if t[3] < least_beta else t[3]
    hi_u = least_u if t[4] < least_u else t[4]
    hi_beta = least_beta if t[5] < least_beta else t[5]
    if t[1] <= 0.0:
        return (
            t,
            floor,
            scale,
            lo_u,
            lo_beta,
            hi_u,
            hi_beta,
            inf,
            evidence_clip(t) * scale if scale > 0.0 else inf,
            inf,
            inf,
            inf,
            inf,
            inf,
            inf,
        )
    wide = KEEP * scale
    lo = lo_u + lo_beta * _excess(t[6], p_fire)
    hi = hi_u + hi_beta * _excess(t[7], p_fire)
    run_lo = lo_u + lo_beta * _excess(t[6], p_run)
    run_hi = hi_u + hi_beta * _excess(t[7], p_run)
    return (
        t,
        floor,
        scale,
        lo_u,
        lo_beta,
        hi_u,
        hi_beta,
        CLIP * scale,
        evidence_clip(t) * scale,
        lo if lo < wide else wide,
        hi if hi < wide else wide,
        run_lo if run_lo < wide else wide,
        run_hi if run_hi < wide else wide,
        lo,
        hi,
    )


def band_p(band: Band, deviation: float) -> float:
    """`tail_p` of a deviation from the centre, read from a `Band`."""
    if deviation >= 0.0:
        if deviation <= band[5]:
            p = erfc(deviation / band[2] / SQRT2)
            return p if p > TAIL else TAIL
        xi = band[0][7]
        if xi > 0.0:
            return TAIL * math.pow(1.0 + xi * (deviation - band[5]) / band[6], -1.0 / xi)
        return TAIL * exp(-(deviation - band[5]) / band[6])
    deviation = -deviation
    if deviation <= band[3]:
        p = erfc(deviation / band[2] / SQRT2)
        return p if p > TAIL else TAIL
    xi = band[0][6]
    if xi > 0.0:
        return TAIL * math.pow(1.0 + xi * (deviation - band[3]) / band[4], -1.0 / xi)
    return TAIL * exp(-(deviation - band[3]) / band[4])


def score_series(
    detector: RobustSeasonal, times: Sequence[int], values: Sequence[float]
) -> SeriesScores:
    """Score then learn each sample of a series (finite values, in time order) with a fresh
    `detector`'s settings; the detector itself is left untouched."""
    need = max(detector.warmup, 8)
    decided: int | None = None
    for i, value in enumerate(values):
        if i + 1 >= need or value != int(value) or value < 0:
            decided = i
            break
    records: list[Record] = []
    if decided is None:  # too short to know whether it counts
        _run(detector, False, times, values, 0, len(values), records, True)
        return SeriesScores(detector, False, records)
    # Until the decision, nothing is ready and values are taken as they are; the decision
    # restarts the detector on the early samples, as `RobustSeasonal.learn` does.
    _run(detector, False, times, values, 0, decided + 1, records, True)
    early = values[: decided + 1]
    counts = judged_counts(early)
    _run(detector, counts, times, values, decided + 1, len(values), records, False)
    return SeriesScores(detector, counts, records)


def _run(
    det: RobustSeasonal,
    counts: bool,
    times: Sequence[int],
    values: Sequence[float],
    first_scored: int,
    stop: int,
    records: list[Record],
    early: bool,
) -> None:
    """Learn samples [0, stop) from a fresh state, scoring each from `first_scored` on
    before learning it; `early`: scored before the detector knows its scale."""
    exp, log, inf = math.exp, math.log, math.inf
    nd, nw, knot_us = det.nd, det.nw, det.knot_us
    m = len(det.models)
    warmup, window, alpha = det.warmup, det.window, det.alpha
    need = max(warmup, 8)
    trust = det.trust
    day_cap, week_cap = det.day_cap, det.week_cap
    p_run = det.p_run
    direction = det.direction
    auto = det.seasonality == "auto"
    accumulates = not counts
    weekly_on = bool(nw) and m > 2
    keep = 1.0 - 1.0 / window
    forget = 1.0 - 1.0 / max(day_cap, 1.0)

    level: float | None = None
    reference = week_sum = weekly_mean = 0.0
    # The last seven days' deseasonalised values (`RobustSeasonal.week_values`): those of
    # samples `week_from` to the current one; the first sample only sets the level.
    seasonless_at = [0.0] * stop
    week_from = 1
    daily = [0.0] * nd
    daily_n = [0.0] * nd
    daily_since = [_NEVER] * nd
    # `RobustSeasonal.fine`, `fine_error`, `fine_n`: each time of day's miss of the knots.
    slot_us = det.slot_us
    slots = -(-DAY_US // slot_us) if nd and m > 1 and not counts else 0
    fine = [0.0] * slots
    fine_error = [0.0] * slots
    fine_n = [0.0] * slots
    fine_c = 0.0  # the daily predictor's correction to the knots
    weekly = [0.0] * nw
    weekly_n = [0.0] * nw
    weekly_since = [_NEVER] * nw
    samples = 0
    least = 0.0
    shift = 0.0
    run: list[float] = []
    run_at = run_wall = 0  # when the run began (and its local time),
    run_level = 0.0  # and the level then
    before: float | None = None  # the level before the last confirmed shift,
    shifted_at = shifted_wall = 0  # and when that shift began
    shifts: deque[tuple[int, float]] = deque()  # `RobustSeasonal.shifts`
    rescale_in = rounds = chosen = 0
    err = [0.0] * m
    scored = [0] * m
    # `RobustSeasonal.trial`: the weekly and daily predictors' errors over the last day.
    trial_span = Trial(DAY_US // det.step_us).span
    trial_mine = trial_theirs = 0.0
    trial_n = 0
    daily_size = 0.0
    residuals: list[deque[float]] = [deque(maxlen=n) for n in [window] * m]
    tails: list[Tails] = [NO_TAILS] * m
    span = window
    shapes = [Shapes(n) for n in [DAY_US // det.step_us] * m]  # `fit_settled`
    shift_residuals: deque[float] = deque(maxlen=SHIFT_WINDOW)
    shift_tails = NO_TAILS
    zeros = counted = zero_log = 0.0
    zero_run = seen_weekly = 0
    first_us = 0  # `RobustSeasonal.first_us`
    day_at = -1  # `RobustSeasonal.day_at`, `day_total`, `day_expected`
    day_total = day_expected = 0.0
    count_mean = 0.0  # `RobustSeasonal.count_mean`
    knot_zeros = [0.0] * nd
    knot_counted = [0.0] * nd
    knot_run = [0] * nd  # `RobustSeasonal.knot_run`, `knot_run_before`, `knot_visit`
    knot_run_before = [0] * nd
    knot_visit = [-_NEVER] * nd
    knot_samples = knot_us // det.step_us
    eligible_at = [need] + [trust] * (m - 1)
    # `RobustSeasonal._rival`: a count's seasonal predictor explains a value sooner.
    rival_at = [need] + [min(trust, RIVAL_FROM) if counts else trust] * (m - 1)
    p_half = det.p_fire / 2
    p_run_half = det.p_run / 2
    # Each predictor's band, for its current tails and floor; a band stands for another
    # floor as long as both are below the tails' scale (`b[1] != floor and not floor <
    # t[1] > b[1]`: it is out of date).
    bands = [NO_BAND] * m
    shift_band = NO_BAND
    scored_floor = -1.0  # the floor the sample was scored with (-1: not scored)
    p_chosen = shift_next = 0.0
    # Accumulated evidence (`RobustSeasonal._accumulate`): each side's CUSUM, the moments of
    # the clipped residuals, the normalisation of the last refit; `x_next`, `up_next`,
    # `down_next`: those of the sample just scored.
    up = down = mean = square = lagged = previous = norm_center = norm_inverse = fourth = 0.0
    theta = 2.0 * DRIFT  # `evidence_theta`
    accumulated = 0
    x_next = up_next = down_next = 0.0
    moment_rate = 1.0 / SHIFT_WINDOW
    shift_keep = 1 - SHIFT_RATE
    # `RobustSeasonal._stuck`: repeated values in a row, and the share of repeats.
    same = longest = 0
    repeats = repeated = 0.0
    was_frozen = False
    smallest = inf  # `RobustSeasonal.smallest`
    # `RobustSeasonal.after`, `grown`, `spread`: the residuals since a shift, while checked.
    after: list[float] | None = None
    grown = spread_before = 1.0
    half_day, half_week = DAY_US // 2, WEEK_US // 2

    week_zeros = [0.0] * nw
    week_counted = [0.0] * nw
    week_zero_since = [_NEVER] * nw
    run_zeros, run_knot = 0.0, -1  # `RobustSeasonal.run_zeros`, `run_knot`
    week_forget = 1.0 - 1.0 / max(week_cap, 1.0)
    weekday_zeros = [0.0] * 7  # `RobustSeasonal.weekday_zeros`
    weekday_counted = [0.0] * 7
    run_day_zeros, run_day = 0.0, -1
    weekday_forget = det.weekday_forget
    # The first day is settled once complete (`RobustSeasonal._settle`); not for counts.
    step_us = det.step_us
    settling = not counts and m > 1
    settled_day = False  # `RobustSeasonal.settled`

    def first_weekend(wall: int, at_us: int, since: list[int]) -> bool:
        """`RobustSeasonal._first_weekend`, on a weekly series (`since`: `weekly_since`)."""
        kw = ((wall // DAY_US) % 7) * nd + int((wall % DAY_US) / knot_us)
        return kw // nd in (SATURDAY, SATURDAY + 1) and since[kw] > at_us - half_week

    def closed_hours() -> bool:
        """`RobustSeasonal._closed_hours`."""
        overall = (zeros + 1.0) / (counted + 2.0)
        top = max(
            (z + ZERO_PRIOR * overall) / (c + ZERO_PRIOR)
            for z, c in zip(knot_zeros, knot_counted, strict=True)
        )
        return top >= 0.5

    def closed_day(kz: int, wall: int, at_us: int, value: float, pc: float) -> bool:
        """`RobustSeasonal._closed_day`."""
        overall = (zeros + 1.0) / (counted + 2.0)
        if week_zero_since[kz] <= at_us - half_week or knot_zeros[
            0
        ] + ZERO_PRIOR * overall < 0.5 * (knot_counted[0] + ZERO_PRIOR):
            return False
        today = wall // DAY_US == day_at
        exp_now = (pc / 2.0) ** 2 - 0.375 if pc > 0 else 0.0
        trading = exp_now >= TRADING
        total = (day_total if today else 0.0) + (value if trading else 0.0)
        exp_now = exp_now if trading else 0.0
        expected_day = (day_expected if today else 0.0) + exp_now
        return expected_day >= CLOSED_LEAST and total <= CLOSED * expected_day

    def zero_rate(wall: int, at_us: int) -> float:
        """`RobustSeasonal._zero_rate`."""
        overall = (zeros + 1.0) / (counted + 2.0)
        run = RUN_WEIGHT * zero_run
        if not nd:
            return (overall * (counted + 2.0) + run) / (counted + 2.0 + run)
        k = int((wall % DAY_US) / knot_us)
        rate = (knot_zeros[k] + ZERO_PRIOR * overall + run) / (knot_counted[k] + ZERO_PRIOR + run)
        if nw:
            kw = ((wall // DAY_US) % 7) * nd + k
            if week_zero_since[kw] <= at_us - half_week:
                day = kw // nd
                own = run_day_zeros if run_day == day else 0.0
                share = (weekday_zeros[day] - own + ZERO_PRIOR * overall) / (
                    weekday_counted[day] - own + ZERO_PRIOR
                )
                prior = rate  # `_day_prior`: a day no more closed than the average one
                if share > overall:
                    top = max(  # `RobustSeasonal._top_zero_rate`
                        (z + ZERO_PRIOR * overall) / (c + ZERO_PRIOR)
                        for z, c in zip(knot_zeros, knot_counted, strict=True)
                    )
                    prior = _day_prior(share, overall, rate, top)
                own = run_zeros if run_knot == kw else 0.0
                week = (week_zeros[kw] - own + ZERO_PRIOR * prior) / (
                    week_counted[kw] - own + ZERO_PRIOR
                )
                rate = week if week > rate else rate
        return rate

    # Each instant's local time (`RobustSeasonal.clock`), and where it falls among the knots
    # of the day and of the week, at once.
    walls: Sequence[int] = times if det.clock.utc else det.clock.walls(times[:stop])
    at = np.asarray(walls[:stop], dtype=np.int64)
    y_all = np.asarray(values[:stop], dtype=np.float64)
    if counts:
        y_all = 2.0 * np.sqrt(np.where(y_all > 0, y_all, 0.0) + 0.375)
    ys: list[float] = y_all.tolist()
    # The data's resolution once each sample is learned (the smallest step between two
    # samples that is not a rounding error), and the floor it sets (half of it).
    gaps = np.abs(np.diff(y_all))
    steps = np.where(gaps > 1e-9 * np.maximum(np.abs(y_all[1:]), 1.0), gaps, inf)
    quantum = np.minimum.accumulate(np.concatenate(([inf], steps)))
    quanta: list[float] = quantum.tolist()
    halves: list[float] = np.where(quantum < inf, 0.5 * quantum, 0.0).tolist()
    k = kw = k1 = kw1 = 0
    f = fw = 0.0
    if nd:
        pos = (at % DAY_US) / knot_us
        k_at = pos.astype(np.int64)
        f_all = pos - k_at
        ks: list[int] = k_at.tolist()
        fs: list[float] = f_all.tolist()
        gs: list[float] = (1 - f_all).tolist()
        k1s: list[int] = ((k_at + 1) % nd).tolist()
        kw_at = ((at // DAY_US) % 7) * nd + k_at
        fw_all = np.where(k_at + 1 < nd, f_all, 0.0)
        kws: list[int] = kw_at.tolist()
        fws: list[float] = fw_all.tolist()
        gws: list[float] = (1 - fw_all).tolist()
        kw1s: list[int] = np.where(fw_all != 0, kw_at + 1, kw_at).tolist()
        slot_of: list[int] = ((at % DAY_US) // slot_us).tolist()

    for i in range(stop):
        at_us = times[i]
        wall = walls[i]
        value = values[i]
        y = ys[i]
        # Each predictor's prediction at this instant and whether it knows it.
        if level is not None:
            if not nd:
                preds = [level]
                ready = [True]
            else:
                k = ks[i]
                f = fs[i]
                k1 = k1s[i]
                old = at_us - half_day
                fine_c = 0.0
                if slots:  # `RobustSeasonal._fine`
                    sl = slot_of[i]
                    fn = fine_n[sl]
                    if fn >= FINE_FROM:
                        fm = fine[sl]
                        fv = fine_error[sl]
                        fine_scale = tails[1][1]
                        fv = fv if fv > fine_scale * fine_scale else fine_scale * fine_scale
                        if fn * fm * fm > FINE_SURE * fv:
                            fine_c = fm - FINE_SURE * fv / (fn * fm)
                d = daily[k] * gs[i] + daily[k1] * f
                seen_d = daily_since[k] <= old and (f == 0.0 or daily_since[k1] <= old)
                if weekly_on:
                    kw = kws[i]
                    fw = fws[i]
                    kw1 = kw1s[i]
                    old = at_us - half_week
                    w = weekly[kw] * gws[i] + weekly[kw1] * fw
                    preds = [level, level + d + fine_c, d + w + reference - weekly_mean]
                    seen_w = weekly_since[kw] <= old and (fw == 0.0 or weekly_since[kw1] <= old)
                    ready = [True, seen_d, seen_d and seen_w]
                else:
                    preds = [level, level + d + fine_c]
                    ready = [True, seen_d]
        if i >= first_scored:
            if early or level is None:
                shown = value if level is None else level
                records.append((value, shown, 0, None, 0.0, 1.0, 1.0, 0.0, samples, False))
            else:
                lv = level if level >= 0.0 else -level
                least = 1e-9 * (lv if lv > 1.0 else 1.0)
                floor = halves[i - 1]
                floor = floor if floor >= least else least
                rival = RIVAL * err[chosen]
                best_p, best, judged = -1.0, chosen, floor
                # `RobustSeasonal.score`: a count is judged against no less than 0.
                sp = [x if x > ZERO_Y else ZERO_Y for x in preds] if counts else preds
                near = sp
                if counts and nd:  # `RobustSeasonal._between`
                    near = list(sp)
                    if m > 1:
                        at_k, at_k1 = level + daily[k], level + daily[k1]
                        if f <= 0:
                            at_k, at_k1 = _span(daily, daily_n, ((k - 1) % nd, k, k1), level)
                        near[1] = _nearest(y - tails[1][0], at_k, at_k1, sp[1])
                    if weekly_on:
                        moved = reference - weekly_mean
                        at_k = daily[k] + weekly[kw] + moved
                        at_k1 = daily[k1] + weekly[kw1] + moved
                        if f <= 0:
                            kw0 = kw - 1 if k > 0 else kw
                            kwn = kw + 1 if k + 1 < nd else kw
                            at_k, at_k1 = _span(
                                [
                                    daily[(k - 1) % nd] + weekly[kw0],
                                    daily[k] + weekly[kw],
                                    daily[k1] + weekly[kwn],
                                ],
                                [
                                    weekly_n[kw0] if k > 0 else 0.0,
                                    1.0,
                                    weekly_n[kwn] if kwn > kw else 0.0,
                                ],
                                (0, 1, 2),
                                moved,
                            )
                        near[2] = _nearest(y - tails[2][0], at_k, at_k1, sp[2])
                for j in range(m):
                    if j != chosen and (not ready[j] or err[j] > rival or scored[j] < rival_at[j]):
                        continue
                    t = tails[j]
                    b = bands[j]
                    if b[0] is not t or (b[1] != floor and not floor < t[1] > b[1]):
                        b = bands[j] = band_of(t, floor, p_half, p_run_half)
                    if not counts:
                        p = y - preds[j] - t[0]  # `band_p`, inlined where it is an `erfc`
                        if -b[3] <= p <= b[5]:
                            p = erfc((p if p >= 0.0 else -p) / b[2] / SQRT2)
                            p = p if p > TAIL else TAIL
                        else:
                            p = band_p(b, p)
                        if j == chosen:
                            p_chosen = p
                        if p > best_p:
                            best_p, best = p, j
                        continue
                    # A Poisson count's spread is at most 1: a wider fit needs no floor.
                    fl = count_floor(near[j], floor) if t[1] < 1.0 else floor
                    if fl == floor:
                        p = band_p(b, y - near[j] - t[0])
                    else:
                        p = tail_p(t, y - near[j] - t[0], fl)
                    if j == chosen:
                        exact = near[j] == preds[j] and fl == floor
                        if not exact:  # `RobustSeasonal._learn`'s, at the count floor
                            r = y - preds[j] - t[0]
                            fc = fl  # the floor of the prediction itself
                            if near is not sp:
                                fc = count_floor(sp[j], floor) if t[1] < 1.0 else floor
                            p_chosen = band_p(b, r) if fc == floor else tail_p(t, r, fc)
                        else:
                            p_chosen = p
                    if p > best_p:
                        best_p, best, judged = p, j, fl
                scored_floor = floor
                t = tails[best]
                expected = near[best] + t[0]
                back = returning = False  # `RobustSeasonal._returning`
                if (
                    before is not None
                    and chosen < 2
                    and half_day <= at_us - shifted_at < WEEK_US
                    and not (weekly_on and ready[2])
                ):
                    off = ((run_wall if run else wall) - shifted_wall) % DAY_US
                    if off <= knot_us or DAY_US - off <= knot_us:
                        returning = True
                        ct = tails[chosen]
                        there = sp[chosen] + before - level + ct[0]
                        fl = count_floor(there, floor) if counts else floor
                        p = tail_p(ct, y - there, fl)
                        if p > best_p:
                            best_p, best, t, expected, back = p, chosen, ct, there, True
                            judged = fl
                if not returning and shifts and chosen < 2:  # `RobustSeasonal._recurring`
                    recurs = _shifted(shifts, (run_wall if run else wall) - WEEK_US, knot_us)
                    if recurs is not None:
                        ct = tails[chosen]
                        there = sp[chosen] + recurs + ct[0]
                        fl = count_floor(there, floor) if counts else floor
                        p = tail_p(ct, y - there, fl)
                        if p > best_p:
                            best_p, best, t, expected, back = p, chosen, ct, there, True
                            judged = fl
                residual = y - expected
                p = best_p
                if counts and residual > 0.0 and p < p_run:
                    p = count_p(value, preds[chosen], p, count_mean)
                own = not back and (best == chosen or not counts or residual > 0.0)
                own = own and not (counts and value <= 0.0)  # a zero: its run's judgement
                own = own and near[best] == sp[best]  # not at a step (`_between`)
                ct = tails[chosen]
                limit = bands[chosen][8]
                r = y - (sp[chosen] if value <= 0.0 else preds[chosen]) - ct[0]  # a zero's: >= 0
                r = limit if r > limit else -limit if r < -limit else r
                shift_next = shift_keep * shift + SHIFT_RATE * r
                st = shift_tails
                if (
                    own
                    and len(shift_residuals) >= SHIFT_HISTORY
                    and st[1] > 0.0
                    and (shift_next > 0.0) == (residual > 0.0)
                ):
                    spread = SHIFT_SPREAD * bands[chosen][2]  # `RobustSeasonal.score`
                    spread = spread if spread > 1e-12 else 1e-12
                    if shift_band[0] is not st or shift_band[1] != spread:
                        shift_band = band_of(st, spread, p_half, p_run_half)
                    p_own = shift_next - st[0]
                    sb = shift_band
                    if -sb[3] <= p_own <= sb[5]:  # `band_p`, inlined where it is an `erfc`
                        p_own = erfc((p_own if p_own >= 0.0 else -p_own) / sb[2] / SQRT2)
                        p_own = p_own if p_own > TAIL else TAIL
                    else:
                        p_own = band_p(sb, p_own)
                else:
                    p_own = 1.0
                x_next = r
                if norm_inverse > 0.0:
                    u = (x_next - norm_center) * norm_inverse
                    up_next = up + u - DRIFT
                    down_next = down - u - DRIFT
                    up_next = up_next if up_next > 0.0 else 0.0
                    down_next = down_next if down_next > 0.0 else 0.0
                    evidence = up_next if residual > 0.0 else down_next
                    if own and evidence >= EVIDENCE_FROM:
                        p_ev = evidence_p(evidence, theta)
                        p_own = p_own if p_own < p_ev else p_ev
                if p_own < p:
                    if shifts and chosen < 2:  # `RobustSeasonal._daily_step`
                        local = run_wall if run else wall
                        ramp = _shifted(shifts, local - DAY_US, knot_us)
                        earlier = _shifted(shifts, local - 2 * DAY_US, knot_us)
                        if (
                            ramp is not None
                            and earlier is not None
                            and (ramp > 0) == (earlier > 0)
                            and (ramp > 0) == (residual > 0.0)
                        ):
                            p_own = p
                    p = p_own
                p = 2.0 * p
                p = p if p < 1.0 else 1.0
                if counts and value <= 0.0 and zero_run:
                    # `RobustSeasonal._closing`: no longer than this time of day's run the
                    # day before
                    seen = 0
                    if nd:
                        kz = ks[i]
                        recent = at_us - knot_visit[kz] <= half_day
                        seen = knot_run_before[kz] if recent else knot_run[kz]
                    if not (seen >= knot_samples and zero_run < seen + knot_samples):
                        p = min(p, 2 * exp(zero_log + log(zero_rate(wall, at_us))))
                if weekly_on and not ready[2]:  # `RobustSeasonal._unseen_weekend`
                    began = run_at if run else at_us
                    local = run_wall if run else wall
                    pc = preds[chosen]
                    if (
                        0.0 < y < WEEKEND * pc
                        and pc <= WEEKEND * y
                        and (local // DAY_US) % 7 == SATURDAY
                        and local % DAY_US < knot_us
                        and at_us - began < DAY_US
                    ):
                        p = 1.0
                if (  # `RobustSeasonal._weekend_slack`
                    settled_day
                    and chosen == 1
                    and weekly_on
                    and not ready[2]
                    and first_weekend(wall, at_us, weekly_since)
                ):
                    for s_at, _ in shifts:
                        if (
                            (s_at // DAY_US) % 7 == SATURDAY
                            and s_at % DAY_US < knot_us
                            and wall - s_at < 2 * DAY_US
                        ):
                            d1 = preds[1] - level
                            slack = CYCLE_SLACK * (d1 if d1 > 0 else -d1)
                            if slack > 0:
                                ct = tails[chosen]
                                r = y - preds[chosen] - ct[0]
                                r = r - slack if r > slack else r + slack if r < -slack else 0.0
                                p_slack = 2 * tail_p(ct, r, floor)
                                p = p if p > p_slack else p_slack if p_slack < 1.0 else 1.0
                            break
                if (
                    counts
                    and (residual < 0.0 or value <= 0.0)
                    and nw
                    and closed_day(
                        kws[i], wall, at_us, value, preds[1] if ready[1] else preds[chosen]
                    )
                ):
                    p = 1.0  # `RobustSeasonal._closed_day`
                if counts and m > 1 and not ready[1] and (value <= 0.0 or closed_hours()):
                    p = 1.0  # a first night, or a first day of a series closed some hours
                if (
                    i
                    and y == ys[i - 1]
                    and same + 1 >= STUCK_LEAST
                    and same + 1 > STUCK_RUNS * longest
                    and not counts
                    and y != 0
                ):
                    log_p = (same + 1) * log((repeats + 0.5) / (repeated + 1.0))
                    if log_p < STUCK_LOG:  # `RobustSeasonal._stuck_p`: a stuck source
                        p_stuck = exp(log_p)
                        p = p if p < p_stuck else p_stuck
                p_raw = p
                if direction != "both":
                    z = math.copysign(_z_of(p), residual)
                    toward = z > 0 if direction == "up" else z < 0
                    p = p / 2 if toward else 1.0
                records.append(
                    (
                        value,
                        expected,
                        best,
                        t,
                        judged,
                        p_raw,
                        p,
                        residual,
                        samples,
                        samples >= warmup and scored[best] > 2,
                    )
                )
        # Learn the sample.
        frozen = False
        if i:
            repeat = y == ys[i - 1]
            if not repeat and not was_frozen and same > longest:
                longest = same
            same = same + 1 if repeat else 0
            if same >= STUCK_LEAST and same > STUCK_RUNS * longest and not counts and y != 0:
                frozen = same * log((repeats + 0.5) / (repeated + 1.0)) < STUCK_LOG
            if not frozen:
                repeats = repeats * keep + repeat
                repeated = repeated * keep + 1.0
        was_frozen = frozen
        if y < smallest:
            smallest = y
        if counts:
            zero = value <= 0.0
            if zero:
                if not (  # `RobustSeasonal._learn`: a first night's, a closed day's zeros
                    level is not None
                    and m > 1
                    and (
                        not ready[1]
                        or (
                            nw
                            and closed_day(
                                kws[i], wall, at_us, value, preds[1] if ready[1] else preds[chosen]
                            )
                        )
                    )
                ):
                    zero_log += log(zero_rate(wall, at_us))
                zero_run += 1
            else:
                zero_log, zero_run = 0.0, 0
            count_mean += (value - count_mean) / window
            zeros = zeros * keep + zero
            counted = counted * keep + 1.0
            if nd:
                kz = ks[i]
                if at_us - knot_visit[kz] > half_day:
                    knot_run_before[kz], knot_run[kz] = knot_run[kz], 0
                knot_visit[kz] = at_us
                if zero_run > knot_run[kz]:
                    knot_run[kz] = zero_run
                knot_zeros[kz] = knot_zeros[kz] * forget + zero
                knot_counted[kz] = knot_counted[kz] * forget + 1.0
                if nw:
                    kz = kws[i]
                    if week_zero_since[kz] == _NEVER:
                        week_zero_since[kz] = at_us
                    week_zeros[kz] = week_zeros[kz] * week_forget + zero
                    week_counted[kz] = week_counted[kz] * week_forget + 1.0
                    if not zero:
                        run_zeros, run_knot = 0.0, -1
                    elif run_knot == kz:
                        run_zeros = run_zeros * week_forget + 1.0
                    else:
                        run_zeros, run_knot = 1.0, kz
                    day = kz // nd
                    weekday_zeros[day] = weekday_zeros[day] * weekday_forget + zero
                    weekday_counted[day] = weekday_counted[day] * weekday_forget + 1.0
                    if not zero:
                        run_day_zeros, run_day = 0.0, -1
                    elif run_day == day:
                        run_day_zeros = run_day_zeros * weekday_forget + 1.0
                    else:
                        run_day_zeros, run_day = 1.0, day
        samples += 1
        if level is None:
            level, first_us = y, at_us
            continue
        if counts and nw:  # `RobustSeasonal._count_day`
            pc = preds[1] if ready[1] else preds[chosen]
            if wall // DAY_US != day_at:
                day_at, day_total, day_expected = wall // DAY_US, 0.0, 0.0
            exp_now = (pc / 2.0) ** 2 - 0.375 if pc > 0.0 else 0.0
            if exp_now >= TRADING:
                day_total += value
                day_expected += exp_now
        if scored_floor < 0.0:  # else the level, and so `least`, are the scoring's
            lv = level if level >= 0.0 else -level
            least = 1e-9 * (lv if lv > 1.0 else 1.0)
        floor = halves[i]
        floor = floor if floor >= least else least
        for j in range(m):
            if not ready[j]:
                continue
            t = tails[j]
            b = bands[j]
            if b[0] is not t or (b[1] != floor and not floor < t[1] > b[1]):
                b = bands[j] = band_of(t, floor, p_half, p_run_half)
            if frozen:  # a stuck source's residuals are not learned (`seasonal._stuck`)
                continue
            residual = y - preds[j] - t[0]
            limit = b[7]
            if counts and t[1] > 0.0:  # `RobustSeasonal._learn`: a Poisson count's spread
                least = count_floor(preds[j], floor)
                if least > b[2]:
                    limit = CLIP * least
            size = residual if residual >= 0.0 else -residual  # clipped at the limit
            size = limit if size > limit else size
            err[j] += (size - err[j]) * (ERROR_RATE if scored[j] >= 8 else 0.5)
            scored[j] += 1
            if j == 1:
                daily_size = size
            elif j == 2 and ready[1]:
                # `Trial.add`, inlined
                trial_n += 1
                g = 1.0 / trial_n if trial_n < trial_span else 1.0 / trial_span
                trial_mine += g * (size - trial_mine)
                trial_theirs += g * (daily_size - trial_theirs)
            if (residual > b[5] or residual < -b[3]) and t[1] > 0.0:
                file_excess(shapes[j], t, residual, b[13], b[14], floor)
            if residual > b[10] or residual < -b[9]:  # beyond a fire edge: at the clearing one
                lo, hi = b[11], b[12]
                kept = t[0] + (hi if residual > hi else -lo if residual < -lo else residual)
            else:
                kept = t[0] + residual
            residuals[j].append(kept)
        ct = tails[chosen]
        residual = y - preds[chosen] - ct[0]
        normed = norm_inverse > 0.0
        shift_held = shift
        if floor == scored_floor:  # as scored a moment ago
            shift = shift_next
            beyond = p_chosen <= p_run
            x = x_next
        else:
            b = bands[chosen]
            if b[0] is not ct or (b[1] != floor and not floor < ct[1] > b[1]):
                b = bands[chosen] = band_of(ct, floor, p_half, p_run_half)
            limit = b[8]
            lowest = preds[chosen]
            if counts and value <= 0.0 and lowest < ZERO_Y:
                lowest = ZERO_Y
            r = y - lowest - ct[0]  # `RobustSeasonal._learn`: a count's from no less than 0
            r = limit if r > limit else -limit if r < -limit else r
            shift = shift_keep * shift + SHIFT_RATE * r
            fl = count_floor(preds[chosen], floor) if counts else floor
            beyond = (band_p(b, residual) if fl == floor else tail_p(ct, residual, fl)) <= p_run
            x = r
            if normed:
                u = (x - norm_center) * norm_inverse
                up_next = up + u - DRIFT
                down_next = down - u - DRIFT
                up_next = up_next if up_next > 0.0 else 0.0
                down_next = down_next if down_next > 0.0 else 0.0
        scored_floor = -1.0
        if frozen:
            shift = shift_held
        elif ready[chosen]:
            shift_residuals.append(shift)
            if normed:
                up, down = up_next, down_next
            accumulated += 1
            g = 1.0 / accumulated if accumulated < SHIFT_WINDOW else moment_rate
            mean += g * (x - mean)
            square += g * (x * x - square)
            lagged += g * (x * previous - lagged)
            fourth += g * (x * x * x * x - fourth)
            previous = x
        if after is not None and ready[chosen] and not frozen:  # `RobustSeasonal._check_spread`
            after.append(residual)
            if len(after) >= SPREAD_CHECK:
                spread = _step_spread(after)
                usual = spread_before if spread_before > 2 * floor else 2 * floor
                after = None
                if spread >= SPREAD_GREW * usual:  # `RobustSeasonal._widen`
                    factor = min(spread / usual, grown)
                    for j in range(m):
                        residuals[j] = _scaled(residuals[j], factor, window)
                        tails[j] = widened(tails[j], factor)
                        bands[j] = band_of(tails[j], floor, p_half, p_run_half)
                    ct = tails[chosen]
                    shift_residuals = _scaled(shift_residuals, factor, SHIFT_WINDOW)
                    shift_tails = widened(shift_tails, factor)
                    mean, square, lagged = mean * factor, square * factor**2, lagged * factor**2
                    fourth *= factor**4
                    previous *= factor
                    norm_center, norm_inverse = norm_center * factor, norm_inverse / factor
        # A run of samples beyond the clearing level on one side confirms a shift.
        if frozen or not beyond or (run and (run[-1] > 0.0) != (residual > 0.0)):
            run.clear()  # a stuck source's value confirms no shift
        if beyond and not frozen:
            if not run:
                run_at, run_wall, run_level = at_us, wall, level
            run.append(residual)
            if len(run) >= CONFIRM:
                moved = sorted(run)[len(run) // 2]
                sc = ct[1] if ct[1] >= floor else floor
                hold = counts and chosen == 0 and at_us - first_us < WEEK_US
                returned = before is not None and abs(level + moved - before) <= CLIP * sc
                if returned:
                    before = None  # the return itself (`seasonal._confirm_shift`)
                elif (
                    before is not None
                    and settled_day
                    and weekly_on
                    and first_weekend(run_wall, run_at, weekly_since)
                    and first_weekend(shifted_wall, shifted_at, weekly_since)
                ):
                    pass  # the weekdays' level stays
                elif not nd or daily_since[int((run_wall % DAY_US) / knot_us)] <= (
                    run_at - half_day
                ):  # `RobustSeasonal._profiled`
                    before, shifted_at, shifted_wall = run_level, run_at, run_wall
                else:
                    before = None
                    hold = counts
                if hold and nd:  # `RobustSeasonal._keep_profile`
                    for kn in range(nd):
                        if daily_n[kn] > 0.0:
                            daily[kn] -= moved
                    d = daily[k] * gs[i] + daily[k1] * f
                    if weekly_on:
                        for kn in range(len(weekly)):
                            if weekly_n[kn] > 0.0:
                                weekly[kn] += moved
                        if seen_weekly:
                            weekly_mean += moved
                        for j in range(week_from, i):
                            seasonless_at[j] += moved
                        week_sum += moved * (i - week_from)
                level += moved
                shifts.append((run_wall, moved))
                while run_wall - shifts[0][0] > WEEK_US + DAY_US:
                    shifts.popleft()
                for j in range(m):  # the run's own residuals (`seasonal._forget_run`)
                    res = residuals[j]
                    for _ in range(min(len(run), len(res))):
                        res.pop()
                shift = up = down = 0.0
                run.clear()
                left = level - moved  # `RobustSeasonal._confirm_shift`: grown by a factor?
                after = None
                if (
                    not (counts or returned)
                    and smallest > 0 < left
                    and moved >= (SPREAD_SHIFT - 1) * left
                ):
                    last_ones = list(residuals[chosen])[-SPREAD_BEFORE:]
                    after, grown, spread_before = [], level / left, _step_spread(last_ones)
        # Move the level and the profiles towards the sample.
        limit = bands[0][7]  # predictor 0 knows every instant: its band is this floor's
        if not nd:
            r = y - level
            if not frozen:  # a stuck source's value moves neither level nor profiles
                level += alpha * (limit if r > limit else -limit if r < -limit else r)
        else:
            d = d if daily_n[k] > 0.0 else 0.0  # the prediction's, or none for a new knot
            if m > 1:
                t1, b = tails[1], bands[1]
                if b[0] is not t1 or (b[1] != floor and not floor < t1[1] > b[1]):
                    b = bands[1] = band_of(t1, floor, p_half, p_run_half)
                limit = b[7]
            if counts and limit < inf:  # `RobustSeasonal._update`: a Poisson count's spread
                least = CLIP * count_floor(level + d, floor)
                limit = least if least > limit else limit
            r = y - level - d
            if not frozen and daily_n[k] > 0.0 and slots:  # `RobustSeasonal._learn_fine`
                miss = r
                sl = slot_of[i]
                fn = fine_n[sl] + 1.0
                fn = fn if fn < DAY_MEMORY else DAY_MEMORY
                fine_n[sl] = fn
                miss -= fine[sl]
                if fn >= 2.0:
                    fine_error[sl] += (miss * miss - fine_error[sl]) / (fn - 1.0)
                fine[sl] += miss / fn
            r = limit if r > limit else -limit if r < -limit else r
            if not frozen:
                level += alpha * r
                target = y - level
                # `_learn_knots`, inlined: the knot before the instant (weight 1 - f > 0), then
                # the one after it when the instant is between the two.
                kn, wt = k, gs[i]
                while True:
                    was = daily_n[kn]
                    total = was + wt
                    total = total if total <= day_cap else day_cap
                    daily_n[kn] = total
                    step = target - daily[kn]
                    if was <= 0.0:
                        daily_since[kn] = at_us
                        daily[kn] += step
                    else:
                        step = limit if step > limit else -limit if step < -limit else step
                        daily[kn] += wt / total * step
                    if kn == k1 or f <= 0.0:
                        break
                    kn, wt = k1, f
            if weekly_on:
                seasonless = y - d
                seasonless_at[i] = seasonless
                week_sum += seasonless
                while at_us - times[week_from] >= WEEK_US:
                    week_sum -= seasonless_at[week_from]
                    week_from += 1
                reference = week_sum / (i + 1 - week_from)
                if not frozen:
                    kn, wt = kw, gws[i]
                    while True:
                        was = weekly_n[kn]
                        total = was + wt
                        total = total if total <= week_cap else week_cap
                        weekly_n[kn] = total
                        step = seasonless - weekly[kn]
                        if was <= 0.0:
                            weekly_since[kn] = at_us
                            weekly[kn] += step
                            seen_weekly += 1
                        else:
                            step = limit if step > limit else -limit if step < -limit else step
                            weekly[kn] += wt / total * step
                        if kn == kw1 or fw <= 0.0:
                            break
                        kn, wt = kw1, fw
        if settling and at_us + step_us - times[0] >= DAY_US:  # `RobustSeasonal._settle`
            settling = False
            first, last = times[0], at_us
            # The first and the last knot's values (by bisection: `times` are in order, and
            # no comprehension here makes `_run`'s locals closure cells, slower to read).
            head = ys[: bisect_left(times, first + knot_us, 0, i + 1)]
            tail = ys[bisect_right(times, last - knot_us, 0, i + 1) : i + 1]
            wrap = sum(tail) / len(tail) - sum(head) / len(head)
            settled = settle_day(ks[: i + 1], fs[: i + 1], ys[: i + 1], nd, alpha, wrap)
            if settled is not None:
                daily, level = settled
                settled_day = True
                if slots:  # `RobustSeasonal._reset_fine`
                    fine = [0.0] * slots
                    fine_error = [0.0] * slots
                    fine_n = [0.0] * slots
                if weekly_on:
                    weekly = [0.0] * nw
                    weekly_n = [0.0] * nw
                    weekly_since = [_NEVER] * nw
                    seen_weekly = 0
                    less = settle_seasonless(ks[: i + 1], fs[: i + 1], ys[: i + 1], daily)
                    seasonless_at[1 : i + 1] = less[1:]
                    week_sum = sum(seasonless_at[week_from : i + 1])
                    reference = week_sum / (i + 1 - week_from)
        rescale_in -= 1
        if rescale_in <= 0 or samples < 48:
            rounds += 1
            for j in range(m):
                if j == chosen or rounds % 4 == 0 or samples < 48:
                    tails[j] = fit_settled(sorted(residuals[j]), tails[j], shapes[j], samples, span)
            shift_tails = fit_sorted(sorted(shift_residuals), shift_tails)
            if accumulates and accumulated >= SHIFT_HISTORY:
                norm_center, norm_inverse = mean, evidence_scale(mean, square, lagged, quanta[i])
                theta = evidence_theta(square, fourth)
            rescale_in = RESCALE
            weekly_mean = sum(weekly) / seen_weekly if seen_weekly else 0.0
        # Choose the predictor; a run of zeros on counts keeps it (`RobustSeasonal._choose`).
        if counts and zero_run:
            continue
        if auto:
            best = 0
            for j in range(1, m):
                if (
                    scored[j] >= eligible_at[j]
                    and err[j] < 0.9 * err[best]
                    and (j < 2 or (trial_n >= trial_span and trial_mine < 0.9 * trial_theirs))
                ):
                    best = j
        else:
            best = m - 1
            while best and scored[best] < eligible_at[best]:
                best -= 1
        if best != chosen:
            tails[best] = fit_settled(
                sorted(residuals[best]), tails[best], shapes[best], samples, span
            )
            if counts:  # `RobustSeasonal._choose`
                shift = up = down = 0.0
        chosen = best
