"""`RobustSeasonal` over a whole series at once: the fast path of a backtest.

`score_series` scores each sample then learns it, exactly as the live path does one window
at a time (`RobustSeasonal.score`, then `learn` once the window is final), with the same
arithmetic in the same order, so it raises the same alerts (tests/rules/test_batch.py runs
both on random series). It keeps the detector's state in local variables and builds a
`Verdict` only for the samples an alert shows (`SeriesScores.verdict`), which makes a
replay several times faster. `seasonal.py` stays the readable reference.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence

import numpy as np

from vigie.rules.detectors import Verdict
from vigie.rules.detectors.seasonal import (
    _NEVER,
    CLIP,
    CONFIRM,
    COUNT_MEAN,
    DAY_US,
    DRIFT,
    ERROR_RATE,
    EVIDENCE_FROM,
    KEEP,
    NAMES,
    NO_TAILS,
    RESCALE,
    RIVAL,
    SATURDAY,
    SHIFT_HISTORY,
    SHIFT_RATE,
    SHIFT_WINDOW,
    WEEK_US,
    WEEKEND,
    ZERO_PRIOR,
    RobustSeasonal,
    Shapes,
    Tails,
    Trial,
    _z_of,
    count_p,
    evidence_clip,
    evidence_p,
    evidence_scale,
    evidence_theta,
    file_excess,
    fit_settled,
    fit_sorted,
    tail_edges,
    tail_p,
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
        return (y / 2.0) ** 2 - 0.375 if counts and y > 0 else (0.0 if counts else y)

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
        _run(detector, False, times, values, 0, len(values), records, early=True)
        return SeriesScores(detector, False, records)
    # Until the decision, nothing is ready and values are taken as they are; the decision
    # restarts the detector on the early samples, as `RobustSeasonal.learn` does.
    _run(detector, False, times, values, 0, decided + 1, records, early=True)
    early = values[: decided + 1]
    integers = all(x == int(x) and x >= 0 for x in early)
    counts = integers and sum(early) / len(early) < COUNT_MEAN
    _run(detector, counts, times, values, decided + 1, len(values), records, early=False)
    return SeriesScores(detector, counts, records)


def _run(
    det: RobustSeasonal,
    counts: bool,
    times: Sequence[int],
    values: Sequence[float],
    first_scored: int,
    stop: int,
    records: list[Record],
    *,
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
    week: deque[tuple[int, float]] = deque()
    daily = [0.0] * nd
    daily_n = [0.0] * nd
    daily_since = [_NEVER] * nd
    weekly = [0.0] * nw
    weekly_n = [0.0] * nw
    weekly_since = [_NEVER] * nw
    samples = 0
    quantum = inf
    last: float | None = None
    shift = 0.0
    run: list[float] = []
    run_at = 0  # when the run began,
    run_level = 0.0  # and the level then
    before: float | None = None  # the level before the last confirmed shift,
    shifted_at = 0  # and when that shift began
    shifts: deque[tuple[int, float]] = deque()  # `RobustSeasonal.shifts`
    rescale_in = rounds = chosen = 0
    err = [0.0] * m
    scored = [0] * m
    # `RobustSeasonal.trial`: the weekly and daily predictors' errors over the last day.
    trial_span = Trial(DAY_US // det.step_us).span
    trial_mine = trial_theirs = 0.0
    trial_n = 0
    clip_for, clip = NO_TAILS, CLIP  # the chosen tails' `evidence_clip`, cached
    daily_size = 0.0
    residuals: list[deque[float]] = [deque(maxlen=window) for _ in range(m)]
    ordered: list[list[float]] = [[] for _ in range(m)]  # each window, kept sorted
    tails: list[Tails] = [NO_TAILS] * m
    span = window
    shapes = [Shapes(DAY_US // det.step_us) for _ in range(m)]  # `fit_settled`
    shift_residuals: deque[float] = deque(maxlen=SHIFT_WINDOW)
    shift_ordered: list[float] = []
    shift_tails = NO_TAILS
    zeros = counted = zero_log = 0.0
    zero_run = seen_weekly = 0
    count_mean = 0.0  # `RobustSeasonal.count_mean`
    knot_zeros = [0.0] * nd
    knot_counted = [0.0] * nd
    eligible_at = [need] + [trust] * (m - 1)
    p_half = det.p_fire / 2
    p_run_half = det.p_run / 2
    # Each predictor's fire edges and the thresholds beyond which a residual is an excess
    # (`file_excess`), for its tails and floor.
    edges: list[tuple[Tails, float, float, float, float, float]] = [
        (NO_TAILS, -1.0, 0.0, 0.0, 0.0, 0.0)
    ] * m
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

    def zero_rate(at_us: int) -> float:
        overall = (zeros + 1.0) / (counted + 2.0)
        if not nd:
            return overall
        k = int((at_us % DAY_US) / knot_us)
        return (knot_zeros[k] + ZERO_PRIOR * overall) / (knot_counted[k] + ZERO_PRIOR)

    # Where each instant falls among the knots of the day and of the week, at once.
    at = np.asarray(times[:stop], dtype=np.int64)
    y_all = np.asarray(values[:stop], dtype=np.float64)
    if counts:
        y_all = 2.0 * np.sqrt(np.where(y_all > 0, y_all, 0.0) + 0.375)
    ys: list[float] = y_all.tolist()
    k = kw = k1 = kw1 = 0
    f = fw = 0.0
    if nd:
        pos = (at % DAY_US) / knot_us
        k_at = pos.astype(np.int64)
        f_all = pos - k_at
        ks: list[int] = k_at.tolist()
        fs: list[float] = f_all.tolist()
        k1s: list[int] = ((k_at + 1) % nd).tolist()
        kw_at = ((at // DAY_US) % 7) * nd + k_at
        fw_all = np.where(k_at + 1 < nd, f_all, 0.0)
        kws: list[int] = kw_at.tolist()
        fws: list[float] = fw_all.tolist()
        kw1s: list[int] = np.where(fw_all != 0, kw_at + 1, kw_at).tolist()

    for i in range(stop):
        at_us = times[i]
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
                old = at_us - DAY_US // 2
                d = daily[k] * (1 - f) + daily[k1] * f
                seen_d = daily_since[k] <= old and (f == 0 or daily_since[k1] <= old)
                preds = [level, level + d]
                ready = [True, seen_d]
                if weekly_on:
                    kw = kws[i]
                    fw = fws[i]
                    kw1 = kw1s[i]
                    old = at_us - WEEK_US // 2
                    w = weekly[kw] * (1 - fw) + weekly[kw1] * fw
                    preds.append(d + w + reference - weekly_mean)
                    ready.append(
                        seen_d and weekly_since[kw] <= old and (fw == 0 or weekly_since[kw1] <= old)
                    )
        if i >= first_scored:
            if early or level is None:
                shown = value if level is None else level
                records.append((value, shown, 0, None, 0.0, 1.0, 1.0, 0.0, samples, False))
            else:
                floor = 0.5 * quantum if quantum < inf else 0.0
                lv = level if level >= 0 else -level
                least = 1e-9 * (lv if lv > 1.0 else 1.0)
                floor = floor if floor >= least else least
                rival = RIVAL * err[chosen]
                best_p, best = -1.0, chosen
                for j in range(m):
                    if j != chosen and (
                        not ready[j] or err[j] > rival or scored[j] < eligible_at[j]
                    ):
                        continue
                    t = tails[j]
                    p = tail_p(t, y - preds[j] - t[0], floor)
                    if j == chosen:
                        p_chosen = p
                    if p > best_p:
                        best_p, best = p, j
                scored_floor = floor
                t = tails[best]
                expected = preds[best] + t[0]
                back = returning = False  # `RobustSeasonal._returning`
                if (
                    before is not None
                    and chosen < 2
                    and DAY_US // 2 <= at_us - shifted_at < WEEK_US
                    and not (weekly_on and ready[2])
                ):
                    off = ((run_at if run else at_us) - shifted_at) % DAY_US
                    if off <= knot_us or DAY_US - off <= knot_us:
                        returning = True
                        ct = tails[chosen]
                        there = preds[chosen] + before - level + ct[0]
                        p = tail_p(ct, y - there, floor)
                        if p > best_p:
                            best_p, best, t, expected, back = p, chosen, ct, there, True
                if not returning and shifts and chosen < 2:  # `RobustSeasonal._recurring`
                    began = (run_at if run else at_us) - WEEK_US
                    for s_at, moved in shifts:
                        if -knot_us <= began - s_at <= knot_us:
                            ct = tails[chosen]
                            there = preds[chosen] + moved + ct[0]
                            p = tail_p(ct, y - there, floor)
                            if p > best_p:
                                best_p, best, t, expected, back = p, chosen, ct, there, True
                            break
                residual = y - expected
                p = best_p
                if counts and residual > 0 and p < p_run:
                    p = count_p(value, preds[chosen], p, count_mean)
                ct = tails[chosen]
                sc = ct[1] if ct[1] >= floor else floor
                if clip_for is not ct:
                    clip_for, clip = ct, evidence_clip(ct)
                limit = clip * sc if sc > 0 else inf
                r = y - preds[chosen] - ct[0]
                r = limit if r > limit else -limit if r < -limit else r
                shift_next = (1 - SHIFT_RATE) * shift + SHIFT_RATE * r
                st = shift_tails
                if (
                    not back
                    and len(shift_residuals) >= SHIFT_HISTORY
                    and st[1] > 0
                    and (shift_next > 0) == (residual > 0)
                ):
                    p_shift = tail_p(st, shift_next - st[0], 1e-12)
                    p = p if p < p_shift else p_shift
                x_next = r
                if norm_inverse > 0:
                    u = (x_next - norm_center) * norm_inverse
                    up_next = up + u - DRIFT
                    down_next = down - u - DRIFT
                    up_next = up_next if up_next > 0 else 0.0
                    down_next = down_next if down_next > 0 else 0.0
                    evidence = up_next if residual > 0 else down_next
                    if not back and evidence >= EVIDENCE_FROM:
                        p_ev = evidence_p(evidence, theta)
                        p = p if p < p_ev else p_ev
                p = 2 * p
                p = p if p < 1.0 else 1.0
                if counts and value <= 0 and zero_run:
                    p = min(p, 2 * exp(zero_log + log(zero_rate(at_us))))
                if weekly_on and not ready[2]:  # `RobustSeasonal._unseen_weekend`
                    began = run_at if run else at_us
                    pc = preds[chosen]
                    if (
                        0 < y < WEEKEND * pc
                        and pc <= WEEKEND * y
                        and (began // DAY_US) % 7 == SATURDAY
                        and began % DAY_US < knot_us
                        and at_us - began < DAY_US
                    ):
                        p = 1.0
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
                        floor,
                        p_raw,
                        p,
                        residual,
                        samples,
                        samples >= warmup and scored[best] > 2,
                    )
                )
        # Learn the sample.
        if counts:
            zero = value <= 0
            if zero:
                zero_log += log(zero_rate(at_us))
                zero_run += 1
            else:
                zero_log, zero_run = 0.0, 0
            count_mean += (value - count_mean) / window
            zeros = zeros * keep + zero
            counted = counted * keep + 1.0
            if nd:
                kz = ks[i]
                knot_zeros[kz] = knot_zeros[kz] * forget + zero
                knot_counted[kz] = knot_counted[kz] * forget + 1.0
        if last is not None:
            gap = y - last if y >= last else last - y
            ay = y if y >= 0 else -y
            if gap > 1e-9 * (ay if ay > 1.0 else 1.0) and gap < quantum:
                quantum = gap
        last = y
        samples += 1
        if level is None:
            level = y
            continue
        floor = 0.5 * quantum if quantum < inf else 0.0
        lv = level if level >= 0 else -level
        least = 1e-9 * (lv if lv > 1.0 else 1.0)
        floor = floor if floor >= least else least
        for j in range(m):
            if not ready[j]:
                continue
            t = tails[j]
            residual = y - preds[j] - t[0]
            scale = t[1] if t[1] > floor else floor
            limit = CLIP * scale if t[1] > 0 else inf
            clipped = limit if residual > limit else -limit if residual < -limit else residual
            size = clipped if clipped >= 0 else -clipped
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
            wide = KEEP * scale if t[1] > 0 else inf
            if t[1] <= 0:
                lo = hi = wide
            else:
                cached = edges[j]
                if cached[0] is not t or cached[1] != floor:
                    lo, hi = tail_edges(t, p_half, floor)
                    least = 1.64 * scale
                    cached = (t, floor, lo, hi, max(t[2], least), max(t[4], least))
                    edges[j] = cached
                lo, hi = cached[2], cached[3]
                if residual > cached[5] or residual < -cached[4]:
                    file_excess(shapes[j], t, residual, lo, hi, floor)
                lo = lo if lo < wide else wide
                hi = hi if hi < wide else wide
                if residual > hi or residual < -lo:
                    lo, hi = tail_edges(t, p_run_half, floor)
                    lo = lo if lo < wide else wide
                    hi = hi if hi < wide else wide
            kept = t[0] + (hi if residual > hi else -lo if residual < -lo else residual)
            res = residuals[j]
            srt = ordered[j]
            if len(res) == window:
                del srt[bisect_left(srt, res[0])]
            res.append(kept)
            insort(srt, kept)
        ct = tails[chosen]
        residual = y - preds[chosen] - ct[0]
        judged = norm_inverse > 0
        if floor == scored_floor:  # as scored a moment ago
            shift = shift_next
            beyond = p_chosen <= p_run
            x = x_next
        else:
            sc = ct[1] if ct[1] >= floor else floor
            if clip_for is not ct:
                clip_for, clip = ct, evidence_clip(ct)
            limit = clip * sc if sc > 0 else inf
            r = limit if residual > limit else -limit if residual < -limit else residual
            shift = (1 - SHIFT_RATE) * shift + SHIFT_RATE * r
            beyond = tail_p(ct, residual, floor) <= p_run
            x = r
            if judged:
                u = (x - norm_center) * norm_inverse
                up_next = up + u - DRIFT
                down_next = down - u - DRIFT
                up_next = up_next if up_next > 0 else 0.0
                down_next = down_next if down_next > 0 else 0.0
        scored_floor = -1.0
        if ready[chosen]:
            if len(shift_residuals) == SHIFT_WINDOW:
                del shift_ordered[bisect_left(shift_ordered, shift_residuals[0])]
            shift_residuals.append(shift)
            insort(shift_ordered, shift)
            if judged:
                up, down = up_next, down_next
            accumulated += 1
            g = 1.0 / accumulated if accumulated < SHIFT_WINDOW else moment_rate
            mean += g * (x - mean)
            square += g * (x * x - square)
            lagged += g * (x * previous - lagged)
            fourth += g * (x * x * x * x - fourth)
            previous = x
        # A run of samples beyond the clearing level on one side confirms a shift.
        if not beyond or (run and (run[-1] > 0) != (residual > 0)):
            run.clear()
        if beyond:
            if not run:
                run_at, run_level = at_us, level
            run.append(residual)
            if len(run) >= CONFIRM:
                moved = sorted(run)[len(run) // 2]
                sc = ct[1] if ct[1] >= floor else floor
                if before is not None and abs(level + moved - before) <= CLIP * sc:
                    before = None  # the return itself (`seasonal._confirm_shift`)
                else:
                    before, shifted_at = run_level, run_at
                level += moved
                shifts.append((run_at, moved))
                while run_at - shifts[0][0] > WEEK_US + DAY_US:
                    shifts.popleft()
                for j in range(m):  # the run's own residuals (`seasonal._forget_run`)
                    res = residuals[j]
                    srt = ordered[j]
                    for _ in range(min(len(run), len(res))):
                        del srt[bisect_left(srt, res.pop())]
                shift = up = down = 0.0
                run.clear()
        # Move the level and the profiles towards the sample.
        t0 = tails[0]
        scale = t0[1] if t0[1] >= floor else floor
        limit = CLIP * scale if t0[1] > 0 else inf
        if not nd:
            r = y - level
            level += alpha * (limit if r > limit else -limit if r < -limit else r)
        else:
            d = daily[k] * (1 - f) + daily[k1] * f if daily_n[k] > 0 else 0.0
            if m > 1:
                t1 = tails[1]
                scale = t1[1] if t1[1] >= floor else floor
                limit = CLIP * scale if t1[1] > 0 else inf
            r = y - level - d
            r = limit if r > limit else -limit if r < -limit else r
            level += alpha * r
            target = y - level
            for kn, wt in ((k, 1.0 - f), (k1, f)):  # `_learn_knots`, inlined
                if wt <= 0:
                    continue
                was = daily_n[kn]
                total = was + wt
                total = total if total <= day_cap else day_cap
                daily_n[kn] = total
                step = target - daily[kn]
                if was <= 0:
                    daily_since[kn] = at_us
                    daily[kn] += step
                else:
                    step = limit if step > limit else -limit if step < -limit else step
                    daily[kn] += wt / total * step
            if weekly_on:
                seasonless = y - d
                week.append((at_us, seasonless))
                week_sum += seasonless
                while at_us - week[0][0] >= WEEK_US:
                    week_sum -= week.popleft()[1]
                reference = week_sum / len(week)
                for kn, wt in ((kw, 1.0 - fw), (kw1, fw)):
                    if wt <= 0:
                        continue
                    was = weekly_n[kn]
                    total = was + wt
                    total = total if total <= week_cap else week_cap
                    weekly_n[kn] = total
                    step = seasonless - weekly[kn]
                    if was <= 0:
                        weekly_since[kn] = at_us
                        weekly[kn] += step
                        seen_weekly += 1
                    else:
                        step = limit if step > limit else -limit if step < -limit else step
                        weekly[kn] += wt / total * step
        rescale_in -= 1
        if rescale_in <= 0 or samples < 48:
            rounds += 1
            for j in range(m):
                if j == chosen or rounds % 4 == 0 or samples < 48:
                    tails[j] = fit_settled(ordered[j], tails[j], shapes[j], samples, span)
            shift_tails = fit_sorted(shift_ordered, shift_tails)
            if accumulates and accumulated >= SHIFT_HISTORY:
                norm_center, norm_inverse = mean, evidence_scale(mean, square, lagged, quantum)
                theta = evidence_theta(square, fourth)
            rescale_in = RESCALE
            weekly_mean = sum(weekly) / seen_weekly if seen_weekly else 0.0
        # Choose the predictor.
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
            tails[best] = fit_settled(ordered[best], tails[best], shapes[best], samples, span)
        chosen = best
