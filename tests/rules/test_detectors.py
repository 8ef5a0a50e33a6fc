"""The default anomaly detector: calibrated on noise, robust to resolution and offsets."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vigie.kpi.metrics import Metric
from vigie.rules.backtest import replay_samples
from vigie.rules.definitions import Rule
from vigie.rules.detectors import seasonal
from vigie.rules.detectors.batch import score_series
from vigie.rules.detectors.seasonal import DRIFT, RobustSeasonal, _day_prior, evidence_p
from vigie.types import to_us

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_767_225_600_000_000


def _run(values: list[float], **options: object) -> list[tuple[int, float]]:
    """(index, p-value) of each ready sample, scored before it is learned."""
    detector = RobustSeasonal(step_us=HOUR, **options)  # type: ignore[arg-type]
    out = []
    for i, x in enumerate(values):
        verdict = detector.score(T0 + i * HOUR, x)
        if verdict.ready:
            out.append((i, verdict.p_value))
        detector.learn(T0 + i * HOUR, x)
    return out


def test_gaussian_noise_rarely_crosses_the_default_threshold() -> None:
    """On white noise, p-values below 3e-4 stay rare (a calibrated score, not one per
    hundred samples)."""
    rng = random.Random(15)
    scores = _run([50 + rng.gauss(0, 2) for _ in range(3000)])
    assert sum(p <= 3e-4 for _, p in scores) <= 3


def test_a_quantised_series_does_not_fire_on_one_step() -> None:
    """Issue 15: identical values then one step of the data's resolution is not an anomaly
    once a step has been seen, whatever the MAD says (it is 0)."""
    values = [0.066] * 30 + [0.134] + [0.066] * 30 + [0.134, 0.066] * 3 + [0.066] * 10
    scores = dict(_run(values))
    assert scores[61] > 1e-2


def test_a_large_offset_does_not_blind_the_detector() -> None:
    """Issue 15: around 71 with a spread of about 1, a value of 81 is anomalous (no spread
    floor in percent of the mean)."""
    rng = random.Random(3)
    values = [71 + rng.gauss(0, 1) for _ in range(100)] + [81.0]
    assert dict(_run(values))[100] < 3e-4  # fires at the default p_value


def test_an_integer_sensor_is_not_judged_as_counts() -> None:
    """Issue 15: a sensor reading whole degrees around 40 (steps of 0 or 1) moves far less
    than a count of 40 would: 47 degrees fires, as it would on a sensor reading tenths."""
    rng = random.Random(4)
    values = [float(round(40 + rng.gauss(0, 0.6))) for _ in range(200)] + [47.0]
    assert dict(_run(values))[200] < 3e-4


def test_counts_of_forty_stay_counts_and_do_not_fire_on_their_spread() -> None:
    """Poisson counts averaging 40 are still judged as counts: their ordinary spread (about
    6) raises almost nothing."""
    rng = np.random.default_rng(4)
    values = [float(x) for x in rng.poisson(40, 2000)]
    detector = RobustSeasonal(step_us=HOUR)
    for i, x in enumerate(values[:20]):
        detector.learn(T0 + i * HOUR, x)
    assert detector.counts
    assert sum(p <= 3e-4 for _, p in _run(values)) <= 2


def test_a_level_shift_is_absorbed_after_it_is_confirmed() -> None:
    """After a lasting shift, the level jumps to the data within a few samples instead of
    days: later samples score as ordinary."""
    rng = random.Random(5)
    values = [100 + rng.gauss(0, 1) for _ in range(100)] + [
        130 + rng.gauss(0, 1) for _ in range(60)
    ]
    scores = dict(_run(values))
    assert scores[100] < 3e-4
    assert all(scores[i] > 1e-3 for i in range(120, 160))


def test_warm_up_is_counted_in_samples() -> None:
    """Nothing is ready before `warmup` samples; a spike right after can fire."""
    values = [10.0, 11.0, 10.0, 12.0, 11.0, 10.0, 11.0, 12.0, 10.0, 11.0, 10.0, 11.0, 60.0]
    scores = dict(_run(values, warmup=12))
    assert min(scores) == 12
    assert scores[12] < 1e-4


def test_spiky_counts_do_not_fire_on_their_ordinary_bursts() -> None:
    """Issue 15: small overdispersed counts (a burst now and then) are judged on the square
    root scale against their own tail: at most a few alerts in two weeks."""
    rng = random.Random(21)
    values = []
    for _ in range(24 * 14):
        rate = 2.0 * (5 if rng.random() < 0.02 else 1) * rng.gammavariate(2, 0.5)
        values.append(float(_poisson(rng, rate)))
    scores = _run(values)
    assert sum(p <= 3e-4 for _, p in scores) <= 3


def _poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw by counting exponential gaps in one unit of time."""
    count, at = 0, rng.expovariate(1.0) / rate
    while at < 1.0:
        count += 1
        at += rng.expovariate(1.0) / rate
    return count


def test_an_outage_of_small_counts_fires_though_one_zero_is_ordinary() -> None:
    """Issue 15: counts around 2 are often 0, so one zero says nothing; twelve zeros in a
    row (an outage) fire, and no single zero did before."""
    rng = random.Random(4)
    values = [float(_poisson(rng, 2.0 * rng.gammavariate(2, 0.5))) for _ in range(24 * 5)]
    before = _run(values)
    scores = dict(_run([*values, *[0.0] * 12]))
    assert sum(p <= 3e-4 for _, p in before) <= 1
    assert min(scores[i] for i in range(len(values), len(values) + 12)) <= 3e-4


def test_an_hourly_series_forgets_a_noisy_start_within_days() -> None:
    """An hourly series whose first day was wild is judged on its last days' residuals, not
    its first 256: a spike of ten noise deviations on day six fires at the hourly default
    threshold (one false alarm a month) on nearly every draw."""
    fired = 0
    for seed in range(8):
        rng = random.Random(seed)
        values = [50 + rng.gauss(0, 20 if i < 24 else 2) for i in range(6 * 24 + 10)]
        values[-1] += 20
        fired += dict(_run(values))[len(values) - 1] < 3600 / (30 * 86_400)
    assert fired >= 6


def test_the_default_threshold_is_the_false_alarm_rate_per_window() -> None:
    """Without `p_value` or `z`, an anomaly rule fires at the chance per window of its
    `false_alarms` rate (2/month unless declared; 1/month stays the sequential rules'):
    twelve times stricter on 5-minute windows than on hourly ones, bounded for coarse
    windows; a declared `p_value` or `z` wins."""
    rule = Rule(name="odd", kind="anomaly", metric="m")
    month_s = 30 * 86_400
    assert rule.fire_p_value(300_000_000) == pytest.approx(2 * 300 / month_s)
    assert rule.fire_p_value(HOUR) == pytest.approx(2 * 3600 / month_s)
    assert rule.fire_p_value(12 * HOUR) == 3e-3
    monthly = Rule(name="odd", kind="anomaly", metric="m", false_alarms="1/month")
    assert monthly.fire_p_value(HOUR) == pytest.approx(3600 / month_s)
    assert Rule(name="s", kind="sequential").declared_false_alarms() == "1/month"
    rare = Rule(name="odd", kind="anomaly", metric="m", false_alarms="1/90d")
    assert rare.fire_p_value(HOUR) == pytest.approx(1 / (90 * 24))
    assert Rule(name="odd", kind="anomaly", metric="m", p_value=1e-3).fire_p_value(HOUR) == 1e-3
    assert Rule(name="odd", kind="anomaly", metric="m", z=3).fire_p_value(HOUR) == (
        pytest.approx(2.7e-3, rel=0.01)
    )


def test_an_unreadable_false_alarm_rate_is_named() -> None:
    """An anomaly rule relying on `false_alarms` says when it cannot read it."""
    rule = Rule(name="odd", kind="anomaly", metric="m", false_alarms="often")
    assert [key for key, _ in rule.check({"m"}, set())] == ["false_alarms"]


def test_a_confirmed_shift_keeps_the_noise_it_has_measured() -> None:
    """Issue 15: half a day after a confirmed level shift the scale is still that of the noise
    measured before it (only the shift's own samples leave the tails), not one guessed from
    the handful of samples since, which shrank or swelled by half from draw to draw."""
    for seed in range(5):
        rng = random.Random(seed)
        values = [100 + rng.gauss(0, 1) for _ in range(100)] + [
            130 + rng.gauss(0, 1) for _ in range(12)
        ]
        detector = RobustSeasonal(step_us=HOUR, seasonality="none")
        scales = []
        for i, x in enumerate(values):
            if i in (99, len(values) - 1):
                scales.append(detector.score(T0 + i * HOUR, x).scale)
            detector.learn(T0 + i * HOUR, x)
        assert 0.75 < scales[1] / scales[0] < 1.33, seed


def _stepped_up(seed: int, *, noise_grows: bool) -> list[float]:
    """Five days of 5-minute values with an afternoon peak, their level doubled from the
    fifth day on: a latency (log-normal noise, which doubles with it) or a server's load
    (the same noise before and after)."""
    rng = random.Random(seed)
    out = []
    for i in range(5 * DAY // (5 * MINUTE)):
        hour = (i * 5 * MINUTE % DAY) / HOUR
        peak = math.exp(-(((hour - 15) / 4) ** 2))
        after = i * 5 * MINUTE >= 4 * DAY
        if noise_grows:
            out.append(200 * (1 + 0.3 * peak) * math.exp(rng.gauss(0, 0.1)) * (2 if after else 1))
        else:
            out.append(20 + 10 * peak + rng.gauss(0, 1) + (20 if after else 0))
    return out


def _scale_grew(values: list[float]) -> float:
    """How many times wider the scale is six hours after the fifth day began than just
    before it."""
    step = 5 * MINUTE
    detector = RobustSeasonal(step_us=step)
    scales = []
    for i, x in enumerate(values):
        if i in (4 * DAY // step - 1, (4 * DAY + 6 * HOUR) // step):
            scales.append(detector.score(T0 + i * step, x).scale)
        detector.learn(T0 + i * step, x)
    return scales[1] / scales[0]


@pytest.mark.parametrize("seed", range(4))
def test_a_latency_whose_level_doubles_is_judged_against_its_doubled_noise(seed: int) -> None:
    """Issue 15: once a shift has doubled a latency, whose noise doubles with it, the band
    widens with the noise within the hour (it stayed as narrow as before for a day, and the
    new noise fired again every few hours); a server's load that steps up by as much with
    the same noise widens its band clearly less: the band follows the noise, not the level."""
    latency = _scale_grew(_stepped_up(seed, noise_grows=True))
    load = _scale_grew(_stepped_up(seed, noise_grows=False))
    assert latency >= 1.3
    assert load * 1.3 <= latency


def _weekly(rng: random.Random, days: int, step_us: int, drop: float) -> list[float]:
    """A weekday pattern around 100 with noise, its weekends (the series starts on a
    Thursday) `drop` lower."""
    out = []
    for i in range(days * DAY // step_us):
        t = i * step_us / DAY
        weekend = (int(t) + 3) % 7 >= 5
        out.append((100 + 20 * math.sin(2 * math.pi * t)) * (1 - drop * weekend))
        out[-1] += rng.gauss(0, 2)
    return out


def _fires(values: list[float], step_us: int) -> list[float]:
    """The days (from the start) of the samples whose p-value crosses the rule's default
    threshold."""
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step_us)
    detector = RobustSeasonal(step_us=step_us, p_value=fire)
    out = []
    for i, x in enumerate(values):
        at = T0 + i * step_us
        verdict = detector.score(at, x)
        if verdict.ready and verdict.p_value <= fire:
            out.append(i * step_us / DAY)
        detector.learn(at, x)
    return out


@pytest.mark.parametrize("minutes", [10, 15, 60])
def test_the_return_from_a_first_weekend_is_not_a_new_shift(minutes: int) -> None:
    """Issue 15: a weekly series whose first weekend drops by 40 % (no profile knows it
    after two days) does not fire again on the Monday it returns to its weekdays' level,
    nor on the weekdays after; a spike on the second weekend still fires."""
    step = minutes * MINUTE
    values = _weekly(random.Random(minutes), 14, step, 0.4)
    spike = int(9.4 * DAY / step)  # the second Saturday, mid-morning
    values[spike] += 30
    fired = _fires(values, step)
    assert not [day for day in fired if 3.5 <= day < 9]
    assert any(spike * step / DAY <= day <= (spike + 1) * step / DAY for day in fired)


def test_a_return_is_forgiven_once() -> None:
    """Issue 15: once a series has come back from its first weekend, a weekday that drops
    to the weekend's level at the same hour is an incident again."""
    step = 15 * MINUTE
    values = _weekly(random.Random(2), 10, step, 0.4)
    tuesday = 5 * DAY // step
    for i in range(tuesday, tuesday + 16):
        values[i] *= 0.6
    assert [day for day in _fires(values, step) if 5 <= day < 5.2]


def _first_hours_step(rng: random.Random, step_us: int) -> list[float]:
    """Four days around 100 with a daily pattern and noise, that step up by 40 six hours
    after the series starts (no profile knows any hour yet) and stay there."""
    out = []
    for i in range(4 * DAY // step_us):
        t = i * step_us / DAY
        out.append(100 + 20 * math.sin(2 * math.pi * t) + 40 * (t >= 0.25) + rng.gauss(0, 2))
    return out


def test_a_drop_at_the_hour_of_a_first_hours_step_fires() -> None:
    """Issue 15 (bench seed 21, spikes): a shift confirmed in a series' first hours is the
    level learning the day, not a step it may take back: two days later, a drop to the
    level it left, at that hour, fires (it was judged as a return to that level)."""
    step = 10 * MINUTE
    values = _first_hours_step(random.Random(10), step)
    drop = int(2.25 * DAY / step) + 1  # two days after the step, at its hour
    for i in range(drop, drop + 2):
        values[i] -= 40
    detector = RobustSeasonal(step_us=step)  # fires below a p-value of 1e-4
    p_values = []
    for i, x in enumerate(values):
        p_values.append(detector.score(T0 + i * step, x).p_value)
        detector.learn(T0 + i * step, x)
    assert min(p_values[drop : drop + 2]) < 1e-4


def _gauss_ar(rng: random.Random, n: int, phi: float) -> list[float]:
    """Autocorrelated Gaussian noise of unit variance (AR(1) with coefficient `phi`)."""
    out, acc = [], 0.0
    for _ in range(n):
        acc = phi * acc + math.sqrt(1 - phi * phi) * rng.gauss(0, 1)
        out.append(acc)
    return out


def test_accumulated_evidence_is_as_rare_as_its_false_alarm_rate_says() -> None:
    """Issue 15: on white Gaussian noise, a CUSUM with the detector's reference (`DRIFT`)
    reaches a height, on either side, as often as `evidence_p` says (a simulation written
    apart from the detector), within a factor of 1.6, from once in 70 samples to once in
    30,000."""
    rng = random.Random(4)
    heights = (1.0, 2.0, 3.0)
    crossings = dict.fromkeys(heights, 0)
    n = 300_000
    up = down = 0.0
    for _ in range(n):
        x = rng.gauss(0, 1)
        was_up, was_down = up, down
        up = max(0.0, up + x - DRIFT)
        down = max(0.0, down - x - DRIFT)
        for h in heights:
            crossings[h] += (up >= h > was_up) + (down >= h > was_down)
    for h in heights:
        assert 1 / 1.6 < crossings[h] / n / evidence_p(h) < 1.6, (h, crossings[h])


def test_a_sustained_shift_fires_though_no_sample_is_beyond_the_edge() -> None:
    """Issue 15: a level 3.5 noise deviations out (each sample between 3 and 4, so none is
    beyond the fire edge of 1e-4, 3.9 deviations for a Gaussian) fires within five samples on
    every draw, by the evidence those samples accumulate (without it, on three draws of the
    six); on autocorrelated noise alone (lag-one 0.6, 3,000 samples) the threshold is crossed
    at most once a draw."""
    for seed in range(6):
        rng = random.Random(seed)
        noise = [x * 2 for x in _gauss_ar(rng, 600, 0.0)]
        shifted = [100 + 2 * min(4.0, max(3.0, 3.5 + rng.gauss(0, 0.3))) for _ in range(8)]
        detector = RobustSeasonal(step_us=HOUR // 12, seasonality="none", p_value=1e-4)
        fired = []
        for i, x in enumerate([100 + e for e in noise] + shifted):
            verdict = detector.score(T0 + i * HOUR // 12, x)
            fired.append(verdict.ready and verdict.p_value <= 1e-4)
            detector.learn(T0 + i * HOUR // 12, x)
        assert any(fired[600:605]), seed
        assert sum(fired[:600]) <= 1, seed
        quiet = RobustSeasonal(step_us=HOUR // 12, seasonality="none", p_value=1e-4)
        alarms = 0
        for i, e in enumerate(_gauss_ar(rng, 3000, 0.6)):
            verdict = quiet.score(T0 + i * HOUR // 12, 100 + 2 * e)
            alarms += verdict.ready and verdict.p_value <= 1e-4
            quiet.learn(T0 + i * HOUR // 12, 100 + 2 * e)
        assert alarms <= 1, seed


def test_a_quantised_shift_of_a_few_steps_fires_within_a_few_samples() -> None:
    """Issue 15: on a series rounded to twice its noise's deviation (mostly one value, a step
    now and then), a level 3.5 steps down fires within three samples on every draw, by the
    evidence it accumulates (without it, on six draws of eight: the tails are lumps a step
    wide); the same quantised noise alone (lag-one 0.3, 3,000 samples) crosses the threshold
    at most once a draw."""

    def rounded(x: float) -> float:
        return round(x / 2.0) * 2.0

    step = 10 * MINUTE
    for seed in range(8):
        rng = random.Random(seed)
        noise = _gauss_ar(rng, 600, 0.3)
        shifted = [rounded(100 + e) - 7.0 for e in _gauss_ar(rng, 8, 0.3)]
        detector = RobustSeasonal(step_us=step, seasonality="none", p_value=1e-4)
        fired = []
        for i, x in enumerate([rounded(100 + e) for e in noise] + shifted):
            verdict = detector.score(T0 + i * step, x)
            fired.append(verdict.ready and verdict.p_value <= 1e-4)
            detector.learn(T0 + i * step, x)
        assert any(fired[600:603]), seed
        assert sum(fired[:600]) <= 1, seed
        quiet = RobustSeasonal(step_us=step, seasonality="none", p_value=1e-4)
        alarms = 0
        for i, e in enumerate(_gauss_ar(rng, 3000, 0.3)):
            verdict = quiet.score(T0 + i * step, rounded(100 + e))
            alarms += verdict.ready and verdict.p_value <= 1e-4
            quiet.learn(T0 + i * step, rounded(100 + e))
        assert alarms <= 1, seed


def _p_at(values: list[float], at: int, p_value: float) -> float:
    """The p-value of sample `at` of an hourly series, scored after learning those before."""
    detector = RobustSeasonal(step_us=HOUR, p_value=p_value)
    for i, x in enumerate(values[:at]):
        detector.learn(T0 + i * HOUR, x)
    return detector.score(T0 + at * HOUR, values[at]).p_value


def test_an_earlier_spike_does_not_hide_the_next_one() -> None:
    """Issue 15: a three-hour drop of nine noise deviations two days after one just like it
    still fires on a third or more of the draws where it fires alone (the reference: the
    same series without the first drop). The first drop's residuals, kept at the fire edge,
    were most of the lower tail of a window of 72 and hid the second on every draw."""
    fire = Rule(name="odd", kind="anomaly", metric="value").fire_p_value(HOUR)
    alone = both = 0
    for seed in range(12):
        rng = random.Random(seed)
        values = [100 + 20 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 2) for i in range(160)]
        for i in range(150, 153):
            values[i] -= 18
        if _p_at(values, 150, fire) > fire:
            continue
        alone += 1
        for i in range(100, 103):
            values[i] -= 18
        both += _p_at(values, 150, fire) <= fire
    assert alone >= 8
    assert both >= alone / 3, (both, alone)


@pytest.mark.parametrize("minutes", [5, 15])
def test_a_spike_in_the_second_and_third_days_of_a_fine_series_fires(minutes: int) -> None:
    """Issue 15: a spike of eight noise deviations between days 1.5 and 3 of a 5- or
    15-minute series with a daily cycle fires on at least 7 draws of 8: its first day is
    settled once complete, as a coarser series' is. Learned while the level chased the cycle,
    the profile left a band several times the noise (main: 5 and 1 draws of 8)."""
    step = minutes * MINUTE
    per_day = DAY // step
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
    hits = 0
    for seed in range(8):
        rng = random.Random(seed)
        values = [
            100 + 30 * math.sin(2 * math.pi * i / per_day) + rng.gauss(0, 2)
            for i in range(4 * per_day)
        ]
        at = int((1.5 + 1.5 * rng.random()) * per_day)
        values[at] += 16
        detector = RobustSeasonal(step_us=step, p_value=fire)
        for i, x in enumerate(values[:at]):
            detector.learn(T0 + i * step, x)
        verdict = detector.score(T0 + at * step, values[at])
        hits += verdict.ready and verdict.p_value <= fire
    assert hits >= 7, hits


@pytest.mark.parametrize("minutes", [10, 15, 60])
def test_a_calm_first_weekend_does_not_alert(minutes: int) -> None:
    """Issue 15: a weekly series whose weekends drop by 40 % (the series starts on a
    Thursday: two weekdays are all it has seen) does not fire at its first Saturday, nor
    at the start or end of its second weekend, where the weekly profile has seen each
    instant once; a spike on the first Saturday, once its level is known, still fires."""
    step = minutes * MINUTE
    values = _weekly(random.Random(minutes + 1), 16, step, 0.4)
    spike = int(2.6 * DAY / step)  # the first Saturday, early afternoon
    values[spike] += 30
    fired = _fires(values, step)
    assert not [day for day in fired if 2 <= day < 16 and day * DAY // step != spike]
    assert any(spike * step / DAY <= day <= (spike + 1) * step / DAY for day in fired)


@pytest.mark.parametrize("minutes", [10, 60])
def test_an_outage_at_the_first_weekends_start_still_fires(minutes: int) -> None:
    """Issue 15: the first Saturday's start is forgiven a weekend's step, not an outage: a
    weekly series that falls to zero at that midnight fires within its first hour."""
    step = minutes * MINUTE
    values = _weekly(random.Random(minutes), 4, step, 0.4)
    saturday = 2 * DAY // step
    for i in range(saturday, len(values)):
        values[i] = 0.0
    fired = _fires(values, step)
    assert [day for day in fired if 2 <= day <= 2 + max(HOUR, step) / DAY]


MONDAY = T0 + 4 * DAY  # T0 is a Thursday


def _alerts(values: list[float], step_us: int = 5 * MINUTE) -> list[float]:
    """The days (from the start, a Monday) on which each alert of an anomaly rule at its
    defaults fired, the series replayed as `vigie backtest --csv` replays it."""
    metric = Metric(
        name="m", kind="average", value="properties.value", window=f"{step_us // 10**6}s"
    )
    rows = [(MONDAY + i * step_us, i, x) for i, x in enumerate(values)]
    changes = replay_samples(metric, [Rule(name="odd", kind="anomaly", metric="m")], rows)
    first: dict[str, float] = {}
    for alert in changes:
        if alert.status == "firing" and alert.id not in first and alert.fired_at is not None:
            first[alert.id] = (alert.fired_at.timestamp() * 1e6 - MONDAY) / DAY
    return sorted(first.values())


def _student3(rng: random.Random) -> float:
    """A draw of Student's t with 3 degrees of freedom (a power-law tail, like latencies)."""
    return rng.gauss(0, 1) / math.sqrt(rng.gammavariate(1.5, 1 / 1.5))


def test_heavy_tailed_noise_fires_about_once_a_week_at_most() -> None:
    """Issue 15: four weeks of 5-minute Student-t noise (3 degrees of freedom, no incident)
    raise at most 1.25 alerts a week over six draws, and no draw more than 2.5 a week: an
    exponential tail fitted beyond the 90th percentile fired 4 to 6 times a week, a
    quarter of them on the first day."""
    weeks = 4
    counts = []
    for seed in range(6):
        rng = random.Random(seed)
        counts.append(len(_alerts([50 + 3 * _student3(rng) for _ in range(weeks * 7 * 288)])))
    assert sum(counts) <= 1.25 * weeks * len(counts), counts
    assert max(counts) <= 2.5 * weeks, counts


def test_a_spike_in_heavy_tailed_noise_still_fires() -> None:
    """Issue 15: in Student-t noise (3 degrees of freedom) whose heavy tail the detector has
    learned over two weeks, a two-sample spike of 40 scales fires within the spike, on every
    draw: the tail is heavy, not endless."""
    for seed in range(4):
        rng = random.Random(seed)
        values = [50 + 3 * _student3(rng) for _ in range(17 * 288)]
        at = 16 * 288 + rng.randrange(288)
        for i in (at, at + 1):
            values[i] += 120
        assert [day for day in _alerts(values) if at <= day * 288 <= at + 1], seed


def test_an_autocorrelated_series_does_not_switch_to_weekly_on_its_second_monday() -> None:
    """Issue 15: an AR(1) wander (phi 0.95) on a daily pattern, with no weekly one, is not
    predicted by last week's values on its second Monday (the weekly predictor must first
    beat the daily one over a whole day), and does not fire there: taken as soon as its
    recent error was lower, it copied last week's wander and alerted 14 above the value."""
    step = 5 * MINUTE
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
    for seed in range(8):
        rng = random.Random(seed)
        detector = RobustSeasonal(step_us=step, p_value=fire)
        wander, weekly, fired = 0.0, 0, 0
        for i in range(8 * 288):
            wander = 0.95 * wander + rng.gauss(0, 2)
            x = 40 + 15 * math.sin(2 * math.pi * ((i / 12) % 24 - 9) / 24) + wander
            at = MONDAY + i * step
            verdict = detector.score(at, x)
            detector.learn(at, x)
            if i >= 7 * 288:
                fired += verdict.ready and verdict.p_value <= fire
                weekly += detector.models[detector.chosen].name == "weekly"
        assert (weekly, fired) == (0, 0), seed


def test_low_rate_counts_fire_rarely_and_still_on_a_burst() -> None:
    """Issue 15: four weeks of Poisson counts at 0.5 per 5 minutes (mentions) raise at most
    one alert a week over four draws, where counts of 3 or 4 fired (their residuals on the
    square-root scale are lumps too thin to judge them by); a burst (a post that spreads:
    twenty times the rate for four windows) still fires within it on every draw."""
    weeks, total = 4, 0
    for seed in range(4):
        rng = random.Random(seed)
        values = [float(_poisson(rng, 0.5)) for _ in range(weeks * 7 * 288)]
        total += len(_alerts(values))
        at = 20 * 288 + rng.randrange(288)
        burst = [*values[:at], *(float(_poisson(rng, 10.0)) for _ in range(4)), *values[at:]]
        assert any(at <= day * 288 <= at + 4 for day in _alerts(burst[: at + 300])), seed
    assert total <= weeks * 4, total


def test_an_absurd_value_in_heavy_tailed_noise_fires_once_and_is_forgotten() -> None:
    """Issue 15: a value of 1e300 among Student-t noise whose heavy tail is learned fires,
    leaves the tail index and the evidence finite, and the ordinary values after it do not
    fire: an excess is cut at the fire edge before it is filed."""
    step = 5 * MINUTE
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
    rng = random.Random(5)
    detector = RobustSeasonal(step_us=step, p_value=fire)
    values = [50 + 3 * _student3(rng) for _ in range(15 * 288)]
    at = 14 * 288
    values[at] = 1e300
    fired = []
    for i, x in enumerate(values):
        verdict = detector.score(MONDAY + i * step, x)
        detector.learn(MONDAY + i * step, x)
        if verdict.ready and verdict.p_value <= fire and i >= at:
            fired.append(i)
    assert fired[:1] == [at]
    assert len(fired) <= 2, fired
    params = detector.models[detector.chosen].tails.params
    assert all(math.isfinite(x) for x in params) and 0.0 <= params[7] <= 0.5
    assert math.isfinite(detector.theta)


def _local_weekly(zone: str, days: int, minutes: int) -> tuple[int, list[float]]:
    """The start (a Thursday's local midnight in `zone`) and the values of a weekday pattern
    around 100 with noise whose local weekends are 40 % lower (the noise of
    `test_a_calm_first_weekend_does_not_alert`)."""
    start = to_us(datetime(2026, 1, 1, tzinfo=ZoneInfo(zone)))
    return start, _weekly(random.Random(minutes + 1), days, minutes * MINUTE, 0.4)


@pytest.mark.parametrize("minutes", [10, 15, 60])
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_a_first_weekend_begins_at_the_local_midnight(zone: str, minutes: int) -> None:
    """Issue 15: a weekly series whose weekends begin at its zone's Saturday midnight is
    forgiven its first weekend by a detector in that zone, not by one in UTC, whose first
    Saturday began hours earlier or later."""
    step = minutes * MINUTE
    start, values = _local_weekly(zone, 16, minutes)
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
    fired = {}
    for timezone in (zone, "UTC"):
        detector = RobustSeasonal(step_us=step, p_value=fire, timezone=timezone)
        fired[timezone] = []
        for i, x in enumerate(values):
            verdict = detector.score(start + i * step, x)
            if verdict.ready and verdict.p_value <= fire:
                fired[timezone].append(i * step / DAY)
            detector.learn(start + i * step, x)
    assert not [day for day in fired[zone] if 2 <= day < 16]
    if minutes != 15:  # at 15 minutes the first days' residuals, before the daily profile
        # is known, make the learned tail heavy enough that UTC's step confirms as a shift
        # without firing (issue 15's tail index; the contrast is shown at 10 and 60)
        assert [day for day in fired["UTC"] if 2 <= day < 3]


@pytest.mark.parametrize("minutes", [30, 60])
def test_a_spike_on_the_third_day_of_a_strong_daily_cycle_fires(minutes: int) -> None:
    """Issue 15: on a 30- or 60-minute series whose daily cycle is fifteen times its noise,
    a spike of eight noise deviations on its third day fires on nine draws of ten or more,
    and nothing fires after its first day without one: the first day's profile is settled
    once the day is complete, not left as what a level chasing the cycle left of it (a
    band several times the noise, where no such spike fired)."""
    step = minutes * MINUTE
    fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
    fired = 0
    for seed in range(10):
        rng = random.Random(seed)
        values = [
            100 + 30 * math.sin(2 * math.pi * (i * step / DAY - 0.3)) + rng.gauss(0, 2)
            for i in range(4 * DAY // step)
        ]
        quiet = _p_values(values, step, fire)
        assert not [p for p in quiet[DAY // step :] if p <= fire], seed
        at = int((2.3 + 0.05 * seed) * DAY / step)
        values[at] -= 16
        fired += _p_values(values, step, fire)[at] <= fire
    assert fired >= 9


def _p_values(values: list[float], step_us: int, fire: float) -> list[float]:
    """Each sample's p-value, scored before it is learned, at the threshold `fire`."""
    detector = RobustSeasonal(step_us=step_us, p_value=fire)
    out = []
    for i, x in enumerate(values):
        out.append(detector.score(T0 + i * step_us, x).p_value)
        detector.learn(T0 + i * step_us, x)
    return out


def _p_values_live_and_batch(values: list[float], step_us: int, fire: float) -> list[float]:
    """`_p_values`, checked against the replay's fast path (`score_series`) on the way."""
    live = _p_values(values, step_us, fire)
    times = [T0 + i * step_us for i in range(len(values))]
    batch = score_series(RobustSeasonal(step_us=step_us, p_value=fire), times, values)
    assert live == pytest.approx(batch.p_values)
    return live


def test_a_weekdays_zero_prior_is_its_hours_unless_the_day_is_more_closed() -> None:
    """Issue 15: a day of the week with the average day's share of zeros expects its time of
    day's share at a weekly knot it has not seen much; one as closed as a night expects a
    night's; one halfway expects halfway; the prior never leaves [rate, top]."""
    assert _day_prior(0.6, 0.6, 0.02, 0.98) == 0.02
    assert _day_prior(0.4, 0.6, 0.02, 0.98) == 0.02
    assert _day_prior(0.98, 0.6, 0.02, 0.98) == pytest.approx(0.98)
    assert _day_prior(1.0, 0.6, 0.02, 0.98) == pytest.approx(0.98)
    assert _day_prior(0.79, 0.6, 0.02, 0.98) == pytest.approx(0.5)
    assert _day_prior(0.9, 0.6, 0.99, 0.98) == 0.99


def _frozen_cpu(seed: int) -> tuple[list[float], int]:
    """A 1-minute CPU use over four days (a daily peak, autocorrelated noise) whose source
    repeats its last value for 8 hours of the third day; and the first sample after."""
    rng = random.Random(seed)
    values, noise = [], 0.0
    for i in range(4 * 1440):
        hour = (i % 1440) / 60
        noise = 0.6 * noise + rng.gauss(0, 2.5)
        values.append(20 + 15 * math.exp(-(((hour - 14) / 4) ** 2)) + noise)
    first, resumed = 2 * 1440 + 9 * 60, 2 * 1440 + 17 * 60
    values[first:resumed] = [values[first - 1]] * (resumed - first)
    return values, resumed


@pytest.mark.parametrize("seed", range(3))
def test_noise_after_a_stuck_sensor_is_judged_against_the_noise_before(seed: int) -> None:
    """Issue 15: 8 hours of one repeated value (a stuck source) are an incident, found
    within ten minutes and lasting as long as the stretch, and teach the detector nothing
    about the noise: once the values move again, their ordinary noise raises no alert (the
    flat stretch had shrunk the scale to a third and fired dozens)."""
    values, resumed = _frozen_cpu(seed)
    stuck_at = resumed - 8 * 60
    detector = RobustSeasonal(step_us=MINUTE)
    fired = []
    for i, x in enumerate(values):
        verdict = detector.score(T0 + i * MINUTE, x)
        if verdict.ready and verdict.p_value < 1e-4 and i >= stuck_at - 60:
            fired.append(i - stuck_at)
        detector.learn(T0 + i * MINUTE, x)
    assert fired and 0 <= fired[0] < 10
    assert fired == list(range(fired[0], 8 * 60))


def _verdicts(step_us: int, values: list[float]) -> list[object]:
    detector = RobustSeasonal(step_us=step_us)
    out: list[object] = []
    for i, x in enumerate(values):
        out.append(detector.score(T0 + i * step_us, x))
        detector.learn(T0 + i * step_us, x)
    return out


def test_repeats_a_quantised_sensor_or_a_shops_nights_make_are_not_stuck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: a sensor whose noise is under its 1-degree step (runs of a dozen equal
    readings), a shop's counts (zeros all night) and a busy shop's orders (too many to be
    judged as counts, and none at night) are judged as if no run were ever taken for a
    stuck source: their repeats are what the series does."""
    rng = random.Random(15)
    sensor = [
        float(round(40 + 0.8 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 0.25)))
        for i in range(7 * 288)
    ]
    shop = []
    for i in range(14 * 96):
        hour = (i % 96) / 4
        rate = 3.0 if 9 <= hour < 19 else 0.0
        x, p, u = 0, math.exp(-rate), rng.random()
        cumulative = p
        while u > cumulative:
            x += 1
            p *= rate / x
            cumulative += p
        shop.append(float(x))
    busy = [
        float(max(0, round(rng.gauss(120, 11)))) if 7 <= (i % 96) / 4 < 23 else 0.0
        for i in range(40, 14 * 96)
    ]
    runs = [len(list(g)) for _, g in itertools.groupby(sensor)]
    assert max(runs) >= 12  # the sensor does repeat itself
    series = [(5 * MINUTE, sensor), (15 * MINUTE, shop), (15 * MINUTE, busy)]
    got = [_verdicts(step, values) for step, values in series]
    monkeypatch.setattr(seasonal, "STUCK_LEAST", 10**9)
    assert got == [_verdicts(step, values) for step, values in series]


def _closed_nights(rng: random.Random, days: int, outage_at: int | None = None) -> list[float]:
    """A shop's orders every 5 minutes, about three while open, none from midnight to 7
    a.m.; from sample `outage_at` on, none until the next morning."""
    out = []
    for i in range(days * 288):
        hour = (i % 288) / 12
        out.append(0.0 if hour < 7 else float(_poisson(rng, 3.0)))
    if outage_at is not None:
        out[outage_at:] = [0.0] * (len(out) - outage_at)
    return out


def test_a_shops_nightly_closure_does_not_fire_but_an_outage_running_into_it_does() -> None:
    """Issue 15: the zeros of a night as long as the night before are a closure, not an
    outage (each night of a first week fired once its zeros, each likely, made a rare run);
    an outage from 9 p.m. runs longer than the night before and still fires, live and
    replayed alike."""
    fire = 2 * 300 / (30 * 86_400)
    step = 5 * MINUTE
    for seed in range(3):
        quiet = _closed_nights(random.Random(seed), 8)
        live = _p_values_live_and_batch(quiet, step, fire)
        nights = [p for i, p in enumerate(live) if i >= 288 and (i % 288) < 7 * 12]
        assert min(nights) > fire, seed
        start = 6 * 288 + 21 * 12
        scores = _p_values(_closed_nights(random.Random(seed), 8, outage_at=start), step, fire)
        assert min(scores[start : start + 12]) <= fire, seed  # while the shop is open
        assert min(scores[7 * 288 : 7 * 288 + 7 * 12]) <= fire, seed  # and into the night


def _working_days(rng: random.Random, days: int) -> list[float]:
    """A server's CPU use every minute: 15 % at night, 45 % at work (a 90-minute ramp from 8
    a.m. and to 7 p.m., a lunch dip at 12:45), autocorrelated noise of 1.5."""
    out, noise = [], 0.0
    for i in range(days * 1440):
        hour = (i % 1440) / 60
        office = min(max((hour - 8) / 1.5, 0), 1) * min(max((19 - hour) / 1.5, 0), 1)
        lunch = 1 - 0.4 * math.exp(-(((hour - 12.75) / 0.6) ** 2))
        noise = 0.6 * noise + rng.gauss(0, 1.2)
        out.append(15 + 30 * office * lunch + noise)
    return out


def _episodes(p_values: list[float], fire: float, start: int) -> int:
    """Runs of p-values at or below `fire` from sample `start` on, half an hour apart."""
    low = [i for i in range(start, len(p_values)) if p_values[i] <= fire]
    return sum(1 for a, b in itertools.pairwise([-99, *low]) if b - a > 30)


def test_a_working_days_ramps_do_not_fire_every_day_but_a_drop_at_their_hour_does() -> None:
    """Issue 15: the shifts a 1-minute server's first day confirmed at its morning ramp, its
    lunch and its evening (the level learning the day) recur every day, and the short
    average and the evidence fired at them on day after day; once they have recurred two
    days running they do not, live and replayed alike. A drop of ten deviations at the
    evening's hour still fires at once."""
    fire = 2 * 60 / (30 * 86_400)
    episodes = 0
    for seed in range(4):
        values = _working_days(random.Random(seed), 5)
        live = _p_values_live_and_batch(values, MINUTE, fire)
        episodes += _episodes(live, fire, 3 * 1440)
        drop = 4 * 1440 + 18 * 60 + 10
        values[drop:] = [x - 15 for x in values[drop:]]
        assert min(_p_values(values, MINUTE, fire)[drop : drop + 5]) <= fire, seed
    assert episodes <= 5


def _lunch_rush(seed: int, step_us: int, days: int) -> list[float]:
    """An incident-free series at 200 with a sharp peak of 800 more at 12:30 each day (an
    0.8-hour standard deviation: a lunch rush, a noon ad), and noise of 15."""
    rng = random.Random(seed)
    out = []
    for i in range(days * DAY // step_us):
        hour = (i * step_us % DAY) / HOUR
        out.append(200 + 800 * math.exp(-((hour - 12.5) ** 2) / (2 * 0.8**2)) + rng.gauss(0, 15))
    return out


def test_a_sharp_daily_peak_is_learned_within_days() -> None:
    """Issue 15: a daily peak narrower than the profile's knots an hour apart (two hours on
    an hourly series) left the same large residuals at the same time each day, and fired on
    27 of the days after the first three, over four weeks of four 15-minute and four hourly
    series, while the tails slowly learned them; its time of day's own correction (`_fine`)
    learns it within days."""
    days = 0
    for seed, minutes in itertools.product(range(1, 5), (15, 60)):
        step = minutes * MINUTE
        values = _lunch_rush(seed, step, 28)
        fire = Rule(name="odd", kind="anomaly", metric="m").fire_p_value(step)
        times = [T0 + i * step for i in range(len(values))]
        scores = score_series(RobustSeasonal(step_us=step, p_value=fire), times, values)
        fired = zip(scores.p_values, scores.ready, strict=True)
        days += len(
            {i * step // DAY for i, (p, ready) in enumerate(fired) if ready and p <= fire}
            - {0, 1, 2}
        )
    assert days <= 8
