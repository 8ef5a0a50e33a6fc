"""Sequential tests: say an event stream broke as soon as the evidence allows, never before.

A `sequential` rule watches the rate of an event (or the conversion from `where` events to
`then` events) against its expected level for the time of day (`vigie.kpi.profiles`), and
runs, continuously, a one-sided CUSUM of the log-likelihood ratio between "normal" and "off
by at least `min_effect`":

* rate, Poisson: in operational time (u = expected events so far), a drop to r = 1 - e of
  the normal rate adds (1 - r) per expected event during silence and log r per event seen:
  the evidence grows while nothing comes, so a tick during silence can fire. A surge
  (r = 1 + e) is the mirror image. For a drop, a silence test runs beside it: a silence of
  u expected events has probability exp(-u) under the normal rate.
* conversion, Bernoulli: of the events of either step, a fraction q = p / (1 + p) are
  conversions when the conversion is p; each event adds log(q1/q0) or log((1-q1)/(1-q0)),
  q1 the fraction at a conversion changed by `min_effect`.

Thresholds come from the declared false-alarm rate (`false_alarms: 1/month`): it sets the
mean run length between false alarms, N expected events (trials for a conversion), split
evenly among the tests the rule runs. For a CUSUM with KL information I0 per event under the
normal rate, Siegmund's approximation (exact for the diffusion limit) gives
ARL0 = (e^h - h - 1) / I0, solved for h (about log(N * I0)); the detection delay of a change
of information I1 per event is then (e^-h + h - 1) / I1 (Lorden's bound is log(N) / I1).
A silence of u expected events happens about N e^-u times in N events, so the silence test
fires at u = log(N). With one test and the whole budget these are also the theoretical
minima that `vigie rules explain` and `vigie bench detection` compare with.

Once fired, the test holds until its CUSUM has come back to 0 (the evidence of the break,
capped at the threshold, undone by normal traffic): an honest recovery with hysteresis.
The half-hours seen while it holds are not learned at once: forgotten if it recovers within
`ADOPT_S`, learned once it has held that long (the new normal), so an alert that is really a
new level resolves instead of holding forever. Without a prior, a half-hour of the day never
watched before is learned but not judged (issue 15: a shop's first opening is no surge).
A half-hour never watched on its day of the week is judged against the daily level, and
learned even while an alarm holds: a shop's first closed Sunday may fire once (its daily
level expects orders), and is the lesson that keeps the later Sundays quiet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vigie.events import Event
from vigie.kpi.durations import parse_duration, parse_rate
from vigie.kpi.metrics import MISSING, NO_GROUP, Filter, accessor
from vigie.kpi.profiles import RateProfile
from vigie.kpi.wallclock import UTC_NAME
from vigie.rules.conditions import AbsenceTracker, Finding, Outcome
from vigie.rules.definitions import Rule
from vigie.types import from_us

Test = Literal["silence", "drop", "surge"]
LONG_GAP_S = 2 * 86_400.0  # a silence this long is downtime, not a lesson
ADOPT_S = 86_400.0  # an alarm that holds this long is a new level: learned, then resolved


def info_null(r: float) -> float:
    """KL information per expected event, under the normal rate, of "rate x r" vs normal."""
    return r - 1 - math.log(r)


def info_alt(r: float) -> float:
    """KL information per expected event, under a rate x r, against the normal rate."""
    return r * math.log(r) - r + 1


def bernoulli_kl(a: float, b: float) -> float:
    """KL divergence of Bernoulli(a) from Bernoulli(b)."""
    return a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))


def cusum_threshold(arl: float, info0: float) -> float:
    """The CUSUM threshold h whose mean run length under normal traffic is `arl` (in units of
    `info0`'s: expected events or trials): Siegmund's (e^h - h - 1) / I0 = ARL0."""
    target = arl * info0
    if target <= 0.5:
        return 1.0
    high = math.log(target) + 2.0
    from scipy import optimize  # SciPy is imported when a rule first needs it, not at start

    return float(optimize.brentq(lambda h: math.expm1(h) - h - target, 1e-9, high))


def cusum_delay(h: float, info1: float) -> float:
    """The mean delay (in expected events or trials) of a CUSUM with threshold h after a
    change of information `info1` per event: (e^-h + h - 1) / I1."""
    return (math.exp(-h) + h - 1) / info1


def conversion_share(p: float) -> float:
    """The share of conversions among the events of both steps at conversion p."""
    return p / (1 + p)


@dataclass(frozen=True)
class Design:
    """The thresholds of a rule's tests, for a normal level of `events` per false alarm."""

    tests: tuple[Test, ...]
    drop: float  # r of the drop alternative
    surge: float  # r of the surge alternative
    events_per_false_alarm: float
    cusum_h: dict[str, float]
    silence_u: float  # expected events of silence that fire the silence test
    slack: float = 0.0  # the normal rate is taken as low (high) as 1 - slack (1 + slack)

    @classmethod
    def rates(
        cls,
        *,
        effect: float,
        tests: Sequence[Test],
        events_per_false_alarm: float,
        slack: float = 0.0,
    ) -> Design:
        """Thresholds of Poisson tests; the false-alarm budget is split evenly among them.
        With `slack`, "normal" is a rate down (up) to 1 - slack (1 + slack) of the expected
        one, so traffic's own wander is not mistaken for a break."""
        arl = max(events_per_false_alarm, 1.0) * len(tests)
        drop, surge = (1 - effect) / (1 - slack), (1 + effect) / (1 + slack)
        hs: dict[str, float] = {}
        if "drop" in tests:
            hs["drop"] = cusum_threshold(arl, info_null(drop))
        if "surge" in tests:
            hs["surge"] = cusum_threshold(arl, info_null(surge))
        return cls(tuple(tests), drop, surge, events_per_false_alarm, hs, math.log(arl), slack)

    def scale(self, test: Test) -> float:
        """Expected events at the slack's edge per expected event: what a test counts."""
        return 1 + self.slack if test == "surge" else 1 - self.slack

    @classmethod
    def conversion(
        cls, *, p: float, effect: float, tests: Sequence[Test], trials_per_false_alarm: float
    ) -> Design:
        """Thresholds of Bernoulli tests on the share of conversions among both steps' events."""
        arl = max(trials_per_false_alarm, 1.0) * len(tests)
        q0 = conversion_share(p)
        hs: dict[str, float] = {}
        for test in tests:
            q1 = conversion_share(p * (1 - effect if test == "drop" else 1 + effect))
            hs[test] = cusum_threshold(arl, bernoulli_kl(q0, q1))
        return cls(tuple(tests), 1 - effect, 1 + effect, trials_per_false_alarm, hs, math.inf)


def slack_for(noise_sd: float, effect: float) -> float:
    """The slack left for a stream's own wander: two of its relative standard deviations,
    at most half the effect to detect."""
    return min(2 * noise_sd, effect / 2)


def tests_of(rule: Rule) -> tuple[Test, ...]:
    """The tests a rule runs: a drop (with the silence test for rates), a surge, or both."""
    conversion = bool(rule.then)
    down: tuple[Test, ...] = ("drop",) if conversion else ("silence", "drop")
    if rule.direction == "down":
        return down
    if rule.direction == "up":
        return ("surge",)
    return (*down, "surge")


@dataclass
class Side:
    """One running CUSUM: its statistic and, since it last left 0, what was expected and seen."""

    statistic: float = 0.0
    since_s: float = 0.0
    expected: float = 0.0
    observed: int = 0
    trials: int = 0

    def reset(self, at_s: float) -> None:
        self.statistic, self.since_s = 0.0, at_s
        self.expected, self.observed, self.trials = 0.0, 0, 0


@dataclass
class Alarm:
    """A test that fired and has not recovered: which, and its evidence since the change."""

    test: Test
    fired_s: float
    since_s: float
    expected: float
    observed: int
    trials: int = 0
    observed_at_fire: int = 0
    back_s: float | None = None  # the first event after it fired

    def __post_init__(self) -> None:
        self.observed_at_fire = self.observed


@dataclass
class RateTest:
    """A sequential test of one stream's event rate (Poisson) against its learned profile.

    `observe(t)` counts an event at `t` seconds; `advance(t)` lets time pass without one
    (the clock tick); `alarm` is set while the stream is judged broken.
    """

    profile: RateProfile
    effect: float
    tests: tuple[Test, ...]
    per_false_alarm_s: float
    warmup_s: float = 3600.0
    at_s: float | None = None
    last_event_s: float | None = None
    silence_u: float = 0.0
    sides: dict[Test, Side] = field(default_factory=dict)
    alarm: Alarm | None = None
    design: Design | None = None
    recovered: dict[str, Any] | None = None  # what the rate came back to, last recovery
    _chunk_start: float | None = None
    _chunk_count: int = 0
    _chunk_alarmed: bool = False
    waiting: list[tuple[float, float, int]] = field(default_factory=list)  # lessons on hold

    def ready(self) -> bool:
        """Whether the expected rate is known: declared, or learned for `warmup_s`."""
        return self.profile.prior is not None or self.profile.watched_s() >= self.warmup_s

    def judged(self, t_s: float) -> bool:
        """Whether the time of day of `t_s` has an expected level to judge against: a declared
        prior, or, once `warmup_s` is learned, a half-hour already watched on an earlier day
        (a shop's first opening is learned, not taken for a surge over the night's silence)."""
        if self.profile.prior is not None:
            return True
        return self.ready() and self.profile.seen(t_s)

    def current_design(self) -> Design:
        if self.design is None:
            events = self.profile.mean_rate() * self.per_false_alarm_s
            self.design = Design.rates(
                effect=self.effect,
                tests=self.tests,
                events_per_false_alarm=events,
                slack=slack_for(self.profile.noise_sd(), self.effect),
            )
        return self.design

    def advance(self, t_s: float) -> None:
        """Let time pass to `t_s` with no event: silence is evidence of a drop."""
        if self.at_s is None:
            self.at_s = self._chunk_start = t_s
            for test in self.tests:
                self.sides[test] = Side(since_s=t_s)
            self.last_event_s = t_s
            return
        while t_s > self.at_s:
            if t_s - self.at_s > LONG_GAP_S:
                # Nothing is learned over days of downtime: one step.
                self._pass(t_s)
                self._chunk_start = self.profile.slot_start(t_s)
                self._chunk_count, self._chunk_alarmed = 0, True
                return
            boundary = self.profile.slot_end(self.at_s)
            step_end = min(t_s, boundary)
            self._pass(step_end)
            if step_end >= boundary:
                self._learn(step_end)

    def observe(self, t_s: float, count: int = 1) -> None:
        """Count `count` events arriving at `t_s` (earlier than the last instant: at it)."""
        self.advance(t_s if self.at_s is None else max(t_s, self.at_s))
        design = self.current_design()
        self._chunk_count += count
        self.silence_u = 0.0
        self.last_event_s = self.at_s
        judged = self.judged(self.at_s if self.at_s is not None else t_s)
        for test, side in self.sides.items():
            if test == "silence" or not judged:
                continue
            r = design.drop if test == "drop" else design.surge
            side.statistic += count * math.log(r)
            side.observed += count
            if test == "drop" and side.statistic <= 0:
                side.reset(self.at_s or t_s)
        if self.alarm is not None:
            self.alarm.observed += count
            if self.alarm.back_s is None:
                self.alarm.back_s = self.at_s
        self._judge()

    def _pass(self, t_s: float) -> None:
        assert self.at_s is not None
        u = self.profile.expected(self.at_s, t_s) if self.judged(self.at_s) else 0.0
        design = self.current_design()
        self.silence_u += u * design.scale("silence")
        for test, side in self.sides.items():
            if test == "silence":
                continue
            r = design.drop if test == "drop" else design.surge
            side.statistic += (1 - r) * u * design.scale(test)
            side.expected += u
            if test == "surge" and side.statistic <= 0:
                side.reset(t_s)
        if self.alarm is not None:
            self.alarm.expected += u
        self.at_s = t_s
        self._judge()

    def _judge(self) -> None:
        """Fire on a crossing; while fired, cap the evidence and recover once it is undone."""
        if not self.ready():
            return
        design = self.current_design()
        assert self.at_s is not None
        if self.alarm is None:
            for test in self.tests:
                if test == "silence":
                    if self.silence_u >= design.silence_u:
                        since = self.last_event_s or self.at_s
                        expected = self.silence_u / design.scale("silence")
                        self.alarm = Alarm("silence", self.at_s, since, expected, 0)
                elif self.sides[test].statistic >= design.cusum_h[test]:
                    side = self.sides[test]
                    self.alarm = Alarm(test, self.at_s, side.since_s, side.expected, side.observed)
                if self.alarm is not None:
                    self._chunk_alarmed = True
                    return
            return
        self._chunk_alarmed = True
        watched: Test = "surge" if self.alarm.test == "surge" else "drop"
        held = self.sides.get(watched)
        if held is None:  # a silence-only test recovers with the next event
            if self.silence_u == 0.0:
                self._recover()
            return
        held.statistic = min(held.statistic, design.cusum_h[watched])
        if held.statistic <= 0:
            self._recover()

    def _recover(self) -> None:
        """End the alarm, keeping what the rate came back to for the alert's resolution."""
        alarm = self.alarm
        assert alarm is not None and self.at_s is not None
        fired_for = max(alarm.fired_s - alarm.since_s, 1e-9)
        back_for = max(self.at_s - (alarm.back_s or alarm.fired_s), 1e-9)
        self.recovered = {
            "title": {"en": "Event rate", "fr": "Débit d'événements"},
            "unit": "/min",
            "value": round((alarm.observed - alarm.observed_at_fire - 1) / back_for * 60, 3),
            "fired_value": round(alarm.observed_at_fire / fired_for * 60, 3),
            "reference": round(self.profile.rate_at(self.at_s) * 60, 3),
        }
        self.alarm = None
        self.waiting = []

    def _learn(self, boundary_s: float) -> None:
        """Teach the profile the slot just ended. While the stream is judged broken the lesson
        waits: forgotten if the stream recovers within `ADOPT_S` (a break is not the norm),
        taught once the alarm has held that long (a level that lasts a day is the new norm).
        A half-hour never watched before on its day of the week is taught at once: it is
        still being learned (a shop's first closed Sunday is its Sundays' first lesson)."""
        start = self._chunk_start if self._chunk_start is not None else boundary_s
        lesson = (start, boundary_s, self._chunk_count)
        alarm = self.alarm
        if not self._chunk_alarmed or not self.profile.seen_on_weekday(start):
            self._teach(lesson)
        elif alarm is None:
            pass  # the break ended within the half-hour, or days of downtime: forgotten
        elif boundary_s - alarm.fired_s >= ADOPT_S:
            for waiting in self.waiting:
                self._teach(waiting)
            self.waiting = []
            self._teach(lesson)
        else:
            self.waiting.append(lesson)
        self._chunk_start, self._chunk_count = boundary_s, 0
        self._chunk_alarmed = self.alarm is not None

    def _teach(self, lesson: tuple[float, float, int]) -> None:
        self.profile.learn(*lesson)
        self.design = None

    def evidence(self) -> dict[str, Any]:
        """What an alert shows: the test, when the change began, expected vs observed, and
        how unlikely that was under the normal rate."""
        from scipy import stats

        alarm = self.alarm
        assert alarm is not None and self.at_s is not None
        design = self.current_design()
        k, mu = alarm.observed, max(alarm.expected, 1e-12)
        if alarm.test == "surge":
            tail = float(stats.poisson.sf(k - 1, mu))
            ratio = mu / (k + 1)
        else:
            tail = float(stats.poisson.cdf(k, mu))
            ratio = k / mu
        log_p = _log_tail(tail, float(stats.poisson.logpmf(k, mu)), ratio)
        statistic = self.silence_u if alarm.test == "silence" else self.sides[alarm.test].statistic
        threshold = design.silence_u if alarm.test == "silence" else design.cusum_h[alarm.test]
        return {
            "test": alarm.test,
            "since": _iso(alarm.since_s),
            "fired_at": _iso(alarm.fired_s),
            "expected": round(alarm.expected, 3),
            "observed": alarm.observed,
            "p_value": math.exp(log_p),
            "log10_p_value": round(log_p / math.log(10), 2),
            "evidence": round(statistic, 3),
            "threshold": round(threshold, 3),
            "expected_per_min": round(self.profile.rate_at(self.at_s) * 60, 4),
            "last_event_at": _iso(self.last_event_s or alarm.since_s),
            "silent_s": round(self.at_s - (self.last_event_s or self.at_s), 3),
        }


@dataclass
class ConversionTest:
    """A sequential test of the conversion from `where` events to `then` events (Bernoulli on
    the share of conversions among both), against a learned level with a declared prior."""

    p0: float
    prior_trials: float
    effect: float
    tests: tuple[Test, ...]
    per_false_alarm_s: float
    rate: RateProfile
    successes: float = 0.0
    trials: float = 0.0
    first_s: float | None = None
    at_s: float = 0.0
    sides: dict[Test, Side] = field(default_factory=dict)
    alarm: Alarm | None = None
    _design: tuple[tuple[float, float], Design] | None = None

    def level(self) -> float:
        """The expected conversion: the prior blended with conversions seen while normal."""
        q0 = conversion_share(self.p0)
        q = (q0 * self.prior_trials + self.successes) / (self.prior_trials + self.trials)
        q = min(max(q, 1e-6), 1 - 1e-6)
        return q / (1 - q)

    def design(self) -> Design:
        watched = max(self.at_s - (self.first_s or self.at_s), 1.0)
        trials_rate = max(self.trials, 1.0) / watched
        if self.rate.prior is not None:
            trials_rate = self.rate.prior * (1 + self.p0)
        # Thresholds move with log(trials): recomputed when the level or the rate moves.
        key = (round(self.level(), 3), round(math.log2(trials_rate), 1))
        if self._design is None or self._design[0] != key:
            design = Design.conversion(
                p=self.level(),
                effect=self.effect,
                tests=self.tests,
                trials_per_false_alarm=trials_rate * self.per_false_alarm_s,
            )
            self._design = (key, design)
        return self._design[1]

    def observe(self, t_s: float, converted: bool) -> None:
        """One event of either step at `t_s`: a conversion (`then`) or an entry (`where`)."""
        if self.first_s is None:
            self.first_s = t_s
            self.sides = {test: Side(since_s=t_s) for test in self.tests}
        self.at_s = max(self.at_s, t_s)
        design = self.design()
        q0 = conversion_share(self.level())
        for test, side in self.sides.items():
            q1 = conversion_share(self.level() * (design.drop if test == "drop" else design.surge))
            step = math.log(q1 / q0) if converted else math.log((1 - q1) / (1 - q0))
            side.statistic += step
            side.trials += 1
            side.observed += int(converted)
            side.expected += q0
            if side.statistic <= 0:
                side.reset(t_s)
        if self.alarm is None:
            for test, side in self.sides.items():
                if side.statistic >= design.cusum_h[test]:
                    self.alarm = Alarm(
                        test, t_s, side.since_s, side.expected, side.observed, side.trials
                    )
                    return
            self.successes += int(converted)  # learn only while normal
            self.trials += 1
            return
        self.alarm.trials += 1
        self.alarm.observed += int(converted)
        self.alarm.expected += q0
        side = self.sides[self.alarm.test]
        side.statistic = min(side.statistic, design.cusum_h[self.alarm.test])
        if side.statistic <= 0:
            self.alarm = None

    def evidence(self) -> dict[str, Any]:
        """The alert's evidence: expected vs observed conversions since the change began."""
        from scipy import stats

        alarm = self.alarm
        assert alarm is not None
        q0 = alarm.expected / alarm.trials if alarm.trials else 0.0
        k, n = alarm.observed, alarm.trials
        q0 = min(max(q0, 1e-12), 1 - 1e-12)
        if alarm.test == "surge":
            tail = float(stats.binom.sf(k - 1, n, q0))
            ratio = (n - k) * q0 / ((k + 1) * (1 - q0))
        else:
            tail = float(stats.binom.cdf(k, n, q0))
            ratio = k * (1 - q0) / ((n - k + 1) * q0)
        log_p = _log_tail(tail, float(stats.binom.logpmf(k, n, q0)), ratio)
        design = self.design()
        return {
            "test": f"conversion_{alarm.test}",
            "since": _iso(alarm.since_s),
            "fired_at": _iso(alarm.fired_s),
            "expected": round(alarm.expected, 3),
            "observed": alarm.observed,
            "trials": alarm.trials,
            "expected_conversion": round(self.level(), 4),
            "p_value": math.exp(log_p),
            "log10_p_value": round(log_p / math.log(10), 2),
            "evidence": round(self.sides[alarm.test].statistic, 3),
            "threshold": round(design.cusum_h[alarm.test], 3),
        }


def _log_tail(tail: float, log_pmf: float, ratio: float) -> float:
    """The log of a tail probability: directly while it is a normal float, else its last
    term's log plus a geometric bound on the rest (terms shrink at least by `ratio`), as a
    long silence's probability underflows (e^-1000)."""
    if tail > 1e-300:
        return math.log(tail)
    return log_pmf - math.log1p(-min(ratio, 1 - 1e-12))


def _iso(t_s: float) -> str:
    return from_us(int(t_s * 1e6)).isoformat()


def rate_test(
    rule: Rule, tests: tuple[Test, ...] | None = None, timezone: str = UTC_NAME
) -> RateTest:
    """A rate test as `rule` declares it (prior, false-alarm rate, effect, learning), its
    time of day read in the rule's time zone (`timezone`, the site's, when it names none)."""
    profile = RateProfile(
        prior=rule.expected_rate,
        prior_weight_s=parse_duration(rule.prior_weight) / 1e6,
        half_life_s=parse_duration(rule.half_life) / 1e6,
        timezone=rule.timezone or timezone,
    )
    return RateTest(
        profile,
        rule.min_effect,
        tests or tests_of(rule),
        1 / parse_rate(rule.declared_false_alarms()),
        warmup_s=parse_duration(rule.prior_weight) / 1e6,
    )


def _conversion_test(rule: Rule) -> ConversionTest:
    assert rule.expected_conversion is not None
    return ConversionTest(
        p0=rule.expected_conversion,
        prior_trials=100.0,
        effect=rule.min_effect,
        tests=tests_of(rule),
        per_false_alarm_s=1 / parse_rate(rule.declared_false_alarms()),
        rate=RateProfile(prior=rule.expected_rate),
    )


class SequentialTracker:
    """A `sequential` rule's tests, one per group of its `by` fields, fed with the matching
    events' arrival times (processing time, as `absence`) and evaluated on every tick
    (`timezone`: the site's, whose time of day the rule follows when it names no zone)."""

    def __init__(self, rule: Rule, *, started_us: int, timezone: str = UTC_NAME) -> None:
        self.rule = rule
        self.timezone = timezone
        self.matches = Filter(rule.where)
        self.converts = Filter(rule.then) if rule.then else None
        self.readers = [(name, accessor(name)) for name in rule.by]
        self.rates: dict[str, RateTest] = {}
        self.conversions: dict[str, ConversionTest] = {}
        self.labels: dict[str, dict[str, str]] = {}
        if not rule.by and self.converts is None:
            # Started by its first event (events replayed after a restart come first, in
            # their order) or else by the first tick: silence counts from then.
            self.rates[NO_GROUP] = rate_test(rule, timezone=timezone)
            self.labels[NO_GROUP] = {}

    def feed(self, events: Iterable[Event]) -> None:
        """Count the matching events (both steps' for a conversion)."""
        pending: dict[str, tuple[float, int]] = {}  # per group, one arrival instant's count
        for event in events:
            converted = self.converts is not None and self.converts(event)
            if not converted and not self.matches(event):
                continue
            labels = {name: _label(read(event)) for name, read in self.readers}
            if self.rule.missing_labels == "skip" and MISSING in labels.values():
                continue
            group = "|".join(labels.values()) if labels else NO_GROUP
            at = event.received_at.timestamp()
            if self.converts is not None:
                test = self.conversions.get(group)
                if test is None:
                    test = self.conversions[group] = _conversion_test(self.rule)
                    self.labels[group] = labels
                test.observe(at, converted)
                continue
            if group not in self.rates:
                self.rates[group] = rate_test(self.rule, timezone=self.timezone)
                self.labels[group] = labels
            seen = pending.get(group)
            if seen is not None and seen[0] == at:
                pending[group] = (at, seen[1] + 1)
                continue
            if seen is not None:
                self.rates[group].observe(*seen)
            pending[group] = (at, 1)
        for group, (at, count) in pending.items():
            self.rates[group].observe(at, count)  # a batch arriving at once: one step

    def evaluate(self, now_us: int) -> Outcome:
        """Let time pass to `now_us` in every rate test; the groups whose test holds a break."""
        out = Outcome()
        now_s = now_us / 1e6
        for group, rate in self.rates.items():
            rate.advance(max(now_s, rate.at_s or now_s))
            out.evaluated.add(group)
            if rate.alarm is not None:
                out.findings[group] = Finding(group, self.labels[group], rate.evidence())
            elif rate.recovered is not None:
                out.recovered[group] = rate.recovered
        for group, conversion in self.conversions.items():
            out.evaluated.add(group)
            if conversion.alarm is not None:
                out.findings[group] = Finding(group, self.labels[group], conversion.evidence())
        return out


class RateAwareAbsence(AbsenceTracker):
    """An `absence` rule with an `expected_rate`: a group's silence fires once it is improbable
    at the rule's false-alarm rate (a silence test on its learned rate per time of day), or
    after the fixed `silence` if one is given, whichever comes first (`timezone`: the
    site's, whose time of day the rule follows when it names no zone)."""

    def __init__(self, rule: Rule, *, started_us: int, timezone: str = UTC_NAME) -> None:
        if rule.silence is None:
            rule = Rule(**{**_fields(rule), "silence": "3650d"})
        super().__init__(rule, started_us=started_us)
        self.timezone = timezone
        self.tests: dict[str, RateTest] = {}
        for group, (at, _) in self.last_seen.items():
            self.tests[group] = rate_test(rule, ("silence",), timezone)
            self.tests[group].advance(at / 1e6)

    def feed(self, events: Iterable[Event]) -> None:
        """Note arrivals, and count them in their group's silence test."""
        events = list(events)
        super().feed(events)
        for event in events:
            if not self.matches(event):
                continue
            labels = {name: _label(read(event)) for name, read in self.readers}
            if self.rule.missing_labels == "skip" and MISSING in labels.values():
                continue
            group = "|".join(labels.values()) if labels else NO_GROUP
            test = self.tests.get(group)
            if test is None:
                test = self.tests[group] = rate_test(self.rule, ("silence",), self.timezone)
            test.observe(event.received_at.timestamp())

    def evaluate(self, now_us: int) -> Outcome:
        """Groups silent beyond `silence`, or for longer than their rate makes plausible."""
        out = super().evaluate(now_us)
        for group, test in self.tests.items():
            test.advance(max(now_us / 1e6, test.at_s or 0.0))
            if test.alarm is None:
                continue
            values = test.evidence()
            found = out.findings.get(group)
            if found is not None:
                found.values.update(values)
                continue
            labels = self.last_seen[group][1] if group in self.last_seen else {}
            out.findings[group] = Finding(group, labels, values)
        return out


def _fields(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in rule.__struct_fields__}


def _label(value: Any) -> str:
    return MISSING if value is None else str(value)


@dataclass(frozen=True)
class Detection:
    """Expected time to detect at one traffic level: a drop to 0 and a drop by `min_effect`
    with the rule's thresholds, and the theoretical minima at its false-alarm rate."""

    rate_per_s: float
    to_zero_s: float
    to_zero_min_s: float
    by_effect_s: float
    by_effect_min_s: float


def detection_table(
    *, effect: float, per_false_alarm_s: float, tests: Sequence[Test], rates: Sequence[float]
) -> list[Detection]:
    """Expected seconds to detect at each steady rate (events per second), from the same
    thresholds the rule uses (`Design.rates`), beside the single-test minima."""
    out = []
    for rate in rates:
        events = rate * per_false_alarm_s
        design = Design.rates(effect=effect, tests=tests, events_per_false_alarm=events)
        drop = design.drop
        h = design.cusum_h.get("drop", math.inf)
        to_zero_u = min(design.silence_u if "silence" in tests else math.inf, h / (1 - drop))
        best_h = cusum_threshold(events, info_null(drop))
        by_effect_u = cusum_delay(h, info_alt(drop)) if "drop" in tests else math.inf
        out.append(
            Detection(
                rate_per_s=rate,
                to_zero_s=to_zero_u / rate,
                to_zero_min_s=math.log(max(events, 1.0)) / rate,
                by_effect_s=by_effect_u / rate,
                by_effect_min_s=cusum_delay(best_h, info_alt(drop)) / rate,
            )
        )
    return out


@dataclass
class DropScan:
    """Where a scan of a stream's drop tests stands: the drop CUSUM and the last event, in
    operational time (expected events)."""

    statistic: float = 0.0
    last_u: float = 0.0
    at_u: float = 0.0


def scan_drops(
    u: np.ndarray, end_u: float, design: Design, state: DropScan
) -> tuple[float, Test] | None:
    """The first alarm of a rate rule's drop tests (silence and drop CUSUM) over events at
    operational times `u` (sorted, after `state.at_u`), watched until `end_u`: its
    operational time and test, or None (then `state` is moved to `end_u`).

    The vectorised twin of `RateTest` (same thresholds, same recursion, checked equal by the
    tests) for simulating months of traffic: the CUSUM S = max(0, S + x) is W - min(0, min W)
    over the cumulative sum W, highest just before each event.
    """
    a, b = (1 - design.drop) * design.scale("drop"), math.log(design.drop)
    h = design.cusum_h.get("drop", math.inf)
    silence = design.silence_u / design.scale("silence") if "silence" in design.tests else math.inf
    before = np.concatenate(([state.last_u], u))
    gaps_end = np.concatenate((u, [end_u]))
    crossings: list[tuple[float, Test]] = []
    long_gap = np.flatnonzero(gaps_end - before >= silence)
    if long_gap.size:
        crossings.append((float(before[long_gap[0]] + silence), "silence"))
    if math.isfinite(h):
        i = np.arange(len(u), dtype=float)
        w_post = state.statistic + a * (u - state.at_u) + b * (i + 1)
        w_pre = w_post - b
        floor = np.minimum(0.0, np.concatenate(([0.0], np.minimum.accumulate(w_post)[:-1])))
        s_pre = w_pre - floor
        up = np.flatnonzero(s_pre >= h)
        if up.size:
            k = up[0]
            crossings.append((float(u[k] - (s_pre[k] - h) / a), "drop"))
        end_floor = min(0.0, float(w_post.min())) if len(u) else 0.0
        last_w = float(w_post[-1]) if len(u) else state.statistic
        end_s = last_w + a * (end_u - (u[-1] if len(u) else state.at_u)) - end_floor
        if not up.size and end_s >= h:
            crossings.append((end_u - (end_s - h) / a, "drop"))
    if crossings:
        return min(crossings)
    if math.isfinite(h):
        state.statistic = end_s
    if len(u):
        state.last_u = float(u[-1])
    state.at_u = end_u
    return None


def conversion_table(
    *, p: float, effect: float, per_false_alarm_s: float, rates: Sequence[float]
) -> list[Detection]:
    """Expected seconds for a conversion rule (direction down) to detect conversions falling
    to 0 and by `effect`, at each rate of `where` events per second, beside the minima."""
    out = []
    q0, q1 = conversion_share(p), conversion_share(p * (1 - effect))
    entry = math.log((1 - q1) / (1 - q0))  # what one event without conversion adds
    for rate in rates:
        trials = rate * (1 + p) * per_false_alarm_s
        h = Design.conversion(
            p=p, effect=effect, tests=("drop",), trials_per_false_alarm=trials
        ).cusum_h["drop"]
        per_trial_s = 1 / (rate * (1 + p))
        out.append(
            Detection(
                rate_per_s=rate,
                # with no conversion at all, only `where` events come, each adding `entry`
                to_zero_s=h / entry / rate,
                to_zero_min_s=math.log(max(trials, 1.0)) / -math.log(1 - q0) / rate,
                by_effect_s=cusum_delay(h, bernoulli_kl(q1, q0)) * per_trial_s,
                by_effect_min_s=cusum_delay(h, bernoulli_kl(q1, q0)) * per_trial_s,
            )
        )
    return out
