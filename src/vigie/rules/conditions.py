"""Rule conditions, evaluated over the KPI engine's readings: plain data in, findings out.

A condition returns, per group it looked at, a `Finding` when it holds; groups it looked
at without a finding no longer hold (their alerts resolve, with what recovered in
`Outcome.recovered`), except those without data (`Outcome.no_data`: no value to judge,
their alerts stay as they are); groups it did not look at keep their state. A group whose
label is missing (`(none)`) is not looked at unless the rule asks (`missing_labels`).

`fired` gives, per group with an active alert of the rule, that alert's evidence: a
`change` rule judges such a group against the reference that fired it, so a reference
that decays in turn (conversion stays at 0 %, the previous window becomes 0 %) does not
pass for a recovery.

A count or a sum in a tumbling window grows while its window fills: a `change` rule judges
such a window on what it is on course for (`projected`), never on its value so far, so the
start of every hour is not a drop (issue 15). See `change`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.events import Event
from vigie.kpi import KpiEngine, Reading
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import MISSING, NO_GROUP, CompiledMetric, Filter, accessor
from vigie.kpi.wallclock import UTC_NAME
from vigie.rules.definitions import Rule
from vigie.types import from_us, to_us

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass
class Finding:
    """The condition holds for one group; `values` is the evidence shown with the alert."""

    group: str
    labels: dict[str, str]
    values: dict[str, Any]


@dataclass
class Outcome:
    """What one evaluation of a rule saw: the groups looked at, those that hold, those
    without data to judge, and for those that stopped holding, what the value came back to
    (`value`, and the `fired_value` and `reference` or `threshold` it is compared with)."""

    evaluated: set[str] = field(default_factory=set)
    findings: dict[str, Finding] = field(default_factory=dict)
    no_data: set[str] = field(default_factory=set)
    recovered: dict[str, dict[str, Any]] = field(default_factory=dict)
    recheck: dict[str, int] = field(default_factory=dict)
    """Per group, the event time at which the outcome changes though no event comes (a
    filling window's drop comes due as the window goes on empty): look again then."""


Fired = Mapping[str, Mapping[str, Any]]
NOTHING_FIRED: Fired = {}


def _skipped(rule: Rule, labels: Mapping[str, str]) -> bool:
    """Whether a group is left out: one of its labels is missing and the rule does not ask
    for such groups."""
    return rule.missing_labels == "skip" and MISSING in labels.values()


def grows(metric: CompiledMetric) -> bool:
    """Whether the metric's current window only grows until it closes (a count or a sum in
    a tumbling window)."""
    return metric.kind in ("count", "sum", "distinct") and metric.size_us == metric.slide_us


def _elapsed(reading: Reading, now_us: int | None) -> float | None:
    """The part of a growing window gone by at event time `now_us` (0 to 1), None once the
    window is over (or has not begun): its value is then final, judged as is."""
    start, end = reading.start_us, reading.end_us
    if now_us is None or start is None or end is None or not start <= now_us < end:
        return None
    return (now_us - start) / (end - start)


def _readings(
    rule: Rule, kpis: KpiEngine, groups: set[str] | None, **options: Any
) -> list[Reading]:
    assert rule.metric is not None
    readings = kpis.read(rule.metric, groups, **options)
    if rule.missing_labels == "skip":
        readings = [r for r in readings if MISSING not in r.labels.values()]
    return readings


def _about(rule: Rule, kpis: KpiEngine) -> dict[str, Any]:
    """What a recovery message needs to name the metric and show its values."""
    assert rule.metric is not None
    metric = kpis.metrics[rule.metric].metric
    return {
        "metric": metric.name,
        "title": dict(metric.title),
        "kind": metric.kind,
        "unit": metric.unit,
    }


def _label(value: Any) -> str:
    return MISSING if value is None else str(value)


def _iso(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat()


def _evidence(metric: str, reading: Reading) -> dict[str, Any]:
    offsets, visitors = list(reading.offsets), list(reading.visitors)
    return {
        "metric": metric,
        "window": {"start": _iso(reading.start_us), "end": _iso(reading.end_us)},
        "events": offsets,
        "visitors": visitors,
        "links": [f"/api/events?before={o + 1}&limit=1" for o in offsets]
        + [f"/api/events?anonymous_id={v}" for v in visitors],
    }


def _found(metric: str, kpis: KpiEngine, holds: dict[str, dict[str, Any]], out: Outcome) -> Outcome:
    """`out` with a finding for each group in `holds` (its values after the evidence): the
    latest events behind the evidence are read for these groups only."""
    for reading in kpis.read(metric, holds, recent=True):
        values = _evidence(metric, reading) | holds[reading.group]
        out.findings[reading.group] = Finding(reading.group, dict(reading.labels), values)
    return out


FLOORS = frozenset({"<", "<="})
"""The threshold ops a count filling its window meets early and may leave as it grows."""


def threshold(
    rule: Rule,
    kpis: KpiEngine,
    groups: set[str] | None,
    fired: Fired = NOTHING_FIRED,
    *,
    now_us: int | None = None,
    watched_since: Mapping[str, int] | None = None,
) -> Outcome:
    """`metric op value` on the current window; a group whose alert is active is held to
    `clear_value` instead, when the rule sets one (hysteresis).

    A `<` (or `<=`) on a count or a sum still filling its tumbling window at event time
    `now_us` judges it only once it is no longer below (it cannot fall back as it fills);
    while below, it judges the last closed window, when the group was watched since that
    window's start (`watched_since`, per group), and nothing otherwise. So it does not fire
    as each window opens nearly empty (issue 15): it fires as a window closes below, holds
    while the next one is still below, and resolves once one reaches the value again.
    """
    assert rule.metric is not None and rule.value is not None
    compare = OPS[rule.op]
    out = Outcome()
    holds: dict[str, dict[str, Any]] = {}
    filling = now_us is not None and rule.op in FLOORS and grows(kpis.metrics[rule.metric])
    for reading in _readings(rule, kpis, groups, previous=filling):
        group, value = reading.group, reading.value
        out.evaluated.add(group)
        alert = fired.get(group)
        limit = rule.held_limit(active=alert is not None)
        judged: dict[str, Any] = {}
        if (
            filling
            and value is not None
            and _elapsed(reading, now_us) is not None
            and compare(value, limit)
        ):
            start, end = reading.start_us, reading.end_us
            assert start is not None and end is not None
            closed = start - (end - start)
            since = (watched_since or {}).get(group)
            if since is None or since > closed or reading.previous is None:
                out.no_data.add(group)  # the last window was not watched whole: no verdict
                continue
            value = reading.previous
            judged = {"window": {"start": _iso(closed), "end": _iso(start)}}
        if value is None:
            out.no_data.add(group)
        elif compare(value, limit):
            holds[group] = {"value": value, "threshold": rule.value, "op": rule.op} | judged
            if rule.clear_value is not None:
                holds[group]["clear_value"] = rule.clear_value
            holds[group]["fired_value"] = alert.get("fired_value", value) if alert else value
        elif alert is not None:
            out.recovered[group] = _about(rule, kpis) | {
                "value": value,
                "fired_value": alert.get("fired_value", alert.get("value")),
                "threshold": rule.value,
            }
    return _found(rule.metric, kpis, holds, out)


def change(
    rule: Rule,
    kpis: KpiEngine,
    groups: set[str] | None,
    fired: Fired = NOTHING_FIRED,
    *,
    timezone: str = UTC_NAME,
    now_us: int | None = None,
) -> Outcome:
    """Relative change of the current window against the previous one or the same slot
    (on the rule's wall clock: its `timezone`, or the site's, `timezone` here).

    A count or a sum in a tumbling window still filling at event time `now_us` is judged on
    what it is on course for, `projected`: its value so far plus the rest of the window at
    the reference's pace. It fires a drop (or a rise) once even a usual rest of the window
    could not bring it back within the `drop` (or `rise`): the part seen has already fallen
    short of (or gone beyond) the reference by the whole allowance, so noise early in a
    window, where a few events more or less are a large share, fires no more than it
    would on the closed window. A steady rate is on course for the reference all along;
    orders that stop fire before the window closes, at the moment given in `recheck`.

    A group with an active alert is judged against the reference that fired it (kept in
    the alert as `reference`): it recovers only once its value is back within `tolerance`
    of it (by default the `drop` or `rise` that fired), whatever the reference is now. A
    filling window then holds while either its projection or the last window's length up
    to now (the part seen plus the rest of the previous window at its pace, the alert's
    own) is still beyond `tolerance`: the start of the next window is no recovery, and it
    recovers as the part seen comes back.
    """
    assert rule.metric is not None
    out = Outcome()
    holds: dict[str, dict[str, Any]] = {}
    learning = rule.baseline(timezone)
    calendar = None if learning is None else (learning[0], learning[2])
    filling = now_us is not None and grows(kpis.metrics[rule.metric])
    previous = rule.compare == "previous" or (filling and bool(fired))
    readings = _readings(rule, kpis, groups, previous=previous, past=calendar)
    for reading in readings:
        group, value = reading.group, reading.value
        out.evaluated.add(group)
        if rule.compare == "previous":
            reference_now = reading.previous
        else:
            past = reading.past[-rule.days :]
            reference_now = math.fsum(past) / len(past) if past else None
        if value is None or reading.weight < rule.min_events:
            out.no_data.add(group)  # nothing (or too little) to judge: neither fired nor recovered
            continue
        elapsed = _elapsed(reading, now_us) if filling else None
        shown: dict[str, Any] = {} if elapsed is None else {"elapsed": elapsed}
        alert = fired.get(group)
        if alert is not None and isinstance(alert.get("reference"), int | float):
            fired_reference = float(alert["reference"])
            dropped = alert.get("change", 0.0) < 0
            estimate = value
            if elapsed is not None:
                rest = 1 - elapsed
                trailing = value + rest * (reading.previous or 0.0)
                on_course = value + rest * fired_reference
                estimate = min(trailing, on_course) if dropped else max(trailing, on_course)
                shown["projected"] = estimate
            ratio = (estimate - fired_reference) / fired_reference
            tolerance = rule.tolerance
            if tolerance is None:
                tolerance = (rule.drop if dropped else rule.rise) or 0.0
            still = ratio <= -tolerance if dropped else ratio >= tolerance
            fired_value = alert.get("fired_value", alert.get("value"))
            if still:
                holds[group] = {
                    "value": value,
                    "reference": fired_reference,
                    "change": ratio,
                    "compare": rule.compare,
                    "fired_value": fired_value,
                    "reference_now": reference_now,
                } | shown
            else:
                out.recovered[group] = _about(rule, kpis) | {
                    "value": estimate,
                    "fired_value": fired_value,
                    "reference": fired_reference,
                    "change": ratio,
                }
            continue
        reference = reference_now
        if reference is None or reference <= 0 or reference < rule.min_reference:
            continue
        projected = value
        if elapsed is not None:
            projected = value + (1 - elapsed) * reference
            shown["projected"] = projected
        ratio = (projected - reference) / reference
        dropped = rule.drop is not None and ratio <= -rule.drop
        rose = rule.rise is not None and ratio >= rule.rise
        if dropped or rose:
            holds[group] = {
                "value": value,
                "reference": reference,
                "change": ratio,
                "compare": rule.compare,
                "fired_value": value,
                "reference_now": reference,
            } | shown
        elif elapsed is not None and rule.drop is not None:
            # Without events the projection falls as the window goes on: it reaches the
            # drop once the part gone by is `drop` beyond the share already counted.
            start, end = reading.start_us, reading.end_us
            assert start is not None and end is not None
            due = value / reference + rule.drop
            if due < 1:
                at = start + math.ceil(due * (end - start))
                out.recheck[group] = max(at, (now_us or 0) + 1)
    return _found(rule.metric, kpis, holds, out)


class SlaTracker:
    """Items opened and not yet closed (e.g. tickets without a first response), per group."""

    def __init__(self, rule: Rule) -> None:
        assert rule.within is not None
        self.rule = rule
        self.within_us = parse_duration(rule.within)
        self.opens = Filter(rule.open)
        self.closes = Filter(rule.close)
        self.key = accessor(rule.key)
        self.readers = [(name, accessor(name)) for name in rule.by]
        self.open_items: dict[str, tuple[int, str, dict[str, str], int | None]] = {}
        self.closed: dict[str, int] = {}
        self._last_groups: set[str] = set()

    def feed(self, events: Iterable[Event]) -> None:
        """Open and close items from events (idempotent: replays change nothing)."""
        for event in events:
            if self.closes(event):
                key = self.key(event)
                if key is not None:
                    self.closed[str(key)] = to_us(event.timestamp)
                    self.open_items.pop(str(key), None)
            elif self.opens(event):
                key = self.key(event)
                if key is None or str(key) in self.closed or str(key) in self.open_items:
                    continue
                labels = {name: _label(read(event)) for name, read in self.readers}
                if _skipped(self.rule, labels):
                    continue
                group = "|".join(labels.values()) if labels else NO_GROUP
                self.open_items[str(key)] = (to_us(event.timestamp), group, labels, event.offset)

    def evaluate(self, now_us: int) -> Outcome:
        """Groups with at least one item open longer than `within` at event time `now_us`."""
        out = Outcome()
        # Closed keys are remembered to ignore a late duplicate "open"; not forever.
        horizon = now_us - max(4 * self.within_us, 86_400_000_000)
        if self.closed and next(iter(self.closed.values())) < horizon:
            self.closed = {k: at for k, at in self.closed.items() if at >= horizon}
        breaches: dict[str, list[tuple[str, int, int | None]]] = {}
        labels_of: dict[str, dict[str, str]] = {}
        for key, (opened, group, labels, offset) in self.open_items.items():
            out.evaluated.add(group)
            labels_of[group] = labels
            if now_us - opened > self.within_us:
                breaches.setdefault(group, []).append((key, opened, offset))
        for group in list(self._last_groups):
            out.evaluated.add(group)
        self._last_groups = set(out.evaluated)
        for group, items in breaches.items():
            oldest = min(opened for _, opened, _ in items)
            out.findings[group] = Finding(
                group,
                labels_of[group],
                {
                    "breaches": len(items),
                    "items": sorted(key for key, _, _ in items)[:20],
                    "oldest_open_s": (now_us - oldest) / 1e6,
                    "sla_s": self.within_us / 1e6,
                    "events": [o for _, _, o in items if o is not None][:20],
                },
            )
        return out


class AbsenceTracker:
    """When events matching a filter were last received, per group (processing time)."""

    def __init__(self, rule: Rule, *, started_us: int) -> None:
        assert rule.silence is not None
        self.rule = rule
        self.silence_us = parse_duration(rule.silence)
        self.matches = Filter(rule.where)
        self.readers = [(name, accessor(name)) for name in rule.by]
        self.last_seen: dict[str, tuple[int, dict[str, str]]] = {}
        if not rule.by:
            self.last_seen[NO_GROUP] = (started_us, {})

    def feed(self, events: Iterable[Event]) -> None:
        """Note the arrival of matching events."""
        for event in events:
            if not self.matches(event):
                continue
            labels = {name: _label(read(event)) for name, read in self.readers}
            if _skipped(self.rule, labels):
                continue
            group = "|".join(labels.values()) if labels else NO_GROUP
            at = to_us(event.received_at)
            seen = self.last_seen.get(group)
            if seen is None or at > seen[0]:
                self.last_seen[group] = (at, labels)

    def evaluate(self, now_us: int) -> Outcome:
        """Groups silent for longer than `silence` at processing time `now_us`."""
        out = Outcome()
        for group, (at, labels) in self.last_seen.items():
            out.evaluated.add(group)
            if now_us - at > self.silence_us:
                out.findings[group] = Finding(
                    group,
                    labels,
                    {
                        "last_event_at": _iso(at),
                        "silent_s": (now_us - at) / 1e6,
                        "silence_s": self.silence_us / 1e6,
                    },
                )
        return out


def combine(rule: Rule, holding: list[dict[str, Finding]], evaluated: set[str]) -> Outcome:
    """`all`: every listed rule holds for the group; `any`: at least one does.

    `holding` is, per listed rule, the groups for which it currently holds (from its
    latest evaluation of each group), so a rule not re-evaluated this round still counts.
    """
    out = Outcome(evaluated=set(evaluated))
    groups: set[str] = set()
    for i, found in enumerate(holding):
        if rule.kind == "any":
            groups |= set(found)
        else:
            groups = set(found) if i == 0 else groups & set(found)
    for group in groups:
        parts = {
            name: found[group]
            for name, found in zip(rule.rules, holding, strict=True)
            if group in found
        }
        labels = next(iter(parts.values())).labels
        values = {name: part.values for name, part in parts.items()}
        out.findings[group] = Finding(group, labels, {"rules": values})
        out.evaluated.add(group)
    return out
