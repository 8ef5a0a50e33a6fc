"""The default anomaly detector: a robust, fast-adapting level with learned seasonality.

Three predictors share one decomposition of the series, updated in O(1) per sample:
`none` (a level), `daily` (the level plus a daily profile) and `weekly` (the daily profile
plus a weekly profile of the values without it, moved by how far the last seven days' mean
has gone from that profile's: the weekly profile sees a weekend, which the fast level,
reset after a shift, absorbs). Profiles are kept at knots an hour apart (two samples apart
for coarser series) and read by linear interpolation, so a 5-minute series learns its day
from a dozen samples per knot instead of one per slot; the daily predictor adds what the
knots missed at the sample's own time of day, once two days agree on it (`_fine`: a peak
narrower than the knots, a lunch rush, otherwise fired daily for two weeks). With
`seasonality: auto` the predictor with the smallest recent error is used once it has seen
the instant's knots; a declared seasonality is used as soon as it has.

A value is judged by its residual from the prediction against the predictor's residuals of
the last three days (64 to 256 of them: an hourly series forgets its first days' transients
as soon as a 5-minute one does): a robust centre and scale (the MAD, never below half the
data's resolution, so a quantised series does not fire on one step), and on each side the
empirical tail beyond its 90th percentile, taken as exponential (peaks over threshold), or
as generalized Pareto when the excesses of the last days say the tail is a power law
(`Shapes`): a series with ordinary bursts upwards is judged against its own bursts, and
still against a light tail downwards, and a heavy-tailed one (latencies) against its own
extremes. The tails' shape (each threshold and mean excess in scales) is the
median of the fits made over the last window: a dozen values per tail estimate it loosely,
and the fire edge, a few mean excesses beyond, moved by a scale or more from fit to fit.
A short average of residuals, judged against its own history (which
carries the residuals' autocorrelation), catches a shift or a run too small for one sample;
so does the evidence accumulated on each side (a CUSUM of the residuals, in deviations of
their long-run sum, so a lag-one autocorrelation does not pass for a shift),
which reaches the fire edge within a few samples of a level 3-5 deviations out, where no
single sample does; the score is the smallest tail probability of the three, doubled: one
threshold means the same on every series.
Non-negative integer series of small counts are judged on the square-root scale, where a
count's spread no longer grows with its level, against an expectation of no less than 0 and
with no less spread than a Poisson count's (`count_floor`), and a run of zeros by the chance
of each zero at its time of day, or of the week once a week has shown it, in turn (an
outage, where one zero is ordinary; a shop's closed Sunday is not), each zero of the run
counting as half a zero more seen in its daily knot's share (a knot seen once cannot call a
night rare). A run of zeros no longer than the one its time of day saw the day before is a
closure (a shop's night), not judged as a run (`_closing`). In a count series' first week a day
that has sold under a quarter of what was expected of it since midnight (in the windows expected
to sell), at a time of the week never seen, is a closed day, and a zero at a time of day never
seen a first night: neither is alerted, nor adds to the run's rarity. On a count series closed
at some time of day (a knot's share of zeros a half or more: a shop's night), no count at a time
of day never seen is alerted: its first opening and closing are the shape of its day. A count at
a profile knot itself, which blends the samples on both sides of it, is judged between the knots
before and after it when they are a step (an opening between two knots). A count's errors,
profile steps and shift runs are measured at no less than a Poisson count's spread
(`count_floor`): a shop's nights
shrink the residuals' scale, and each opening then confirmed a shift. After a confirmed shift
(several samples in a row beyond the clearing level, on one side) the level jumps to where
the data went, so an incident ends instead of lasting for days while a slow baseline
catches up; the run's residuals leave the tails, the earlier ones (the noise around the
level, which has not changed) stay, unless the next residuals say it has: when a positive
series' level moved up by a factor (`SPREAD_SHIFT`) and the steps between its next dozen
residuals are half as large again as before, or more, what the earlier ones taught is scaled
by as much, up to that factor (`_check_spread`: a latency that doubled, its noise with it).
Until the weekly profile knows an instant, a value at the
hour a confirmed shift began, on a later day, may also be a return to the level it left (the
Monday after a first weekend), and is judged against that level too, once; not after a shift
the daily profile did not know the hour of (a series' first hours: the level learning the day).
A step at the start of a Saturday the weekly profile has never seen (a first weekend) is not
alerted, unless it leaves a factor of four of the weekdays' values; a step confirmed a week ago
at this time of the week is expected again, and a run the way steps went at its time of day on each
of the last two days (a finer series' working-day ramps, which the level took as steps while it
learned its first day) is left to the tails (`_daily_step`). On every series but counts, the
daily profile and the level are derived again from the first day once it is complete
(`settle_day`): learned while the level chased the cycle, the profile left a band several times
the noise for days. The short average is then judged against no less spread than independent
residuals at the chosen predictor's scale would give it (`SHIFT_SPREAD`): settled, a series'
residuals of the last days can be so alike that its history, tighter than the noise allows,
fired on three samples of two deviations.
A settled series' first weekend may stray from the daily prediction by half its cycle, once it began
with a step (`CYCLE_SLACK`).
A source that repeats one value far longer than the series ever did (`_stuck_p`: 8 samples in a row
at the least, three times its longest run, and rarer than one in a million at its repeat rate) is
stuck: that is an incident of its own, alerted while it lasts, and its flat values teach nothing
(not the tails, the short average, the evidence, the level or the profiles; they confirm no shift):
the values that come back are judged against what was learned before. Zeros and counts are never
stuck.

Times of day and days of the week are the detector's time zone's (`timezone`, UTC unless
given; `wallclock.WallClock`): a shop opening at 09:00 in Paris keeps its profile through the
changes of daylight-saving time, and its first Saturday starts at the local midnight.
Durations (a knot seen half a day ago, a run a day long) stay in real time.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from itertools import pairwise, repeat
from operator import sub
from statistics import NormalDist

import numpy as np

from vigie.kpi.wallclock import UTC_NAME, wall_clock
from vigie.rules.detectors import Direction, SeasonalityChoice, Verdict

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
WEEK_US = 7 * DAY_US
LEVEL_US = 6 * HOUR_US  # the level's time constant
DAY_MEMORY = 8.0  # periods a daily knot averages over
WEEK_MEMORY = 2.0
SHIFT_RATE = 0.1  # the short average of residuals
SHIFT_SPREAD = math.sqrt(SHIFT_RATE / (2.0 - SHIFT_RATE))  # its spread on independent residuals
SHIFT_HISTORY = 128  # values of the short average seen before it is judged
SHIFT_WINDOW = 256  # and the most it is judged against
MEMORY_US = 3 * DAY_US  # residuals are judged against those of the last three days,
MIN_WINDOW, MAX_WINDOW = 64, 256  # but no fewer and no more than these
CONFIRM = 5  # samples in a row beyond the clearing level that confirm a shift
RESCALE = 16  # samples between two estimates of the residuals' tails
TAIL = 0.1  # each side's tail beyond its 90th percentile is exponential
CLIP = 4.0  # residuals beyond this many scales move the level no further
ERROR_RATE = 1 / 64  # the smoothing of each predictor's recent error
BETA = 0.4  # the least mean excess of a tail, in scales
RIVAL = 1.35  # a predictor this much worse than the chosen one may still explain a value
KEEP = 8.0  # and are kept for the tails up to this many
RIVAL_FROM = 4  # scores a count's seasonal predictor needs to explain a value as a rival
ZERO_PRIOR = 8.0  # samples' worth of the overall share of zeros in each knot's
COUNT_MEAN = 50.0  # integer series averaging below this are judged as counts
COUNT_SPREAD = 0.25  # a count's early steps, in its Poisson spread, at the least
SHAPE_FROM = 32  # residuals a fit needs to count towards the tails' shape (a median of
SHAPE_FITS = 3  # at least this many fits over the last window of residuals)
EXCESSES = 256  # excesses beyond each tail's threshold its index is learned from,
INDEX_EVERY = 64  # estimated again once this many are new
XI_MAX = 0.5  # the heaviest tail index believed (a tail with a finite variance)
INDEX_PRIOR = 32.0  # excesses' worth of belief in an exponential tail
XI_LIGHT = 0.15  # an estimated index below this is a light tail's
XI_EARLY = 0.3  # the least index on a series' first day
DRIFT = 1.5  # evidence a sample adds beyond this many long-run deviations
RHO_MAX = 0.9  # the most lag-one autocorrelation the evidence is corrected for
EVIDENCE_FROM = 1.0  # accumulated evidence below this is none
SQRT2 = math.sqrt(2.0)
ZERO_Y = 2.0 * math.sqrt(0.375)  # a count of 0 on the square-root scale
STEP = 2.5  # two knots are a step when one expects this many counts, and as many times the other's
NAMES = ("none", "daily", "weekly")
SATURDAY = 2  # days since the (local) epoch, a Thursday, modulo 7
WEEKEND = 4.0  # a first weekend's step stays within this factor of the weekdays' values
WRAP = 0.25  # a first day ending further than this share of its range from its start stepped
CYCLE_SLACK = 0.5  # and its daily cycle within this share of the weekdays' cycle
CYCLE_SIGNIFICANT = 4.0  # a first day's profile varies this many times its knots' noise, or is none
RUN_WEIGHT = 0.5  # zeros seen that each zero of a run in progress adds to its knot's share
STUCK_LEAST = 8  # a source repeating its value this many times in a row may be stuck,
STUCK_LOG = math.log(1e-6)  # once a run so long is this unlikely at its repeat rate,
STUCK_RUNS = 3.0  # and this many times as long as any run the series made before
SPREAD_SHIFT = 1.5  # a positive series' level moved up by this factor or more by a shift:
SPREAD_CHECK = 12  # the residuals after it whose steps,
SPREAD_GREW = 1.5  # this many times those of the residuals before it or more,
SPREAD_BEFORE = 64  # (the last of them, at most this many), widen what those taught
CLOSED = 0.25  # a first-week day selling under this share of its expectation is closed,
CLOSED_LEAST = 10.0  # once that expectation is at least this many counts,
TRADING = 1.0  # counted over the samples expected to sell at least this many
FINE_LEAST_US = 60_000_000  # the daily profile's correction per time of day is at least a minute
FINE_FROM = 2.0  # days a time of day's correction needs before it is applied,
FINE_SURE = 16.0  # and its mean this many times its squared standard error, or more
NORMAL = NormalDist()
_NEVER = 2**62


Tails = tuple[float, float, float, float, float, float, float, float]
"""A fit of recent residuals: (centre, scale, lower threshold, lower mean excess, upper
threshold, upper mean excess, lower tail index, upper tail index); an index of 0 is an
exponential tail."""
NO_TAILS: Tails = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
Shape = tuple[int, float, float, float, float]
"""One fit's tails in scales: (samples learned when fitted, lower threshold, lower mean
excess, upper threshold, upper mean excess)."""


def count_floor(y: float, floor: float) -> float:
    """The smallest scale a count predicted at `y` on the square-root scale is judged on
    (`floor` if larger): the deviation a Poisson count of that mean has there, 1 for counts
    of a few and more, less for a fraction of one. The residuals' scale is one for the
    whole day; a shop's quiet nights, where most residuals are 0, shrink it far below
    what its busy hours show, and an ordinary hour of trade then looked like an anomaly."""
    var = 1.0 - 1.5 / (y * y) if y > ZERO_Y else 0.0
    sd = math.sqrt(var) if var > 0 else 0.0
    return sd if sd > floor else floor


class Shapes:
    """What `fit_settled` remembers of earlier fits and residuals: the fits' shapes over the
    last window (`recent`, for the median threshold and mean excess), and each side's last
    `EXCESSES` excesses beyond its threshold, in mean excesses (`file_excess`), which give
    the tail's index: a dozen excesses per fit say little about how heavy a tail is, a few
    hundred do. The excesses are those of the residuals as they came, up to the fire edge:
    the window keeps an anomaly at the clearing level only, and a heavy tail cut there
    would look exponential and stay so."""

    __slots__ = ("day", "fresh", "index", "lower", "ranked", "recent", "upper")

    def __init__(self, day: int = 0) -> None:
        self.day = day  # samples a day (0: no first-day index)
        self.recent: deque[Shape] = deque()
        # The four ratios of the fits in `recent`, each kept in ascending order (their medians).
        self.ranked: tuple[list[float], ...] = ([], [], [], [])
        self.lower: deque[float] = deque(maxlen=EXCESSES)
        self.upper: deque[float] = deque(maxlen=EXCESSES)
        self.fresh = 0  # excesses filed since the index was estimated
        self.index = (0.0, 0.0)

    def indexes(self, now: int) -> tuple[float, float]:
        """Each side's tail index after `now` samples, estimated again once `INDEX_EVERY`
        excesses are new, and at least the index of both sides' excesses together (twice as
        many: a symmetric heavy tail is found sooner); at least `XI_EARLY` on the first day,
        fading over the second: a
        day of excesses cannot tell a heavy tail from a light one, and a heavy-tailed
        series' first day is where an exponential tail fires on the noise's extremes."""
        if self.fresh >= INDEX_EVERY:
            self.fresh = 0
            both = _index([*self.lower, *self.upper])
            lower, upper = _index(self.lower), _index(self.upper)
            self.index = (lower if lower > both else both), (upper if upper > both else both)
        day = self.day
        if now >= 2 * day:
            return self.index
        early = XI_EARLY if now < day else XI_EARLY * (2 * day - now) / day
        lower, upper = self.index
        return (lower if lower > early else early), (upper if upper > early else early)


def file_excess(
    shapes: Shapes, tails: Tails, residual: float, lo: float, hi: float, floor: float
) -> None:
    """File a residual (from the tails' centre) that goes beyond its side's threshold, as
    its excess in mean excesses, cut at the fire edge (`lo` below, `hi` above)."""
    scale = tails[1] if tails[1] > floor else floor
    if residual >= 0:
        u = tails[4] if tails[4] > 1.64 * scale else 1.64 * scale
        if residual > u:
            beta = tails[5] if tails[5] > BETA * scale else BETA * scale
            shapes.upper.append(((residual if residual < hi else hi) - u) / beta)
            shapes.fresh += 1
    else:
        u = tails[2] if tails[2] > 1.64 * scale else 1.64 * scale
        if -residual > u:
            beta = tails[3] if tails[3] > BETA * scale else BETA * scale
            shapes.lower.append(((-residual if -residual < lo else lo) - u) / beta)
            shapes.fresh += 1


def _index(excesses: Sequence[float]) -> float:
    """The generalized Pareto tail index of some excesses by probability-weighted moments
    (Hosking and Wallis, 1987), shrunk towards an exponential tail (0) by `INDEX_PRIOR`
    excesses' worth, and taken from `XI_LIGHT` on (stretched back to `XI_MAX`): below it, an
    estimate is as often the noise of a few hundred excesses of a light tail, and a light
    tail taken for a heavy one hides the spikes it should show."""
    n = len(excesses)
    if n < 3:
        return 0.0
    ordered = np.sort(np.fromiter(excesses, float, n))
    a0 = float(ordered.mean())
    a1 = float(ordered @ np.arange(n - 1, -1, -1.0)) / (n * (n - 1))
    if a0 <= 0 or a0 <= 2 * a1:
        return 0.0
    xi = (2.0 - a0 / (a0 - 2.0 * a1)) * n / (n + INDEX_PRIOR)
    xi = (xi - XI_LIGHT) * XI_MAX / (XI_MAX - XI_LIGHT)
    return 0.0 if xi < 0 else XI_MAX if xi > XI_MAX else xi


def fit_tails(values: Iterable[float], previous: Tails) -> Tails:
    """The robust centre and scale of `values` and each side's exponential tail (`previous`
    when there are fewer than three)."""
    return fit_sorted(sorted(values), previous)


def fit_sorted(ordered: Sequence[float], previous: Tails) -> Tails:
    """`fit_tails` of values already in ascending order: the median, the MAD (the middle
    of the deviations below and above it, two sorted runs, found by bisection), and the
    mean excess of each side's top tenth (exponential tails)."""
    n = len(ordered)
    if n < 3:
        return previous
    h = n // 2
    center = ordered[h]
    inflate = 1.0 + 8.0 / n  # few residuals: a wider tail
    # Deviations below (center - ordered[h - i], i <= h) and above (ordered[h + j] - center,
    # j < n - h), both ascending: the MAD is the h-th smallest of the two runs together.
    lo, hi = max(0, h + 1 - (n - h)), h + 1
    while lo < hi:
        i = (lo + hi) // 2
        if center - ordered[h - i] < ordered[h + h - i] - center:
            lo = i + 1
        else:
            hi = i
    j = h + 1 - lo
    a = center - ordered[h - lo + 1] if lo > 0 else -math.inf
    b = ordered[h + j - 1] - center if j > 0 else -math.inf
    mad = a if a >= b else b
    m = h + 1
    at = min(m - 1, int((1 - TAIL) * m))
    lo_u, lo_beta = _tail(
        map(sub, repeat(center), reversed(ordered[: h - at + 1])), m - at, inflate
    )
    m = n - h
    at = min(m - 1, int((1 - TAIL) * m))
    hi_u, hi_beta = _tail(map(sub, ordered[h + at :], repeat(center)), m - at, inflate)
    return (center, 1.4826 * mad * inflate, lo_u, lo_beta, hi_u, hi_beta, 0.0, 0.0)


def fit_settled(
    ordered: Sequence[float], previous: Tails, shapes: Shapes, now: int, span: int
) -> Tails:
    """`fit_sorted`, with each tail's threshold and mean excess taken as the median of their
    ratios to the scale over the fits of the last `span` samples (`shapes`: the earlier fits,
    which this call updates; `now`: the samples learned), and each tail's index learned from
    its last excesses (`Shapes`). The scale
    and centre follow the recent residuals; the tails' shape is a property of the noise that
    a window's top tenth (a dozen values) only estimates loosely, and a loose tail moves the
    fire edge by a scale or more. A median, not a mean: a wild stretch (a noisy start) is
    forgotten as soon as it has left half the fits. The index: a heavy tail (latencies,
    returns: a power law) is not exponential, and an exponential one fitted to it puts the
    fire edge among the noise's own extremes."""
    if len(ordered) < 3:
        return previous
    fit = fit_sorted(ordered, previous)
    center, scale = fit[0], fit[1]
    if scale <= 0 or len(ordered) < SHAPE_FROM:
        return fit
    recent = shapes.recent
    shape = (now, fit[2] / scale, fit[3] / scale, fit[4] / scale, fit[5] / scale)
    recent.append(shape)
    lo_u, lo_beta, hi_u, hi_beta = shapes.ranked
    insort(lo_u, shape[1])
    insort(lo_beta, shape[2])
    insort(hi_u, shape[3])
    insort(hi_beta, shape[4])
    while now - recent[0][0] > span:
        _, *gone = recent.popleft()
        for ranked, x in zip(shapes.ranked, gone, strict=True):
            del ranked[bisect_left(ranked, x)]
    lo_xi, hi_xi = shapes.indexes(now)
    if len(recent) < SHAPE_FITS:
        return (*fit[:6], lo_xi, hi_xi)
    h = len(recent) // 2
    return (
        center,
        scale,
        lo_u[h] * scale,
        lo_beta[h] * scale,
        hi_u[h] * scale,
        hi_beta[h] * scale,
        lo_xi,
        hi_xi,
    )


def tail_p(tails: Tails, deviation: float, floor: float) -> float:
    """The two-sided tail probability of a deviation from the centre."""
    scale = tails[1] if tails[1] > floor else floor
    upper = deviation >= 0
    if upper:
        u = tails[4]
    else:
        u = tails[2]
        deviation = -deviation
    if u < 1.64 * scale:
        u = 1.64 * scale
    if deviation <= u:
        p = math.erfc(deviation / scale / SQRT2)
        return p if p > TAIL else TAIL
    beta, xi = (tails[5], tails[7]) if upper else (tails[3], tails[6])
    if beta < BETA * scale:
        beta = BETA * scale
    if xi > 0:  # a generalized Pareto tail of scale `beta`: never below the exponential
        return TAIL * math.pow(1.0 + xi * (deviation - u) / beta, -1.0 / xi)
    return TAIL * math.exp(-(deviation - u) / beta)


def evidence_p(s: float, theta: float = 2.0 * DRIFT) -> float:
    """The chance per sample that one side's accumulated evidence (a CUSUM of residuals in
    long-run deviations, less `DRIFT`) reaches `s` on noise alone, either side: two over its
    average run length to `s` (Siegmund's approximation, with the root `theta` of the
    increments' moment generating function: `2 DRIFT` for normal ones, `evidence_theta`)."""
    if s < EVIDENCE_FROM:
        return 1.0
    b = theta * (s + 1.166)
    if b > 700.0:
        return 0.0
    return 2.0 * theta * DRIFT / (math.exp(b) - b - 1.0)


def evidence_theta(square: float, fourth: float) -> float:
    """The root `theta` (`evidence_p`) for residuals of mean square `square` and mean fourth
    power `fourth`: `2 DRIFT` for normal ones, less for heavy-tailed ones (excess kurtosis
    `k`: theta / 2 + k theta^3 / 24 = DRIFT), whose extremes, clipped as they are, add up
    to a shift far more often than normal ones would."""
    if square <= 0:
        return 2.0 * DRIFT
    k = fourth / (square * square) - 3.0
    theta = 2.0 * DRIFT
    if k <= 0:
        return theta
    for _ in range(8):  # Newton's method, from above: the function is convex and rising
        theta -= (theta / 2 + k * theta**3 / 24 - DRIFT) / (0.5 + k * theta * theta / 8)
    return theta


def evidence_scale(mean: float, square: float, lagged: float, quantum: float = math.inf) -> float:
    """One over the long-run deviation of residuals whose mean, mean square and
    mean product with the previous one are given (an AR(1) correction: a lag-one
    autocorrelation `rho` multiplies the variance of a long sum by (1 + rho) / (1 - rho));
    0 when they do not vary. Their variance is taken as at least the rounding's
    (`quantum` squared over 12) on a series with a resolution: residuals that mostly sit
    on one step would otherwise make a single step a shift."""
    var = square - mean * mean
    if var <= 0:
        return 0.0
    rho = (lagged - mean * mean) / var
    rho = 0.0 if rho < 0 else RHO_MAX if rho > RHO_MAX else rho
    rounding = quantum * quantum / 12
    if var < rounding:
        var = rounding
    return 1.0 / math.sqrt(var * (1 + rho) / (1 - rho))


def tail_edges(tails: Tails, p_fire: float, floor: float) -> tuple[float, float]:
    """The deviations below and above the centre whose tail probability is `p_fire`."""
    scale = tails[1] if tails[1] > floor else floor
    lo = max(tails[2], 1.64 * scale) + max(tails[3], BETA * scale) * _excess(tails[6], p_fire)
    hi = max(tails[4], 1.64 * scale) + max(tails[5], BETA * scale) * _excess(tails[7], p_fire)
    return lo, hi


def count_rate(predicted: float, mean: float) -> float:
    """The rate a count is judged against: the mean count of a prediction on the
    square-root scale (Anscombe's inverse), or the recent `mean` count if larger. The
    prediction follows the median of a low-rate series (mostly zeros), not its mean."""
    rate = (predicted / 2.0) ** 2 - 0.125
    rate = rate if rate > mean else mean
    return rate if rate > 1e-3 else 1e-3


def count_p(count: float, predicted: float, p: float, mean: float) -> float:
    """`p`, or the chance (doubled, as the tails' is two-sided) that a Poisson count
    predicted at `predicted` on the square-root scale (`count_rate`, with the recent `mean`
    count) reaches `count`, if larger: a count varies at least as much as a Poisson one, and
    a low-rate series (mentions: 0.5 per window) whose residuals are lumps on that scale has
    tails too thin to judge a 3 or a 4 by."""
    poisson = 2.0 * float(_pdtrc()(math.ceil(count) - 1, count_rate(predicted, mean)))
    return poisson if poisson > p else p


@cache
def _pdtrc() -> Callable[[float, float], float]:
    """SciPy's Poisson upper tail, imported when a count first needs it (once: an import
    statement in `count_p` cost as much as the rest of it)."""
    from scipy.special import pdtrc

    return pdtrc  # type: ignore[return-value]


def evidence_clip(tails: Tails) -> float:
    """How many scales of a residual count towards the shift statistic and the accumulated
    evidence: `CLIP`, less on a heavy tail (by its heavier side's index), where a few of the
    noise's own extremes close together would otherwise add up to a shift."""
    xi = tails[6] if tails[6] > tails[7] else tails[7]
    return CLIP * (1.0 - xi)


def _excess(xi: float, p: float) -> float:
    """How far beyond its threshold a tail of index `xi` reaches tail probability `p`, in
    mean excesses."""
    if xi > 0:
        return (math.pow(TAIL / p, xi) - 1.0) / xi
    return math.log(TAIL / p)


class _Tails:
    """The robust centre and scale of recent residuals, and each side's exponential tail
    (with a `span`: its shape the median of the fits of the last `span` samples,
    `fit_settled`)."""

    __slots__ = ("center", "params", "scale", "shapes", "span")

    def __init__(self, *, span: int = 0, day: int = 0) -> None:
        self.params = NO_TAILS
        self.center = self.scale = 0.0
        self.span = span
        self.shapes = Shapes(day)

    def fit(self, values: deque[float], now: int = 0) -> None:
        if not self.span:
            self.params = fit_tails(values, self.params)
        else:
            self.params = fit_settled(sorted(values), self.params, self.shapes, now, self.span)
        self.center, self.scale = self.params[0], self.params[1]

    def p_value(self, deviation: float, floor: float) -> float:
        """The two-sided tail probability of a deviation from the centre."""
        return tail_p(self.params, deviation, floor)

    def widen(self, factor: float) -> None:
        """Scale the centre, the scale and the tails' thresholds and mean excesses."""
        self.params = widened(self.params, factor)
        self.center, self.scale = self.params[0], self.params[1]

    def edges(self, p_fire: float, floor: float) -> tuple[float, float]:
        """The deviations below and above the centre whose tail probability is `p_fire`."""
        return tail_edges(self.params, p_fire, floor)


def widened(tails: Tails, factor: float) -> Tails:
    """`tails` of residuals `factor` times as large (the same tail indexes)."""
    c, s, lo_u, lo_beta, hi_u, hi_beta, lo_xi, hi_xi = tails
    f = factor
    return (c * f, s * f, lo_u * f, lo_beta * f, hi_u * f, hi_beta * f, lo_xi, hi_xi)


def _step_spread(values: Sequence[float]) -> float:
    """The median size of the steps between consecutive `values` (0 for fewer than two): a
    spread that a trend (a morning's ramp) hardly moves."""
    steps = sorted(abs(b - a) for a, b in pairwise(values))
    return steps[len(steps) // 2] if steps else 0.0


def _scaled(values: deque[float], factor: float, size: int) -> deque[float]:
    """`values` (at most `size`) with all but the last `SPREAD_CHECK` times `factor`."""
    old = len(values) - SPREAD_CHECK
    return deque((x * factor if i < old else x for i, x in enumerate(values)), maxlen=size)


def _tail(top: Iterator[float], count: int, inflate: float) -> tuple[float, float]:
    """(threshold, mean excess) of one side's `count` deviations beyond its 90th percentile
    (`top`, ascending)."""
    first = next(top)
    u = first * inflate
    return u, max(sum(top, first) / count * inflate - u, 0.0)


class Trial:
    """The weekly predictor's error against the daily one's, over the samples both know
    (a running mean over the last `span` of them, a day): with `seasonality: auto`, the
    weekly predictor is taken only once it has been better over a whole day. Its own recent
    error (a few hours) beat the daily one's by luck on series without a weekly pattern,
    where it predicts last week's noise: a slow wander copied a week later alerts."""

    __slots__ = ("mine", "n", "span", "theirs")

    def __init__(self, span: int) -> None:
        self.span = max(1, span)
        self.mine = self.theirs = 0.0
        self.n = 0

    def add(self, mine: float, theirs: float) -> None:
        """File one sample's (clipped) error of the weekly and of the daily predictor."""
        self.n += 1
        rate = 1.0 / self.n if self.n < self.span else 1.0 / self.span
        self.mine += rate * (mine - self.mine)
        self.theirs += rate * (theirs - self.theirs)

    def won(self) -> bool:
        """Whether the weekly predictor has been clearly better over the last day."""
        return self.n >= self.span and self.mine < 0.9 * self.theirs


class _Predictor:
    """One candidate's recent error and the tails of its residuals."""

    __slots__ = ("err", "name", "residuals", "scored", "tails")

    def __init__(self, name: str, window: int, day: int) -> None:
        self.name = name
        self.err = 0.0
        self.scored = 0
        self.residuals: deque[float] = deque(maxlen=window)
        self.tails = _Tails(span=window, day=day)


def judged_counts(early: Sequence[float]) -> bool:
    """Whether a series' first values are counts: non-negative integers averaging below
    `COUNT_MEAN` that move from one sample to the next as counts do. An integer sensor (a
    temperature in whole degrees around 40, steps of 0 or 1) moves far less than a Poisson
    count of its mean would: judged as counts, its band was ± 7 degrees wide."""
    if not all(x == int(x) and x >= 0 for x in early):
        return False
    mean = sum(early) / len(early)
    if mean >= COUNT_MEAN:
        return False
    steps = [abs(b - a) for a, b in pairwise(early)]
    moved = sum(steps) / len(steps) if steps else 0.0
    return mean < 10 or moved >= COUNT_SPREAD * math.sqrt(mean)


class RobustSeasonal:
    """A `Detector` for one series sampled every `step_us` (a metric's slide).

    `seasonality` is declared (`none`, `daily`, `weekly`, `both`: the weekly predictor
    includes the daily profile) or `auto`; `p_value` is the tail probability below which a
    value is anomalous, in `direction`; nothing is ready before `warmup` samples; `window`
    residuals are kept for the tails (default: three days' worth, 64 to 256); the profiles
    are read in the local time of `timezone` (an IANA name). A value is
    judged by the predictor that finds it least surprising among the chosen one and those
    nearly as good that know its instant: a weekend that the weekly predictor has seen once
    is not an anomaly because the daily one is still chosen.
    """

    def __init__(
        self,
        *,
        step_us: int,
        seasonality: SeasonalityChoice = "auto",
        direction: Direction = "both",
        p_value: float = 1e-4,
        warmup: int = 12,
        window: int | None = None,
        timezone: str = UTC_NAME,
    ) -> None:
        self.step_us = step = max(1, step_us)
        self.clock = wall_clock(timezone)
        self.seasonality = seasonality
        self.direction = direction
        self.warmup = warmup
        if window is None:
            window = min(MAX_WINDOW, max(MIN_WINDOW, MEMORY_US // step))
        self.window = window
        self.p_fire = p_value if direction == "both" else 2 * p_value
        self.p_run = math.sqrt(self.p_fire)  # beyond it, a sample continues a shift
        knot = max(2 * step, HOUR_US)
        per_day = DAY_US // knot
        if per_day >= 2:  # a whole number of knots a day, whatever the step (50 minutes)
            knot = -(-DAY_US // per_day)
        self.knot_us = knot
        self.nd = per_day if per_day >= 2 else 0
        self.nw = 7 * self.nd if WEEK_US // knot >= 2 * self.nd else 0
        self.slot_us = max(step, FINE_LEAST_US)
        per_knot = knot / step
        self.day_cap = DAY_MEMORY * per_knot
        self.week_cap = WEEK_MEMORY * per_knot
        self.weekday_forget = 1.0 - step / (WEEK_MEMORY * DAY_US)
        self.alpha = min(0.5, step / LEVEL_US)
        # A seasonal predictor is compared with the others after a quarter of a day.
        self.trust = max(warmup, 24, DAY_US // 4 // step)
        allowed = {"auto": 3, "none": 1, "daily": 2, "weekly": 3, "both": 3}[seasonality]
        if not self.nd:
            allowed = 1
        self.models = [_Predictor(n, window, DAY_US // step) for n in NAMES[:allowed]]
        self.chosen = 0
        self.shift_residuals: deque[float] = deque(maxlen=SHIFT_WINDOW)
        self.shift_tails = _Tails()
        self.counts: bool | None = None
        self._reset()
        self._early: list[tuple[int, float]] = []

    def _reset(self) -> None:
        self.level: float | None = None
        self.reference = 0.0
        self.week_values: deque[tuple[int, float]] = deque()
        self.week_sum = 0.0
        self.weekly_mean = 0.0
        self.daily = [0.0] * self.nd
        self.daily_n = [0.0] * self.nd
        self.daily_since = [_NEVER] * self.nd
        self._reset_fine()
        self.weekly = [0.0] * self.nw
        self.weekly_n = [0.0] * self.nw
        self.weekly_since = [_NEVER] * self.nw
        self.samples = 0
        # The first day's (time, value), until it is complete (`_settle`); not for counts.
        self.settled = False  # whether it was (`_settle`)
        self.first_day: list[tuple[int, float]] | None = (
            [] if len(self.models) > 1 and not self.counts else None
        )
        self.first_us = 0  # when the first sample was learned
        self.quantum = math.inf
        self.last: float | None = None
        self.smallest = math.inf  # the smallest value learned
        # Samples equal to the one before in a row, the (forgetting) share of such repeats
        # among the samples learned, the longest run that ended not stuck, and whether the
        # last sample was (`_stuck_p`).
        self.same = self.longest = 0
        self.repeats = self.repeated = 0.0
        self.frozen = False
        self.shift = 0.0
        self.run: list[float] = []
        # The residuals since the last confirmed shift, while they are checked (`_check_spread`).
        self.after: list[float] | None = None
        self.grown = self.spread = 1.0  # the factor the level moved by, the steps' spread before
        self.run_at = 0  # when the run began,
        self.run_level = 0.0  # and the level then
        self.before: float | None = None  # the level before the last confirmed shift,
        self.shifted_at = 0  # and when that shift began
        # (local time it began, moved) of the last week's confirmed shifts
        self.shifts: deque[tuple[int, float]] = deque()
        # Accumulated evidence: each side's CUSUM, the moments of the clipped residuals it is
        # normalised by (mean, mean square, mean lag-one product), the last of them, how many
        # were seen, and the centre and inverse long-run deviation of the last refit. Its own
        # moments, not the tails' scale: that one moves by a tenth from fit to fit, and every
        # residual of a fit with a low scale would add too much evidence.
        self.up = self.down = 0.0
        self.moments = (0.0, 0.0, 0.0)
        self.fourth = 0.0  # and their mean fourth power, for `theta` (`evidence_theta`)
        self.theta = 2.0 * DRIFT
        self.previous = 0.0
        self.accumulated = 0
        self.norm = (0.0, 0.0)
        self._rescale_in = 0
        self._rounds = 0
        self._cached: tuple[int, float, list[float], list[bool], int, int, float] | None = None
        self.chosen = 0
        self.trial = Trial(DAY_US // self.step_us)
        for model in self.models:
            model.err, model.scored = 0.0, 0
            model.residuals.clear()
            model.tails = _Tails(span=self.window, day=DAY_US // self.step_us)
        self.shift_residuals.clear()
        self.shift_tails = _Tails()
        self.zeros = self.counted = self.zero_log = 0.0
        self.zero_run = 0
        # The local day of the last sample learned, its counts so far and what the chosen
        # predictor expected of them (`_closed_day`).
        self.day_at = -1
        self.day_total = self.day_expected = 0.0
        self.count_mean = 0.0  # a running mean of the counts over a window (`count_p`)
        self.knot_zeros = [0.0] * self.nd
        self.knot_counted = [0.0] * self.nd
        self.week_zeros = [0.0] * self.nw
        self.week_counted = [0.0] * self.nw
        self.week_zero_since = [_NEVER] * self.nw
        self.run_zeros = 0.0  # the zeros of the run in progress in weekly knot `run_knot`
        self.run_knot = -1
        self.weekday_zeros = [0.0] * 7  # each day of the week's share of zeros
        self.weekday_counted = [0.0] * 7
        self.run_day_zeros = 0.0  # and the run's zeros on day `run_day`
        self.run_day = -1
        # Each daily knot's longest run of zeros on its latest visit (a day's pass through
        # it) and on the visit before, and when it was last seen (`_closing`).
        self.knot_run = [0] * self.nd
        self.knot_run_before = [0] * self.nd
        self.knot_visit = [-_NEVER] * self.nd

    def _reset_fine(self) -> None:
        """Forget the daily predictor's correction per time of day (`_fine`). Not on counts:
        judged on the square-root scale, with their own reading of a step between two knots
        (`_between`), they raised more false alerts with it on the bench (orders, shops)."""
        on = self.nd and len(self.models) > 1 and not self.counts
        slots = -(-DAY_US // self.slot_us) if on else 0
        self.fine = [0.0] * slots  # each time of day's mean miss of the knots,
        self.fine_error = [0.0] * slots  # the mean square of its misses of the mean before,
        self.fine_n = [0.0] * slots  # and the days it averages (up to `DAY_MEMORY`)
        self.fine_slot = 0  # the time of day of the last prediction

    def _fine(self, wall: int) -> float:
        """The correction to the daily knots at local time `wall`: its time of day's mean
        miss of the knots, shrunk towards 0 by its squared standard error (`FINE_SURE` of
        them, or more, take it to 0), once `FINE_FROM` days have seen it. Knots an hour
        apart, read by linear interpolation, cannot hold a peak narrower than they are (a
        lunch rush, a noon ad): it left the same large residuals at the same time every day
        and fired nearly every day for two weeks while the tails slowly learned them. The
        error is how far each day's miss fell from the mean of the days before (at no less
        than the daily predictor's scale): a spike seen once is far from both, and is not
        repeated; a miss that moves slowly while the knots learn the day (their spread
        over the days, as a variance, took it to 0 where it mattered most) is near it.
        Only the daily predictor adds it: added to the profile the level and the weekly
        one learn from, it fed a shop's level running down under the weekly predictor
        (a shift confirmed every 50 minutes, the knots climbing as the level fell)."""
        slot = (wall % DAY_US) // self.slot_us
        self.fine_slot = slot
        n = self.fine_n[slot]
        if n < FINE_FROM:
            return 0.0
        mean = self.fine[slot]
        var = self.fine_error[slot]
        scale = self.models[1].tails.scale
        var = var if var > scale * scale else scale * scale
        if not n * mean * mean > FINE_SURE * var:
            return 0.0
        return mean - FINE_SURE * var / (n * mean)

    # The scale a value is judged on: small counts on the square-root scale.
    def _to(self, value: float) -> float:
        return 2.0 * math.sqrt((value if value > 0 else 0.0) + 0.375) if self.counts else value

    def _from(self, y: float) -> float:
        return (y / 2.0) ** 2 - 0.375 if self.counts and y > 0 else (0.0 if self.counts else y)

    def _predict(self, at_us: int) -> tuple[list[float], list[bool], int, int, float]:
        """Each predictor's prediction at `at_us` and whether it knows that instant."""
        level = self.level if self.level is not None else 0.0
        nd = self.nd
        if not nd:
            return [level], [self.level is not None], 0, 0, 0.0
        wall = self.clock.wall(at_us)
        pos = (wall % DAY_US) / self.knot_us
        k = int(pos)
        f = pos - k
        k1 = (k + 1) % nd
        # A knot predicts once it was seen in an earlier period (not minutes ago).
        seen = self.daily_since
        old = at_us - DAY_US // 2
        d = self.daily[k] * (1 - f) + self.daily[k1] * f
        seen_d = seen[k] <= old and (f == 0 or seen[k1] <= old)
        # The daily predictor's own correction per time of day (`_fine`): not the weekly
        # one's, nor the level's or the profiles' (`_update`), which learn as they did.
        fine = self._fine(wall) if self.fine else 0.0
        preds = [level, level + d + fine]
        ready = [self.level is not None, seen_d]
        kw = kw1 = 0
        if self.nw and len(self.models) > 2:
            kw = ((wall // DAY_US) % 7) * nd + k
            # A day of the week changes at midnight: no interpolation into the next day.
            fw = f if k + 1 < nd else 0.0
            kw1 = kw + 1 if fw else kw
            seen = self.weekly_since
            old = at_us - WEEK_US // 2
            w = self.weekly[kw] * (1 - fw) + self.weekly[kw1] * fw
            preds.append(d + w + self.reference - self.weekly_mean)
            ready.append(seen_d and seen[kw] <= old and (fw == 0 or seen[kw1] <= old))
        return preds, ready, k, kw, f

    def _floor(self) -> float:
        """The smallest scale the data allows: half its resolution (the smallest step)."""
        floor = 0.5 * self.quantum if self.quantum < math.inf else 0.0
        level = abs(self.level) if self.level is not None else 1.0
        return max(floor, 1e-9 * max(1.0, level))

    def _rival(self, i: int) -> bool:
        """Whether predictor `i` may explain a value it was not chosen for: once eligible
        to be chosen, or on a count series once a seasonal one has been scored `RIVAL_FROM`
        times. A shop's daily profile, learned on its first day, knows its second morning's
        opening, which the level alone calls an anomaly until the profile has been scored
        for a quarter of a day (a whole day on an hourly series)."""
        if self.counts and i > 0 and self.models[i].scored >= RIVAL_FROM:
            return True
        return self._eligible(i)

    def _eligible(self, i: int) -> bool:
        model = self.models[i]
        return model.scored >= (max(self.warmup, 8) if i == 0 else self.trust)

    def score(self, at_us: int, value: float) -> Verdict:
        """How surprising `value` is at `at_us`, under the predictor that explains it best
        (nothing learned)."""
        y = self._to(value)
        if self.level is None or self.counts is None:
            return Verdict(
                observed=value,
                expected=value if self.level is None else self._from(self.level),
                low=-math.inf,
                high=math.inf,
                scale=0.0,
                z=0.0,
                p_value=1.0,
                seasonality="none",
                samples=self.samples,
                ready=False,
            )
        raw, ready, k, kw, f = self._cached_predict(at_us)
        # A count is judged against no less than 0: a level moved down by a closed day,
        # plus the night's knot, would otherwise expect a negative count at closing time,
        # and a band too narrow to hold the night's ones and twos.
        preds = [p if p > ZERO_Y else ZERO_Y for p in raw] if self.counts else raw
        near = self._between(y, preds, k, kw, f) if self.counts and self.nd else preds
        floor = self._floor()
        chosen = self.chosen
        rival = RIVAL * self.models[chosen].err
        best_p, best, judged = -1.0, chosen, floor
        counts = bool(self.counts)
        for i, model in enumerate(self.models):
            if i != chosen and (not ready[i] or model.err > rival or not self._rival(i)):
                continue
            fl = count_floor(near[i], floor) if counts else floor
            p = model.tails.p_value(y - near[i] - model.tails.center, fl)
            if p > best_p:
                best_p, best, judged = p, i, fl
        model = self.models[best]
        expected = near[best] + model.tails.center
        back = False
        there = self._returning(at_us, preds, ready)
        if there is None:
            there = self._recurring(at_us, preds)
        if there is not None:
            there += self.models[chosen].tails.center
            fl = count_floor(there, floor) if counts else floor
            p_back = self.models[chosen].tails.p_value(y - there, fl)
            if p_back > best_p:
                judged = fl
                best_p, best, model, expected, back = (
                    p_back,
                    chosen,
                    self.models[chosen],
                    there,
                    True,
                )
        residual = y - expected
        p = best_p
        # The short average and the evidence follow the chosen predictor's residuals: a count
        # a rival explains better (a closed Sunday the weekly one knows, while the daily one
        # is still chosen) is not judged by them. (On other series they stay: there they
        # catch shifts the rival's band is too wide for, and the bench lost detections.)
        # A count's zero is left to the run of zeros' own judgement below: the short average
        # judged it again, and a café's second evening fired on zeros against an expected 0.6.
        own = not back and (best == chosen or not self.counts or residual > 0)
        own = own and not (self.counts and value <= 0)
        # A count judged between what the two knots around the instant predict (`_between`)
        # is at a step between them (a shop's first hour open), not in a shift of its own.
        own = own and near[best] == preds[best]
        if self.counts and residual > 0 and p < self.p_run:
            p = count_p(value, raw[chosen], p, self.count_mean)
        chosen_residual = y - raw[chosen] - self.models[chosen].tails.center
        # A count's zero is a residual from no less than 0 in its short average (`_learn`).
        least = preds[chosen] if value <= 0 else raw[chosen]
        shift = self._shift_next(y - least - self.models[chosen].tails.center, floor)
        shifts = self.shift_tails
        if (
            own
            and len(self.shift_residuals) >= SHIFT_HISTORY
            and shifts.scale > 0
            and (shift > 0) == (residual > 0)
        ):
            spread = SHIFT_SPREAD * max(self.models[chosen].tails.scale, floor)
            p_own = shifts.p_value(shift - shifts.center, spread if spread > 1e-12 else 1e-12)
        else:
            p_own = 1.0
        if self._accumulates():
            up, down = self._evidence_next(chosen_residual, floor)
            evidence = up if residual > 0 else down
            if own and evidence >= EVIDENCE_FROM:
                p_own = min(p_own, evidence_p(evidence, self.theta))
        if p_own < p:
            # Not where steps that way recur at this time of day (read only when it matters).
            ramp = self._daily_step(at_us)
            if ramp is None or (ramp > 0) != (residual > 0):
                p = p_own
        p = min(1.0, 2 * p)
        if self.counts and value <= 0 and self.zero_run and not self._closing(at_us):
            p = min(p, 2 * math.exp(self.zero_log + math.log(self._zero_rate(at_us))))
        if self._unseen_weekend(at_us, ready, y, raw[chosen]):
            p = 1.0
        slack = self._weekend_slack(at_us, ready, raw)
        if slack > 0:
            r = y - raw[chosen] - self.models[chosen].tails.center
            r = r - slack if r > slack else r + slack if r < -slack else 0.0
            p_slack = 2 * self.models[chosen].tails.p_value(r, floor)
            p = p if p > p_slack else p_slack if p_slack < 1.0 else 1.0
        if (
            self.counts
            and (residual < 0 or value <= 0)
            and self._closed_day(at_us, value, raw[1] if ready[1:2] == [True] else raw[chosen])
        ):
            p = 1.0
        if (
            self.counts
            and len(self.models) > 1
            and not ready[1]
            and (value <= 0 or self._closed_hours())
        ):
            # A count's zero at a time of day never seen: its first evening or night (a shop
            # that has just closed for the first time), which no profile knows yet; and any
            # count then on a series closed at some time of day: its first opening and closing
            # are the shape of its day (a shop's first morning fired at 30 sales against a
            # level that had seen only the night's zeros).
            p = 1.0
        # A source stuck on one value is an incident of its own, whatever the value.
        stuck = self._stuck_p(self.same + 1 if y == self.last else 0, y)
        p = p if p < stuck else stuck
        z = math.copysign(_z_of(p), residual)
        if self.direction == "up":
            p = p / 2 if z > 0 else 1.0
        elif self.direction == "down":
            p = p / 2 if z < 0 else 1.0
        lo, hi = model.tails.edges(self.p_fire / 2, judged)
        scale = max(model.tails.scale, judged)
        return Verdict(
            observed=value,
            expected=self._from(expected),
            low=self._from(expected - lo),
            high=self._from(expected + hi),
            scale=(self._from(expected + scale) - self._from(expected - scale)) / 2,
            z=z,
            p_value=p,
            seasonality=model.name,
            samples=self.samples,
            ready=self.samples >= self.warmup and self.models[best].scored > 2,
        )

    def _between(self, y: float, preds: list[float], k: int, kw: int, f: float) -> list[float]:
        """Each seasonal predictor's value nearest to a count `y` (less its tails' centre)
        between what its two knots around the instant (`k`, `kw`, `f` of the way) predict:
        a shop opens or closes somewhere between two knots an hour apart, and the first sale
        after opening, or the first empty window after closing, is as ordinary as either
        knot says, not only as the line between them, which read the step as a ramp. At a
        knot itself (`f` 0), which blends the samples of the hour on each side, the step may
        lie on either side: the knots before and after count too (a shop opening at 08:40
        learned its 09:00 knot as half closed, and each first quarter-hour open fired)."""
        near = list(preds)
        nd = self.nd
        k1 = (k + 1) % nd
        dv, models = self.daily, self.models
        assert self.level is not None
        if len(models) > 1:
            at_k, at_k1 = self.level + dv[k], self.level + dv[k1]
            if f <= 0:
                at_k, at_k1 = _span(dv, self.daily_n, ((k - 1) % nd, k, k1), self.level)
            near[1] = _nearest(y - models[1].tails.center, at_k, at_k1, preds[1])
        if len(preds) > 2:
            kw1 = kw + 1 if k + 1 < nd else kw
            wv, moved = self.weekly, self.reference - self.weekly_mean
            at_k, at_k1 = dv[k] + wv[kw] + moved, dv[k1] + wv[kw1] + moved
            if f <= 0:
                kw0 = kw - 1 if k > 0 else kw
                at_k, at_k1 = _span(
                    [dv[(k - 1) % nd] + wv[kw0], dv[k] + wv[kw], dv[k1] + wv[kw1]],
                    [
                        self.weekly_n[kw0] if k > 0 else 0.0,
                        1.0,
                        self.weekly_n[kw1] if kw1 > kw else 0.0,
                    ],
                    (0, 1, 2),
                    moved,
                )
            near[2] = _nearest(y - models[2].tails.center, at_k, at_k1, preds[2])
        return near

    def _returning(self, at_us: int, preds: list[float], ready: list[bool]) -> float | None:
        """The chosen predictor's value at the level held before the last confirmed shift,
        when this instant (or the run of samples it continues) falls at that shift's time of
        day on a later day of the same week, and the weekly profile does not know it yet;
        else None. A first weekend is a shift no profile knows yet; the Monday after it
        returns to the weekdays' level at the hour the weekend began, and is not a new
        shift. The daily profile's knots are the tolerance."""
        if (
            self.before is None
            or self.chosen > 1
            or not DAY_US // 2 <= at_us - self.shifted_at < WEEK_US
            or (len(ready) > 2 and ready[2])
        ):
            return None
        wall = self.clock.wall
        off = (wall(self.run_at if self.run else at_us) - wall(self.shifted_at)) % DAY_US
        if off > self.knot_us and DAY_US - off > self.knot_us:
            return None
        assert self.level is not None
        return preds[self.chosen] + self.before - self.level

    def _unseen_weekend(self, at_us: int, ready: list[bool], y: float, pred: float) -> bool:
        """Whether `y` at this instant continues a run of samples (or is one) that began in
        the first profile knot of a Saturday the weekly profile has never seen, within a
        factor of `WEEKEND` of the chosen prediction `pred` (both positive): a weekly
        series' first weekend is a step no profile can know after a few weekdays, and is
        not an incident; an outage (a fall to zero) still is. The run is judged again once
        it is confirmed (the level then goes to the weekend's) or once it is a day long."""
        if len(ready) < 3 or ready[2] or not 0 < y < WEEKEND * pred or pred > WEEKEND * y:
            return False
        began = self.run_at if self.run else at_us
        local = self.clock.wall(began)
        return (
            (local // DAY_US) % 7 == SATURDAY
            and local % DAY_US < self.knot_us
            and at_us - began < DAY_US
        )

    def _weekend_slack(self, at_us: int, ready: list[bool], preds: list[float]) -> float:
        """How far a value on a first weekend (`_first_weekend`) that began with a step (a
        shift confirmed from the first profile knot of that Saturday) may stray from the
        daily prediction: `CYCLE_SLACK` of the daily cycle there, as a weekend's cycle is
        often smaller (or larger) than the weekdays' one the profile has settled on; 0
        elsewhere, and on a series whose first day was not settled (`_settle`)."""
        if not self.settled or self.chosen != 1 or len(ready) < 3 or ready[2]:
            return 0.0
        if not self._stepped_weekend(at_us):
            return 0.0
        d = preds[1] - (self.level or 0.0)
        return CYCLE_SLACK * (d if d > 0 else -d)

    def _stepped_weekend(self, at_us: int) -> bool:
        """Whether `at_us` is on a first weekend (`_first_weekend`) that began with a step
        (a shift confirmed from the first profile knot of that Saturday): a weekly series'."""
        if not self.shifts or not self._first_weekend(at_us):
            return False
        wall = self.clock.wall(at_us)
        return any(
            (began // DAY_US) % 7 == SATURDAY
            and began % DAY_US < self.knot_us
            and wall - began < 2 * DAY_US
            for began, _ in self.shifts
        )

    def _closed_day(self, at_us: int, value: float, predicted: float) -> bool:
        """Whether a count at `at_us`, below the prediction `predicted` (the daily profile's
        once it knows the instant: a closed day's level soon expects nothing), belongs to a
        day that has sold under `CLOSED` of what was expected of it since its local midnight
        (this count included), when that is at least `CLOSED_LEAST`, at a time of the week
        the weekly profile has never seen, on a series whose days begin closed (mostly zeros
        at midnight): a shop's first closed day (a Sunday) is a step
        no profile can know in its first week, not an outage. An outage on a day that had
        trade is still judged, and so is a closed day a week later."""
        if not self.nw:
            return False
        wall = self.clock.wall(at_us)
        kw = ((wall // DAY_US) % 7) * self.nd + int((wall % DAY_US) / self.knot_us)
        if self.week_zero_since[kw] <= at_us - WEEK_US // 2:
            return False
        overall = (self.zeros + 1.0) / (self.counted + 2.0)
        if self.knot_zeros[0] + ZERO_PRIOR * overall < 0.5 * (self.knot_counted[0] + ZERO_PRIOR):
            return False  # its days do not begin closed: an outage from midnight
        today = wall // DAY_US == self.day_at
        now = self._from(predicted)
        trading = now >= TRADING
        total = (self.day_total if today else 0.0) + (value if trading else 0.0)
        expected = (self.day_expected if today else 0.0) + (now if trading else 0.0)
        return expected >= CLOSED_LEAST and total <= CLOSED * expected

    def _closed_hours(self) -> bool:
        """Whether some time of day is mostly closed: its share of zeros, shrunk as
        `_zero_rate` does (`_top_zero_rate`), is a half or more (a shop's night)."""
        return self._top_zero_rate((self.zeros + 1.0) / (self.counted + 2.0)) >= 0.5

    def _count_day(self, at_us: int, value: float, predicted: float) -> None:
        """File a count and the chosen prediction of it in its local day's totals, when
        that prediction expects a sale (`TRADING`): a shop's night, a sale every hour or so,
        sold about what was expected of it and hid a closed Sunday's empty morning."""
        day = self.clock.wall(at_us) // DAY_US
        if day != self.day_at:
            self.day_at, self.day_total, self.day_expected = day, 0.0, 0.0
        expected = self._from(predicted)
        if expected >= TRADING:
            self.day_total += value
            self.day_expected += expected

    def _recurring(self, at_us: int, preds: list[float]) -> float | None:
        """The chosen predictor's value moved as a confirmed shift moved it a week ago,
        when this instant (or the run of samples it continues) falls within a profile knot
        of that shift's time of the week; else None. A weekly series' steps (a weekend's
        start and end) recur a week later, before its weekly profile, seen once, is trusted
        over the daily one."""
        if self.chosen > 1 or not self.shifts:
            return None
        began = self.clock.wall(self.run_at if self.run else at_us) - WEEK_US
        moved = _shifted(self.shifts, began, self.knot_us)
        return None if moved is None else preds[self.chosen] + moved

    def _daily_step(self, at_us: int) -> float | None:
        """How far confirmed shifts moved the level a day ago, when this instant (or the run
        of samples it continues) falls within a profile knot of their time of day, and one
        moved it the same way there two days ago too; else None. A working day's ramps,
        which the level took as shifts while it learned the first day, recur every day (a
        1-minute server's morning, lunch and evening), and the profile learned against those
        jumps expects them again: a run of residuals that way there is not judged by the
        short average and the evidence, which fired at each (a single value still is by the
        tails, as a level shift at that hour is)."""
        if self.chosen > 1 or not self.shifts:
            return None
        wall = self.clock.wall(self.run_at if self.run else at_us)
        moved = _shifted(self.shifts, wall - DAY_US, self.knot_us)
        before = _shifted(self.shifts, wall - 2 * DAY_US, self.knot_us)
        if moved is None or before is None or (moved > 0) != (before > 0):
            return None
        return moved

    def _shift_next(self, residual: float, floor: float) -> float:
        tails = self.models[self.chosen].tails
        scale = max(tails.scale, floor)
        limit = evidence_clip(tails.params) * scale if scale > 0 else math.inf
        clipped = limit if residual > limit else -limit if residual < -limit else residual
        return (1 - SHIFT_RATE) * self.shift + SHIFT_RATE * clipped

    def _clipped(self, residual: float, floor: float) -> float:
        """The chosen predictor's residual, clipped as the shift statistic's are
        (`evidence_clip`)."""
        tails = self.models[self.chosen].tails
        scale = max(tails.scale, floor)
        limit = evidence_clip(tails.params) * scale if scale > 0 else math.inf
        return limit if residual > limit else -limit if residual < -limit else residual

    def _accumulates(self) -> bool:
        """Whether the evidence is kept and judged: once its normalisation is set, at the
        first refit after `SHIFT_HISTORY` residuals, and never for counts (discrete and bursty
        on the square-root scale; an outage has its own run of zeros). It is judged on a
        quantised series too, normalised by at least the rounding's deviation: a shift of a
        few steps shows there first, where the tails are lumps a step wide."""
        return self.norm[1] > 0

    def _evidence_next(self, residual: float, floor: float) -> tuple[float, float]:
        """Each side's accumulated evidence once the chosen predictor's `residual` is added."""
        center, inverse = self.norm
        u = (self._clipped(residual, floor) - center) * inverse
        up = self.up + u - DRIFT
        down = self.down - u - DRIFT
        return max(0.0, up), max(0.0, down)

    def _cached_predict(self, at_us: int) -> tuple[list[float], list[bool], int, int, float]:
        cached = self._cached
        if cached is not None and cached[0] == at_us:
            return cached[2], cached[3], cached[4], cached[5], cached[6]
        preds, ready, k, kw, f = self._predict(at_us)
        self._cached = (at_us, 0.0, preds, ready, k, kw, f)
        return preds, ready, k, kw, f

    def learn(self, at_us: int, value: float) -> None:
        """File the final value of the sample at `at_us`: update the level, the profiles,
        each predictor's residuals, the shift statistic, and confirm a level shift when the
        data has moved."""
        if not math.isfinite(value):
            return
        if self.counts is None:
            self._early.append((at_us, value))
            if len(self._early) < max(self.warmup, 8) and value == int(value) and value >= 0:
                self._learn(at_us, value)
                return
            early = self._early
            self._early = []
            self.counts = judged_counts([x for _, x in early])
            self._reset()
            for t, x in early:
                self._learn(t, x)
            return
        self._learn(at_us, value)

    def _zero_rate(self, at_us: int) -> float:
        """How often a count is 0 at this time: the larger of the daily knot's share of zeros
        and, once an earlier week has seen it, the weekly knot's (the zeros of the run in
        progress left out), each shrunk (a knot has seen few samples): the daily knot's
        towards the overall share, the weekly knot's towards its day of the week's. A shop
        closed on Sundays has zeros at noon on Sundays only: the time of day alone calls
        each of them rare, the time of the week does not."""
        overall = (self.zeros + 1.0) / (self.counted + 2.0)
        run = RUN_WEIGHT * self.zero_run
        if not self.nd:
            return (overall * (self.counted + 2.0) + run) / (self.counted + 2.0 + run)
        wall = self.clock.wall(at_us)
        k = int((wall % DAY_US) / self.knot_us)
        rate = (self.knot_zeros[k] + ZERO_PRIOR * overall + run) / (
            self.knot_counted[k] + ZERO_PRIOR + run
        )
        if self.nw:
            kw = ((wall // DAY_US) % 7) * self.nd + k
            if self.week_zero_since[kw] <= at_us - WEEK_US // 2:
                day = kw // self.nd
                own = self.run_day_zeros if self.run_day == day else 0.0
                share = (self.weekday_zeros[day] - own + ZERO_PRIOR * overall) / (
                    self.weekday_counted[day] - own + ZERO_PRIOR
                )
                prior = _day_prior(share, overall, rate, self._top_zero_rate(overall))
                own = self.run_zeros if self.run_knot == kw else 0.0
                week = (self.week_zeros[kw] - own + ZERO_PRIOR * prior) / (
                    self.week_counted[kw] - own + ZERO_PRIOR
                )
                rate = week if week > rate else rate
        return rate

    def _closing(self, at_us: int) -> bool:
        """Whether a zero at `at_us` continues a run of zeros no longer than the one this
        time of day saw on its previous day: a shop closed at night, or a source silent at
        the same hours every day. The run's zeros are not independent draws (each night's
        closure made a run rarer than any outage by the shares of zeros of its knots, and
        fired every night of a first week); an outage runs longer than the day before's. A
        knot's samples are the tolerance, once the day before's run was that long: a quiet
        shop's last sale comes at any time in its last hour, and a zero or two in an open
        hour the day before excuse no outage."""
        if not self.nd:
            return False
        k = int((self.clock.wall(at_us) % DAY_US) / self.knot_us)
        visited = at_us - self.knot_visit[k] <= DAY_US // 2
        seen = self.knot_run_before[k] if visited else self.knot_run[k]
        slack = self.knot_us // self.step_us
        return seen >= slack and 0 < self.zero_run < seen + slack

    def _top_zero_rate(self, overall: float) -> float:
        """The largest share of zeros of any time of day, each shrunk as `_zero_rate` does:
        the share of a time the series is closed (a night)."""
        return max(
            (z + ZERO_PRIOR * overall) / (c + ZERO_PRIOR)
            for z, c in zip(self.knot_zeros, self.knot_counted, strict=True)
        )

    def _count_zero(self, at_us: int, value: float, closed: bool = False) -> None:
        """File whether a count is 0: a run of zeros has the probability of each in turn,
        so an outage is found even where one zero is ordinary, but not the zeros of a day
        found `closed` (`_closed_day`): a shop's first closed Sunday, forgiven while it
        lasted, fired at its last window, on the run's whole rarity; and the count in the
        running mean `count_p` judges by."""
        zero = value <= 0
        if zero:
            if not closed:
                self.zero_log += math.log(self._zero_rate(at_us))
            self.zero_run += 1
        else:
            self.zero_log, self.zero_run = 0.0, 0
        keep = 1.0 - 1.0 / self.window
        self.count_mean += (value - self.count_mean) / self.window
        self.zeros = self.zeros * keep + zero
        self.counted = self.counted * keep + 1.0
        if self.nd:
            wall = self.clock.wall(at_us)
            k = int((wall % DAY_US) / self.knot_us)
            if at_us - self.knot_visit[k] > DAY_US // 2:
                self.knot_run_before[k], self.knot_run[k] = self.knot_run[k], 0
            self.knot_visit[k] = at_us
            if self.zero_run > self.knot_run[k]:
                self.knot_run[k] = self.zero_run
            forget = 1.0 - 1.0 / max(self.day_cap, 1.0)
            self.knot_zeros[k] = self.knot_zeros[k] * forget + zero
            self.knot_counted[k] = self.knot_counted[k] * forget + 1.0
            if self.nw:
                kw = ((wall // DAY_US) % 7) * self.nd + k
                if self.week_zero_since[kw] == _NEVER:
                    self.week_zero_since[kw] = at_us
                forget = 1.0 - 1.0 / max(self.week_cap, 1.0)
                self.week_zeros[kw] = self.week_zeros[kw] * forget + zero
                self.week_counted[kw] = self.week_counted[kw] * forget + 1.0
                # The run's own zeros in this knot, left out of its share while it lasts.
                if not zero:
                    self.run_zeros, self.run_knot = 0.0, -1
                elif self.run_knot == kw:
                    self.run_zeros = self.run_zeros * forget + 1.0
                else:
                    self.run_zeros, self.run_knot = 1.0, kw
                day = kw // self.nd
                forget = self.weekday_forget
                self.weekday_zeros[day] = self.weekday_zeros[day] * forget + zero
                self.weekday_counted[day] = self.weekday_counted[day] * forget + 1.0
                if not zero:
                    self.run_day_zeros, self.run_day = 0.0, -1
                elif self.run_day == day:
                    self.run_day_zeros = self.run_day_zeros * forget + 1.0
                else:
                    self.run_day_zeros, self.run_day = 1.0, day

    def _learn(self, at_us: int, value: float) -> None:
        if self.counts:
            closed = False
            if value <= 0 and self.level is not None and len(self.models) > 1:
                raw, ready, _, _, _ = self._cached_predict(at_us)
                # A zero at a time of day never seen (a first night) is not alerted, and
                # adds nothing to the run's rarity either: a shop's first night, forgiven
                # while unseen, fired at its first midnight on the whole run of the evening.
                closed = not ready[1] or (
                    self.nw > 0
                    and self._closed_day(at_us, value, raw[1] if ready[1] else raw[self.chosen])
                )
            self._count_zero(at_us, value, closed)
        y = self._to(value)
        frozen = False
        if self.last is not None:
            gap = abs(y - self.last)
            if gap > 1e-9 * max(1.0, abs(y)) and gap < self.quantum:
                self.quantum = gap
            repeat = y == self.last
            if not repeat and not self.frozen and self.same > self.longest:
                self.longest = self.same
            self.same = self.same + 1 if repeat else 0
            frozen = self._stuck_p(self.same, y) < 1.0
            if not frozen:
                keep = 1.0 - 1.0 / self.window
                self.repeats = self.repeats * keep + repeat
                self.repeated = self.repeated * keep + 1.0
        self.frozen = frozen
        self.last = y
        if y < self.smallest:
            self.smallest = y
        self.samples += 1
        if self.first_day is not None:
            self.first_day.append((at_us, y))
        if self.level is None:
            self.level, self.first_us = y, at_us
            return
        preds, ready, k, kw, f = self._cached_predict(at_us)
        self._cached = None
        if self.counts and self.nw:
            self._count_day(at_us, value, preds[1] if ready[1] else preds[self.chosen])
        floor = self._floor()
        models = self.models
        chosen = models[self.chosen]
        daily_error = 0.0
        for i, model in enumerate(models):
            if not ready[i] or frozen:
                continue
            tails = model.tails
            residual = y - preds[i] - tails.center
            scale = tails.scale if tails.scale > floor else floor
            limit = CLIP * scale if tails.scale > 0 else math.inf
            if self.counts and tails.scale > 0:
                # Errors are compared at no less than a Poisson count's spread: a shop's
                # nights, most of its residuals, shrink every predictor's scale, and errors
                # clipped there made a level that misses each day's opening hours look as
                # good as the daily profile that knows them.
                least = count_floor(preds[i], floor)
                if least > scale:
                    limit = CLIP * least
            clipped = limit if residual > limit else -limit if residual < -limit else residual
            model.err += (abs(clipped) - model.err) * (ERROR_RATE if model.scored >= 8 else 0.5)
            model.scored += 1
            if i == 1:
                daily_error = abs(clipped)
            elif i == 2 and ready[1]:
                self.trial.add(abs(clipped), daily_error)
            # The tails learn from residuals up to where anomalies begin, not beyond: an
            # incident must not widen the band so far that the next one goes unseen. An
            # anomaly itself counts in the tail at the clearing level only: kept at the fire
            # edge, the few samples of an earlier spike set the mean excess of a window's
            # top tenth, and the next spike of the same size fell inside the band.
            wide = KEEP * scale if tails.scale > 0 else math.inf
            lo, hi = (wide, wide) if tails.scale <= 0 else tails.edges(self.p_fire / 2, floor)
            if tails.scale > 0:
                file_excess(tails.shapes, tails.params, residual, lo, hi, floor)
            lo = lo if lo < wide else wide
            hi = hi if hi < wide else wide
            if tails.scale > 0 and (residual > hi or residual < -lo):
                lo, hi = tails.edges(self.p_run / 2, floor)
                lo = lo if lo < wide else wide
                hi = hi if hi < wide else wide
            model.residuals.append(
                tails.center + (hi if residual > hi else -lo if residual < -lo else residual)
            )
        residual = y - preds[self.chosen] - chosen.tails.center
        # A count's zero is a residual from no less than 0 in its short average: a closed
        # Sunday's level, under a night's knot, expected less, and each of its zeros added to
        # a shift upwards until a sale late in the evening fired.
        least = preds[self.chosen]
        if self.counts and value <= 0 and least < ZERO_Y:
            least = ZERO_Y
        if not frozen:
            self.shift = self._shift_next(y - least - chosen.tails.center, floor)
        if ready[self.chosen] and not frozen:
            self.shift_residuals.append(self.shift)
            self._accumulate(residual, floor)
        # A count continues a shift only beyond a Poisson count's spread, as it is judged
        # (`count_floor`): a shop's nights shrink the scale, and each day's opening and closing
        # were confirmed as shifts that moved the level under the daily profile twice a day.
        judged = count_floor(preds[self.chosen], floor) if self.counts else floor
        if frozen:  # nor the level or the profiles: a shift to a stuck value is none
            self.run.clear()
        else:
            p = chosen.tails.p_value(residual, judged)
            if self.after is not None and ready[self.chosen]:
                self._check_spread(residual, floor)
            self._confirm_shift(at_us, p, residual, floor)
        self._update(at_us, y, k, kw, f, floor, frozen)
        if self.first_day is not None and at_us + self.step_us - self.first_day[0][0] >= DAY_US:
            self._settle()
            self.first_day = None
        self._rescale_in -= 1
        if self._rescale_in <= 0 or self.samples < 48:
            # The chosen predictor's tails follow closely, the others' every few rounds.
            self._rounds += 1
            for i, model in enumerate(models):
                if i == self.chosen or self._rounds % 4 == 0 or self.samples < 48:
                    model.tails.fit(model.residuals, self.samples)
            self.shift_tails.fit(self.shift_residuals)
            if not self.counts and self.accumulated >= SHIFT_HISTORY:
                self.norm = (self.moments[0], evidence_scale(*self.moments, self.quantum))
                self.theta = evidence_theta(self.moments[1], self.fourth)
            self._rescale_in = RESCALE
            # Knots never seen hold 0.0, which leaves the sum as it is.
            seen = len(self.weekly_n) - self.weekly_n.count(0.0)
            self.weekly_mean = sum(self.weekly) / seen if seen else 0.0
        self._choose()

    def _stuck_p(self, same: int, y: float) -> float:
        """The chance of a run of `same` samples in a row equal to the one before (`y`), at the
        series' repeat rate (learned from the samples not stuck), when it is below
        `STUCK_LOG` and the run at least `STUCK_LEAST` long and `STUCK_RUNS` times the
        longest the series made (a quantised series' repeats come in runs longer than their
        rate says): the source is stuck; else 1.
        A stuck run's residuals measure a stuck sensor, not the noise, and are not learned:
        an 8-hour flat stretch took the scale from 3.1 to 0.65, and the noise that came back
        fired 11 alerts (issue 15). A quantised series, which repeats often, needs a longer
        run. Zeros are never stuck (a shop's night, an idle server: nothing happening, not a
        frozen reading; a dead source's zeros are an outage, judged as a level), nor counts
        (a slow counter's ones)."""
        if same < STUCK_LEAST or same <= STUCK_RUNS * self.longest or self.counts or y == 0:
            return 1.0
        log_p = same * math.log((self.repeats + 0.5) / (self.repeated + 1.0))
        return math.exp(log_p) if log_p < STUCK_LOG else 1.0

    def _update(
        self, at_us: int, y: float, k: int, kw: int, f: float, floor: float, frozen: bool = False
    ) -> None:
        """Move the levels and the profiles towards `y` (clipped residuals), unless `y` is
        a stuck source's (`frozen`: the last seven days' mean still counts it)."""
        assert self.level is not None
        nd = self.nd
        scale = max(self.models[0].tails.scale, floor)
        limit = CLIP * scale if self.models[0].tails.scale > 0 else math.inf
        if not nd:
            r = y - self.level
            if not frozen:
                self.level += self.alpha * (limit if r > limit else -limit if r < -limit else r)
            return
        k1 = (k + 1) % nd
        dv, dn = self.daily, self.daily_n
        d = dv[k] * (1 - f) + dv[k1] * f if dn[k] > 0 else 0.0
        if len(self.models) > 1:
            scale = max(self.models[1].tails.scale, floor)
            limit = CLIP * scale if self.models[1].tails.scale > 0 else math.inf
        if self.counts and limit < math.inf:
            # A count moves the profile by up to a Poisson count's spread, whatever the
            # nights did to the scale: a shop's opening hours are learned in days, not weeks.
            least = CLIP * count_floor(self.level + d, floor)
            limit = least if least > limit else limit
        r = y - self.level - d
        if not frozen and dn[k] > 0 and self.fine:
            # What the knots missed at this time of day (`_fine`), from the level before.
            self._learn_fine(r)
        r = limit if r > limit else -limit if r < -limit else r
        if not frozen:
            self.level += self.alpha * r
            # Each knot averages what it has seen, then forgets over `DAY_MEMORY` periods.
            _learn_knots(
                dv, dn, self.daily_since, at_us, (k, k1), f, y - self.level, self.day_cap, limit
            )
        if not self.nw or len(self.models) < 3:
            return
        fw = f if k + 1 < nd else 0.0
        kw1 = kw + 1 if fw else kw
        wv, wn = self.weekly, self.weekly_n
        # The weekly profile keeps the deseasonalised values themselves; the last seven
        # days' mean tells how far the level has moved since (a week without reset).
        seasonless = y - d
        week = self.week_values
        week.append((at_us, seasonless))
        self.week_sum += seasonless
        while at_us - week[0][0] >= WEEK_US:
            self.week_sum -= week.popleft()[1]
        self.reference = self.week_sum / len(week)
        if not frozen:
            _learn_knots(
                wv, wn, self.weekly_since, at_us, (kw, kw1), fw, seasonless, self.week_cap, limit
            )

    def _learn_fine(self, miss: float) -> None:
        """File what the knots missed at the last prediction's time of day (`_fine`): a
        running mean of it and of its squared miss of the mean before (from the second day),
        over up to `DAY_MEMORY` days."""
        slot = self.fine_slot
        n = self.fine_n[slot] + 1.0
        n = n if n < DAY_MEMORY else DAY_MEMORY
        self.fine_n[slot] = n
        error = miss - self.fine[slot]
        if n >= 2.0:
            self.fine_error[slot] += (error * error - self.fine_error[slot]) / (n - 1.0)
        self.fine[slot] += error / n

    def _first_weekend(self, at_us: int) -> bool:
        """Whether `at_us` falls on a Saturday or a Sunday the weekly profile does not know
        yet: a weekend's smaller cycle, against a settled weekdays' profile, confirms shifts
        of its own, and the level the Monday after returns to is the weekdays' one."""
        if not self.nw or len(self.models) < 3:
            return False
        wall = self.clock.wall(at_us)
        kw = ((wall // DAY_US) % 7) * self.nd + int((wall % DAY_US) / self.knot_us)
        return kw // self.nd in (SATURDAY, SATURDAY + 1) and self.weekly_since[kw] > (
            at_us - WEEK_US // 2
        )

    def _settle(self) -> None:
        """Derive the daily profile and the level again from the first day's values, once
        the day is complete (`settle_day`)."""
        assert self.first_day is not None
        ks, fs, ys = [], [], []
        for at_us, y in self.first_day:
            pos = (self.clock.wall(at_us) % DAY_US) / self.knot_us
            k = int(pos)
            ks.append(k)
            fs.append(pos - k)
            ys.append(y)
        settled = settle_day(ks, fs, ys, self.nd, self.alpha, self._wrap(self.first_day))
        if settled is None:
            return
        self.daily, self.level = settled
        self.settled = True
        self._reset_fine()  # what the knots missed while the level chased the first day
        if not self.nw or len(self.models) < 3:
            return
        # The weekly profile learned the values less the unsettled profile: it starts again
        # (from the first day's weekday a week later), and the last days' mean is taken
        # again from the values less the settled one.
        self.weekly = [0.0] * self.nw
        self.weekly_n = [0.0] * self.nw
        self.weekly_since = [_NEVER] * self.nw
        seasonless = settle_seasonless(ks, fs, ys, self.daily)
        week = self.week_values
        for j, (at_us, _) in enumerate(week):
            week[j] = (at_us, seasonless[j + 1])
        self.week_sum = sum(s for _, s in week)
        self.reference = self.week_sum / len(week)

    def _wrap(self, day: list[tuple[int, float]]) -> float:
        """How far the first day's last knot-span of values ended from its first one's
        (their means)."""
        first, last = day[0][0], day[-1][0]
        head = [y for t, y in day if t - first < self.knot_us]
        tail = [y for t, y in day if last - t < self.knot_us]
        return sum(tail) / len(tail) - sum(head) / len(head)

    def _accumulate(self, residual: float, floor: float) -> None:
        """Add the chosen predictor's residual to the evidence and to the moments that
        normalise it (a running mean over `SHIFT_WINDOW` residuals)."""
        if self._accumulates():
            self.up, self.down = self._evidence_next(residual, floor)
        x = self._clipped(residual, floor)
        self.accumulated += 1
        rate = max(1.0 / self.accumulated, 1.0 / SHIFT_WINDOW)
        mean, square, lagged = self.moments
        self.moments = (
            mean + rate * (x - mean),
            square + rate * (x * x - square),
            lagged + rate * (x * self.previous - lagged),
        )
        self.fourth += rate * (x * x * x * x - self.fourth)
        self.previous = x

    def _confirm_shift(self, at_us: int, p: float, residual: float, floor: float) -> None:
        """File whether the sample at `at_us` is beyond the clearing level; `CONFIRM` in a
        row on one side move the level to where the data went. The level left behind is
        kept (`_returning`) unless the shift came back to it."""
        beyond = p <= self.p_run
        if not beyond or (self.run and (self.run[-1] > 0) != (residual > 0)):
            self.run.clear()
            if not beyond:
                return
        if not self.run:
            self.run_at, self.run_level = at_us, self.level or 0.0
        self.run.append(residual)
        if len(self.run) >= CONFIRM and self.level is not None:
            moved = sorted(self.run)[len(self.run) // 2]
            scale = max(self.models[self.chosen].tails.scale, floor)
            # Under the level alone in the first week, while the profiles learn the days.
            hold = self.counts and self.chosen == 0 and at_us - self.first_us < WEEK_US
            returned = self.before is not None and (
                abs(self.level + moved - self.before) <= CLIP * scale
            )
            if returned:
                self.before = None
            elif (
                self.before is not None
                and self.settled
                and self._first_weekend(self.run_at)
                and self._first_weekend(self.shifted_at)
            ):
                pass  # the weekdays' level stays the one a first weekend's end returns to
            elif self._profiled(self.run_at):
                self.before, self.shifted_at = self.run_level, self.run_at
            else:
                self.before = None
                hold = bool(self.counts)
            if hold:
                self._keep_profile(moved)
            self.level += moved
            shifts = self.shifts
            began = self.clock.wall(self.run_at)
            shifts.append((began, moved))
            while began - shifts[0][0] > WEEK_US + DAY_US:
                shifts.popleft()
            self._forget_run()
            self.shift = self.up = self.down = 0.0
            self.run.clear()
            # A positive series' level moved up by a factor: is its noise now as much larger?
            left = self.level - moved
            self.after = None
            if (
                not (self.counts or returned)
                and self.smallest > 0 < left
                and moved >= (SPREAD_SHIFT - 1) * left
            ):
                kept = list(self.models[self.chosen].residuals)[-SPREAD_BEFORE:]
                self.after, self.grown, self.spread = [], self.level / left, _step_spread(kept)

    def _check_spread(self, residual: float, floor: float) -> None:
        """File a residual of the `SPREAD_CHECK` after a shift that moved a positive series'
        level up by a factor (`grown`); once they are all in, when their steps are
        `SPREAD_GREW` times those of the residuals before the shift or more (their median
        sizes, which a ramp hardly moves, at no less than the data's resolution), scale
        what was learned before by as much, up to `grown` (`_widen`). A latency that
        doubled doubled its noise too: judged against the old noise around its new level,
        it fired again every few hours for a day. A sensor's offset, a server's busier
        hours, add to the values without spreading them: nothing changes."""
        after = self.after
        assert after is not None
        after.append(residual)
        if len(after) < SPREAD_CHECK:
            return
        self.after = None
        spread = _step_spread(after)
        before = max(self.spread, 2 * floor)
        if spread >= SPREAD_GREW * before:
            self._widen(min(spread / before, self.grown))

    def _widen(self, factor: float) -> None:
        """Scale by `factor` what measures the residuals' spread, but for the last
        `SPREAD_CHECK` samples' own: each predictor's residuals and tails, the short
        average's history and tails, and the moments that normalise the evidence."""
        for model in self.models:
            model.residuals = _scaled(model.residuals, factor, self.window)
            model.tails.widen(factor)
        self.shift_residuals = _scaled(self.shift_residuals, factor, SHIFT_WINDOW)
        self.shift_tails.widen(factor)
        mean, square, lagged = self.moments
        self.moments = (mean * factor, square * factor**2, lagged * factor**2)
        self.fourth *= factor**4
        self.previous *= factor
        center, inverse = self.norm
        self.norm = (center * factor, inverse / factor)

    def _keep_profile(self, moved: float) -> None:
        """Move the profiles' knots already seen against a level that moves by `moved` at an
        instant the daily profile did not know (a count series' first day), so that each
        predicts what it did: the shift is the day's shape, not a new level of the whole day.
        A shop's first opening moved the level up, its open hours were learned as no more
        than that level, and its first closing moved it back down: on its second day the
        profile still expected the night at opening time. The weekly profile holds the
        values less the daily one, and moves the other way."""
        daily = self.daily
        for knot, weight in enumerate(self.daily_n):
            if weight > 0:
                daily[knot] -= moved
        if not self.nw or len(self.models) < 3:
            return
        weekly, seen = self.weekly, False
        for knot, weight in enumerate(self.weekly_n):
            if weight > 0:
                weekly[knot] += moved
                seen = True
        if seen:
            self.weekly_mean += moved
        self.week_values = deque((at, v + moved) for at, v in self.week_values)
        self.week_sum += moved * len(self.week_values)

    def _profiled(self, at_us: int) -> bool:
        """Whether the daily profile knew the instant `at_us` (a knot seen half a day
        before), or there is none: a shift confirmed before it did is the level learning the
        day (a series' first hours), not a step the series may take back a day later."""
        if not self.nd:
            return True
        k = int((self.clock.wall(at_us) % DAY_US) / self.knot_us)
        return self.daily_since[k] <= at_us - DAY_US // 2

    def _forget_run(self) -> None:
        """Drop the confirmed run's residuals from each predictor's window: they measured the
        shift, not the noise, while the residuals before it still measure the noise around
        the new level (clearing them all left a few values to judge by, and a scale from a
        handful of values that often collapsed and confirmed more shifts)."""
        for model in self.models:
            residuals = model.residuals
            for _ in range(min(len(self.run), len(residuals))):
                residuals.pop()

    def _choose(self) -> None:
        models = self.models
        if self.counts and self.zero_run:
            # A run of zeros keeps the predictor it began under: during a café's outage the
            # level alone came to explain the zeros best, was chosen, and called them usual.
            return
        if self.seasonality == "auto":
            best = 0
            for i in range(1, len(models)):
                if (
                    self._eligible(i)
                    and models[i].err < 0.9 * models[best].err
                    and (i < 2 or self.trial.won())
                ):
                    best = i
        else:
            best = len(models) - 1
            while best and not self._eligible(best):
                best -= 1
        if best != self.chosen:
            models[best].tails.fit(models[best].residuals, self.samples)
            # On counts, the short average and the evidence measured the other predictor's
            # errors (a daily one's on a closed Sunday morning): the new one starts afresh.
            if self.counts:
                self.shift = self.up = self.down = 0.0
        self.chosen = best


def _learn_knots(
    values: list[float],
    weights: list[float],
    since: list[int],
    at_us: int,
    knots: tuple[int, int],
    f: float,
    residual: float,
    cap: float,
    limit: float,
) -> None:
    """Move the two knots around an instant (`f` of the way from the first to the second)
    towards `residual`: each a weighted running mean of what it has seen, capped at `cap`
    samples of memory, moved at most `limit` per sample once it has a value."""
    for knot, weight in ((knots[0], 1.0 - f), (knots[1], f)):
        if weight <= 0:
            continue
        fresh = weights[knot] <= 0
        if fresh:
            since[knot] = at_us
        weights[knot] = min(weights[knot] + weight, cap)
        step = residual - values[knot]
        if not fresh:
            step = limit if step > limit else -limit if step < -limit else step
        values[knot] += weight / weights[knot] * step if not fresh else step


def settle_day(
    ks: Sequence[int], fs: Sequence[float], ys: Sequence[float], nd: int, alpha: float, wrap: float
) -> tuple[list[float], float] | None:
    """The daily profile (`nd` knots) and the level a series' first day says, from its
    values `ys` at knots `ks` (`fs` of the way to the next): each knot the weighted mean of
    the values around it less the day's median, the level then followed through the day as
    it is learned. While the first day is learned, the level chases the daily cycle (its
    time constant is a quarter of a day) and the profile learns what the level left, a
    fraction of the cycle, a phase late: the band of the next days was 3-10 times the noise
    on 30-60-minute series, and wider than it on finer ones. None when the day did not end
    near where it began (`wrap`, the gap, beyond `WRAP` of the middle 90 % of its values): a
    step during the day, which is the level's to follow, not the profile's to repeat every
    day; and when the knots vary by less than `CYCLE_SIGNIFICANT` times the noise of a knot's
    mean (a day without a cycle, whose settled profile would be that day's noise: settled,
    heavy-tailed and offset series without one raised more false alerts)."""
    ordered = sorted(ys)
    n = len(ordered)
    centre = ordered[n // 2]
    spread = ordered[n - 1 - n // 20] - ordered[n // 20]
    if not (wrap if wrap > 0 else -wrap) <= WRAP * spread:
        return None
    total = [0.0] * nd
    weight = [0.0] * nd
    for k, f, y in zip(ks, fs, ys, strict=True):
        r = y - centre
        total[k] += (1.0 - f) * r
        weight[k] += 1.0 - f
        if f > 0:
            k1 = (k + 1) % nd
            total[k1] += f * r
            weight[k1] += f
    daily = [t / w if w > 0 else 0.0 for t, w in zip(total, weight, strict=True)]
    seen = [d for d, w in zip(daily, weight, strict=True) if w > 0]
    mean = sum(seen) / len(seen)
    # Squares as products: `** 2` raises OverflowError past 1e154, a product is inf.
    cycle = sum((d - mean) * (d - mean) for d in seen) / len(seen)
    errors = (
        y - centre - daily[k] * (1.0 - f) - daily[(k + 1) % nd] * f
        for k, f, y in zip(ks, fs, ys, strict=True)
    )
    noise = sum(e * e for e in errors) / n
    if cycle < CYCLE_SIGNIFICANT * noise * len(seen) / n:
        return None
    level = centre
    for k, f, y in zip(ks, fs, ys, strict=True):
        d = daily[k] * (1.0 - f) + daily[(k + 1) % nd] * f
        level += alpha * (y - d - level)
    return daily, level


def settle_seasonless(
    ks: Sequence[int], fs: Sequence[float], ys: Sequence[float], daily: Sequence[float]
) -> list[float]:
    """The first day's values `ys` less the settled `daily` profile (at knots `ks`, `fs`
    of the way to the next)."""
    nd = len(daily)
    return [
        y - (daily[k] * (1.0 - f) + daily[(k + 1) % nd] * f)
        for k, f, y in zip(ks, fs, ys, strict=True)
    ]


def _shifted(shifts: Iterable[tuple[int, float]], began: int, knot_us: int) -> float | None:
    """How far the first confirmed shift of `shifts` (local time it began, moved) that began
    within a profile knot of `began` moved the level; None if none did."""
    for at, moved in shifts:
        if -knot_us <= began - at <= knot_us:
            return moved
    return None


def _nearest(x: float, a: float, b: float, pred: float) -> float:
    """The point of the interval between `a` and `b` nearest to `x`, no less than a count
    of 0 on the square-root scale, when the two are a step (the higher end expects at
    least `STEP` counts and `STEP` times the lower one's: closed and open); else `pred`.
    Between two knots of an ordinary day (a low-rate series' quiet and busy hours) the
    line stays: a burst of mentions within what the busier knot allowed went unseen."""
    lo, hi = (a, b) if a < b else (b, a)
    low = (lo / 2.0) ** 2 - 0.375 if lo > 0 else 0.0
    high = (hi / 2.0) ** 2 - 0.375
    if high < STEP or high < STEP * low:
        return pred
    x = lo if x < lo else hi if x > hi else x
    return x if x > ZERO_Y else ZERO_Y


def _span(
    values: Sequence[float], weights: Sequence[float], knots: tuple[int, ...], base: float
) -> tuple[float, float]:
    """The lowest and the highest of the `knots` of `values` that have been seen (a weight
    above 0; the middle one in any case), each plus `base`."""
    middle = values[knots[len(knots) // 2]]
    lo = hi = middle
    for j in knots:
        if weights[j] > 0:
            v = values[j]
            lo = v if v < lo else lo
            hi = v if v > hi else hi
    return base + lo, base + hi


def _day_prior(share: float, overall: float, rate: float, top: float) -> float:
    """A weekly knot's expected share of zeros before it has seen many samples: its time of
    day's `rate`, moved towards the share of the most closed time of day (`top`, a night's)
    by how far its day of the week's share of zeros (`share`) has gone from the average
    day's (`overall`) towards that. A closed Sunday, as many zeros as a night, expects a
    night's at noon; a Wednesday like the others expects what noon does (a café's outage was
    called ordinary by a whole day's share of zeros, its nights included)."""
    if share <= overall or rate >= top:
        return rate
    extra = (share - overall) / (top - overall) if top > overall else 1.0
    return rate + (top - rate) * (extra if extra < 1.0 else 1.0)


def _z_of(p: float) -> float:
    """The standardised deviation of a normal whose two-sided tail probability is `p`."""
    return -NORMAL.inv_cdf(max(p, 1e-300) / 2) if p < 1 else 0.0
