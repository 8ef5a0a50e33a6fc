"""The anomaly rule's condition: one detector per group, fed the metric's windows as they
close, scoring the current one; with hysteresis, so an incident holds while it lasts.

A group starts holding when its value's p-value falls below the rule's `p_value` (after
the warm-up) and keeps holding while it stays below `clear_p_value` (default: its square
root, about two thirds of the z): a value hovering at the threshold does not flap. The
same `AnomalyWatch` serves the live engine (`evaluate`, over KPI readings) and the fast
CSV replay (`replay`, a whole series at once through `detectors.batch`, with the same
results as `observe` one window at a time): only the windowing differs.

A count or a sum in a tumbling window grows while its window is open: a fall is only
judged on the closed window's final value (else every window would start as a fall).

The detector reads its daily and weekly profiles in the rule's `timezone`, or else the
site's (`analytics.timezone`, which the engine passes as `timezone`), or UTC.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie.kpi import KpiEngine
from vigie.kpi.wallclock import UTC_NAME
from vigie.rules.conditions import (
    NOTHING_FIRED,
    Fired,
    Outcome,
    _about,
    _found,
    _readings,
)
from vigie.rules.definitions import Rule
from vigie.rules.detectors import Detector, Verdict
from vigie.rules.detectors.batch import SeriesScores
from vigie.rules.detectors.compiled import score_series
from vigie.rules.detectors.seasonal import STUCK_LEAST, RobustSeasonal
from vigie.types import from_us

HISTORY = 48  # samples of observed and expected values kept for the alert's plot


@dataclass
class _Group:
    """What the watch holds for one group: its detector, the window being filled, and the
    incident's state."""

    detector: Detector
    end_us: int | None = None
    verdict: Verdict | None = None
    holding: bool = False
    abnormal_since: int | None = None
    history: deque[tuple[int, float, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=HISTORY)
    )
    shown: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    shown_us: int = -1  # the last window of `history` already in `shown`
    # The run of final values equal to the last one: its value, length and first window.
    run_value: float = math.nan
    run: int = 0
    run_since: int = 0


def detector_for(rule: Rule, step_us: int, timezone: str = UTC_NAME) -> Detector:
    """The detector an anomaly `rule` uses for a series sampled every `step_us`, its
    calendar in the rule's time zone (`timezone` when the rule names none)."""
    return RobustSeasonal(
        step_us=step_us,
        seasonality=rule.seasonality,
        direction=rule.direction,
        p_value=rule.fire_p_value(step_us),
        warmup=rule.min_samples,
        timezone=rule.timezone or timezone,
    )


class AnomalyWatch:
    """The groups of one anomaly rule: each a detector and an incident in progress
    (`timezone`: the detectors' calendar when the rule names none)."""

    def __init__(
        self, rule: Rule, *, step_us: int, growing: bool = False, timezone: str = UTC_NAME
    ) -> None:
        self.rule = rule
        self.step_us = step_us
        self.growing = growing
        self.timezone = rule.timezone or timezone
        self.fire = rule.fire_p_value(step_us)
        self.clear = rule.clear_p_value if rule.clear_p_value is not None else math.sqrt(self.fire)
        self.groups: dict[str, _Group] = {}

    def observe(self, group: str, end_us: int | None, value: float | None) -> dict[str, Any] | None:
        """Take the current window of `group` (ending at `end_us`, None: no value): a new
        window files the previous one's final value first. Returns the evidence when the
        group holds, None when it does not."""
        state = self.groups.get(group)
        if state is None:
            state = self.groups[group] = _Group(
                detector_for(self.rule, self.step_us, self.timezone)
            )
        fell = False
        if end_us is not None and end_us != state.end_us:
            last = state.verdict
            if last is not None and state.end_us is not None:
                fell = self.growing and last.z < 0 and self._holds(state, last)
                if fell and not state.holding:
                    state.abnormal_since = state.end_us
                state.detector.learn(state.end_us, last.observed)
                if last.observed == state.run_value:
                    state.run += 1
                else:
                    state.run_value, state.run, state.run_since = last.observed, 1, state.end_us
                state.history.append(
                    (state.end_us, last.observed, last.expected, last.low, last.high)
                )
            state.end_us, state.verdict = end_us, None
            if fell:
                state.verdict = last
        if value is None or end_us is None or not math.isfinite(value):
            return self._evidence(state) if state.holding else None
        if fell:
            state.holding = True
            return self._evidence(state)
        verdict = state.verdict = state.detector.score(end_us, value)
        holds = self._holds(state, verdict) and not (self.growing and verdict.z < 0)
        if holds and not state.holding:
            state.abnormal_since = end_us
        state.holding = holds
        return self._evidence(state) if holds else None

    def replay(
        self, group: str, ends: Sequence[int], values: Sequence[float]
    ) -> list[dict[str, Any] | None]:
        """What `observe` returns for each window of a whole new series of `group` (one final,
        finite value per window, in time order), computed at once when the rule's detector
        can score a series (`RobustSeasonal`): the fast path of `vigie backtest --csv`."""
        detector = detector_for(self.rule, self.step_us, self.timezone)
        if self.growing or group in self.groups or not isinstance(detector, RobustSeasonal):
            return [self.observe(group, e, v) for e, v in zip(ends, values, strict=True)]
        scores = score_series(detector, ends, values)
        runs = _run_starts(values)
        out: list[dict[str, Any] | None] = [None] * len(ends)
        shown: dict[int, dict[str, Any]] = {}
        p_values, fire, clear = scores.p_values, self.fire, self.clear
        # Only a ready window within the looser of the two levels can hold; any other one
        # ends an incident, so a gap between two such windows does too.
        loose = max(fire, clear)
        holding = False
        since = 0
        last = -2
        for i in [
            i
            for i, (p, ready) in enumerate(zip(p_values, scores.ready, strict=True))
            if ready and not p > loose
        ]:
            if i != last + 1:
                holding = False
            last = i
            if p_values[i] > (clear if holding else fire):
                holding = False
                continue
            if not holding:
                holding, since = True, ends[i]
            out[i] = self._replayed(scores, ends, i, since, shown) | _unchanged(
                values[i], i - runs[i] + 1, ends[runs[i]]
            )
        return out

    def _replayed(
        self,
        scores: SeriesScores,
        ends: Sequence[int],
        i: int,
        since: int,
        shown: dict[int, dict[str, Any]],
    ) -> dict[str, Any]:
        """The evidence of window `i` of a replayed series, as `_evidence` writes it."""
        history = []
        for j in range(max(0, i - HISTORY), i):
            window = shown.get(j)
            if window is None:
                v = scores.verdict(j)
                window = shown[j] = {
                    "at": _iso(ends[j]),
                    "observed": v.observed,
                    "expected": v.expected,
                    "low": v.low,
                    "high": v.high,
                }
            history.append(window)
        verdict = scores.verdict(i)
        return {
            "seasonality": verdict.seasonality,
            "timezone": self.timezone,
            "abnormal_since": _iso(since),
            "abnormal_s": (ends[i] - since) / 1e6 if since and ends[i] else 0.0,
            "p_threshold": self.fire,
            "history": history,
            "value": verdict.observed,
            "expected": verdict.expected,
            "band": [verdict.low, verdict.high],
            "z": verdict.z,
            "p_value": verdict.p_value,
            "scale": verdict.scale,
            "samples": verdict.samples,
        }

    def _holds(self, state: _Group, verdict: Verdict) -> bool:
        limit = self.clear if state.holding else self.fire
        return verdict.ready and verdict.p_value <= limit

    def evaluate(
        self, kpis: KpiEngine, groups: set[str] | None, fired: Fired = NOTHING_FIRED
    ) -> Outcome:
        """The rule over the readings of `groups` (groups with a missing label skipped unless
        the rule asks for them): no value is no data, not a recovery; a group that stops
        holding while its alert fires says what it came back to."""
        assert self.rule.metric is not None
        out = Outcome()
        holds: dict[str, dict[str, Any]] = {}
        for reading in _readings(self.rule, kpis, groups):
            out.evaluated.add(reading.group)
            evidence = self.observe(reading.group, reading.end_us, reading.value)
            if evidence is not None:
                holds[reading.group] = evidence
            elif reading.value is None:
                out.no_data.add(reading.group)
            elif (alert := fired.get(reading.group)) is not None:
                verdict = self.groups[reading.group].verdict
                out.recovered[reading.group] = _about(self.rule, kpis) | {
                    "value": reading.value,
                    "fired_value": alert.get("value"),
                    "reference": verdict.expected if verdict else None,
                }
        return _found(self.rule.metric, kpis, holds, out)

    def _evidence(self, state: _Group) -> dict[str, Any]:
        verdict = state.verdict
        since = state.abnormal_since
        # Each window is written out once, when an evidence first needs it.
        for at, x, e, lo, hi in state.history:
            if at > state.shown_us:
                state.shown.append(
                    {"at": _iso(at), "observed": x, "expected": e, "low": lo, "high": hi}
                )
                state.shown_us = at
        history = list(state.shown)
        out: dict[str, Any] = {
            "seasonality": verdict.seasonality if verdict else None,
            "timezone": self.timezone,
            "abnormal_since": _iso(since),
            "abnormal_s": (state.end_us - since) / 1e6 if since and state.end_us else 0.0,
            "p_threshold": self.fire,
            "history": history,
        }
        if verdict is not None:
            out |= {
                "value": verdict.observed,
                "expected": verdict.expected,
                "band": [verdict.low, verdict.high],
                "z": verdict.z,
                "p_value": verdict.p_value,
                "scale": verdict.scale,
                "samples": verdict.samples,
            }
            if not self.growing:  # a count's window is judged before its final value
                same = state.run if verdict.observed == state.run_value else 0
                since_us = state.run_since if same else state.end_us or 0
                out |= _unchanged(verdict.observed, same + 1, since_us)
        return out


def _unchanged(value: float, samples: int, since_us: int) -> dict[str, Any]:
    """The evidence of a `value` repeated `samples` times in a row since `since_us`, when that
    is long enough for the source to be stuck (`STUCK_LEAST`): a stuck sensor's alert says
    so, not only that its value is unexpected. Zeros are not a stuck reading but nothing
    happening (an outage, as the detector judges them), and a growing count or sum's window
    is judged before it has its final value: neither says so."""
    if samples < STUCK_LEAST or value == 0:
        return {}
    return {"unchanged": {"samples": samples, "since": _iso(since_us)}}


def _run_starts(values: Sequence[float]) -> list[int]:
    """For each sample, the index where its run of equal values in a row began."""
    starts, start = [], 0
    for i, x in enumerate(values):
        if i and x != values[i - 1]:
            start = i
        starts.append(start)
    return starts


def _iso(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat()
