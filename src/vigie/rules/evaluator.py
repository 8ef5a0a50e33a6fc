"""The alerting engine: KPI windows, rule conditions and the alert lifecycle behind one door.

The live server feeds it from the log (it is a `Processor`) and ticks it every second;
`vigie backtest` feeds it the stored log on a simulated clock. Both go through `process`
and `tick`, so a backtest raises the alerts the live server raised on the same events.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from vigie.clock import Clock
from vigie.events import Event
from vigie.kpi import KpiEngine, make_engine
from vigie.kpi.baselines import Learning, calendars
from vigie.kpi.metrics import Metric
from vigie.kpi.wallclock import UTC_NAME
from vigie.log.eventlog import EventLog
from vigie.rules.alerts import Alert, AlertListener
from vigie.rules.anomalies import AnomalyWatch
from vigie.rules.conditions import (
    AbsenceTracker,
    Finding,
    Outcome,
    SlaTracker,
    change,
    combine,
    grows,
    threshold,
)
from vigie.rules.definitions import Rule
from vigie.rules.lifecycle import AlertBook, resolve_after_us
from vigie.rules.routing import Router
from vigie.rules.sequential import RateAwareAbsence, SequentialTracker
from vigie.rules.store import AlertStore
from vigie.types import to_us

logger = logging.getLogger(__name__)
_CONDITIONS = {"threshold": threshold, "change": change}
# Groups a tick evaluates under one hold of the lock.
TICK_SLICE = 128
ON_METRICS = frozenset({*_CONDITIONS, "anomaly"})
COMPOSITE = frozenset({"all", "any"})
GROUPLESS = frozenset({"sla", "absence", "sequential"})


def baselines_needed(rules: Sequence[Rule], timezone: str = UTC_NAME) -> dict[str, list[Learning]]:
    """Per metric whose groups the KPI engine keeps however quiet (an anomaly rule's: its
    detectors go on learning them; a same_slot change rule's), the histories its rules
    compare with, each on its rule's wall clock (the rule's `timezone`, else the site's
    `timezone`): the engine shares one between rules agreeing on slots and zone."""
    out: dict[str, list[Learning]] = {}
    for rule in rules:
        if rule.metric is None:
            continue
        if rule.kind == "anomaly":
            out.setdefault(rule.metric, [])
        learning = rule.baseline(timezone)
        if learning is not None:
            out.setdefault(rule.metric, []).append(learning)
    return out


class AlertingEngine:
    """Feeds events to the KPI engine, evaluates every rule, and moves alerts along
    (`timezone`: the site's, whose calendar a rule naming no zone follows: an anomaly rule's
    cycles, a change rule's same slot, a sequential or absence rule's time-of-day level)."""

    def __init__(
        self,
        metrics: Sequence[Metric],
        rules: Sequence[Rule],
        *,
        clock: Clock,
        store: AlertStore | None = None,
        listeners: Sequence[AlertListener] = (),
        reference: bool = False,
        name: str = "rules",
        keeps: Callable[[Event], bool] | None = None,
        owns: Callable[[Alert], bool] | None = None,
        timezone: str = UTC_NAME,
    ) -> None:
        self.name = name
        # A partition's engine (`vigie.rules.partitions`) counts only the events it `keeps`
        # and takes over only the stored alerts it `owns`; by default, all of them.
        self.keeps = keeps
        self.owns = owns
        self.rules = list(rules)
        self.timezone = timezone
        needed = baselines_needed(rules, timezone)
        # Per metric, the depth of each calendar learned: what a live change may read.
        self.learned = {metric: calendars(asked) for metric, asked in needed.items()}
        # `reference`: the readable per-event KPI engine instead of the columnar one.
        self.kpis: KpiEngine = make_engine(metrics, baselines=needed, reference=reference)
        self.clock = clock
        self.store = store
        self.listeners: list[AlertListener] = list(listeners)
        started = to_us(clock.now())
        self.sla = {r.name: SlaTracker(r) for r in rules if r.kind == "sla"}
        self.absence = {
            r.name: RateAwareAbsence(r, started_us=started, timezone=timezone)
            if r.expected_rate
            else AbsenceTracker(r, started_us=started)
            for r in rules
            if r.kind == "absence"
        }
        self._absence_router = Router(
            [(self.absence[r.name], r.where) for r in rules if r.kind == "absence"]
        )
        self.sequential = {
            r.name: SequentialTracker(r, started_us=started, timezone=timezone)
            for r in rules
            if r.kind == "sequential"
        }
        self.book = AlertBook()
        slides = {name: m.slide_us for name, m in self.kpis.metrics.items()}
        self.resolve_after = {
            r.name: resolve_after_us(r, slides.get(r.metric) if r.metric else None) for r in rules
        }
        self.anomalies = {
            r.name: AnomalyWatch(
                r,
                step_us=slides[r.metric],
                growing=grows(self.kpis.metrics[r.metric]),
                timezone=timezone,
            )
            for r in rules
            if r.kind == "anomaly" and r.metric is not None and r.metric in slides
        }
        self.holding: dict[str, dict[str, Finding]] = {r.name: {} for r in rules}
        # Per growing metric a threshold rule watches, per group, the event time it was first
        # seen at: a `<` judges its last closed window only if watched whole (`threshold`;
        # any op, as a restored version may bring another).
        self._watched_since: dict[str, dict[str, int]] = {
            r.metric: {}
            for r in rules
            if r.kind == "threshold" and r.metric is not None and grows(self.kpis.metrics[r.metric])
        }
        # When a change rule's filling window comes due though no event comes, per (rule,
        # group), and the heap of the moments ticks look again (one live entry per pair).
        self._recheck: dict[tuple[str, str], int] = {}
        self._armed: dict[tuple[str, str], int] = {}
        self._rechecks: list[tuple[int, str, str]] = []
        self.last_offset = 0
        # Set when a batch changed an alert (listeners and webhooks were told): the runner then
        # saves this processor's checkpoint at once, so a crash does not replay that batch.
        self.checkpoint_due = False
        self._arrival_us: int | None = None
        self._lock = threading.Lock()
        self.tick_slice = TICK_SLICE
        self._look_everywhere = False

    def replacement_problem(self, rule: Rule) -> str | None:
        """Why a new version of `rule` cannot be put in place here (None: it can): only a
        threshold or change rule's parameters change live, and a same_slot one reads no more
        days, nor another time zone, than the history learned since the start."""
        old = next((r for r in self.rules if r.name == rule.name), None)
        if old is None:
            return f"no rule {rule.name!r} is evaluated here"
        if (rule.kind, rule.metric) != (old.kind, old.metric) or rule.kind not in _CONDITIONS:
            return (
                f"rule {rule.name!r}: only a threshold or change rule's parameters change "
                f"live; its kind and metric stay (here {old.kind} on {old.metric!r}, asked "
                f"{rule.kind} on {rule.metric!r}): change them in vigie.yaml and restart"
            )
        if not self._learns(rule):
            return (
                f"rule {rule.name!r}: the days and time zone of a same_slot comparison "
                "change with vigie.yaml and a restart (their history is learned from then on)"
            )
        return None

    def replace_rule(self, rule: Rule) -> None:
        """Put a new version of a threshold or change rule in place, live from the next
        evaluation (its alerts and evidence are kept: the rule keeps its name and metric);
        `ValueError` (`KeyError` for a rule not evaluated here) names why it cannot be."""
        with self._lock:
            index = next((i for i, r in enumerate(self.rules) if r.name == rule.name), None)
            if index is None:
                raise KeyError(f"no rule {rule.name!r} is evaluated here")
            problem = self.replacement_problem(rule)
            if problem is not None:
                raise ValueError(problem)
            self.rules[index] = rule
            slide = self.kpis.metrics[rule.metric].slide_us if rule.metric else None
            self.resolve_after[rule.name] = resolve_after_us(rule, slide)
            self._look_everywhere = True  # its groups' outcomes (and rechecks) are the new rule's

    def _learns(self, rule: Rule) -> bool:
        """Whether the history `rule` compares with (if any) is learned, deep enough."""
        learning = rule.baseline(self.timezone)
        if learning is None or rule.metric is None:
            return True
        seasonality, days, zone = learning
        return self.learned.get(rule.metric, {}).get((seasonality, zone), 0) >= days

    def restore(self, log: EventLog, *, lookback_us: int) -> int:
        """Load active alerts and rebuild windows from events received within `lookback_us`
        before this processor's checkpoint; returns how many events were replayed.

        Replayed events only fill windows and trackers: alerts are not re-evaluated for
        them, since their outcome is already in the store.
        """
        with self._lock:
            if self.store is not None:
                active = self.store.active()
                owns = self.owns
                self.book = AlertBook(active if owns is None else [a for a in active if owns(a)])
            self._look_everywhere = True
            end = log.checkpoint(self.name)
            if end <= 1:
                return 0
            since = to_us(self.clock.now()) - lookback_us
            start = _first_received_after(log, since, end)
            replayed = 0
            position = start
            while position < end:
                batch = [e for e in log.read(position, 5000) if (e.offset or 0) < end]
                if not batch:
                    break
                kept = batch if self.keeps is None else [e for e in batch if self.keeps(e)]
                if kept:
                    self._feed(kept)
                replayed += len(kept)
                position = (batch[-1].offset or position) + 1
                # Event time goes on moving from when the last replayed event arrived,
                # so windows slide over the downtime too.
                self._arrival_us = to_us(batch[-1].received_at)
            self.last_offset = end - 1
            return replayed

    def process(self, events: Sequence[Event]) -> None:
        """Count new events and evaluate the rules on the groups they touched."""
        with self._lock:
            last = self.last_offset
            fresh = [e for e in events if e.offset is None or e.offset > last]
            if self.keeps is not None:
                fresh = [e for e in fresh if self.keeps(e)]
            if not fresh:
                return
            touched = self._feed(fresh)
            self._arrival_us = to_us(self.clock.now())
            if self._evaluate(touched):
                self.checkpoint_due = True

    def snapshot(self) -> list[dict[str, Any]]:
        """Every metric's current value per group with the metric's late events (`late`),
        each metric read under the engine's lock
        (all at once held it tens of milliseconds with 20,000 series, and new events'
        alerts waited)."""
        out: list[dict[str, Any]] = []
        for name in self.kpis.metrics:
            with self._lock:
                rows = self.kpis.snapshot([name])
                late = self.kpis.late_events()[name] if rows else 0
            for row in rows:
                row["late"] = late  # the metric's events beyond the horizon, beside its value
            out += rows
        return out

    def late_events(self) -> dict[str, int]:
        """Per metric, the events that came beyond their group's horizon (not counted)."""
        with self._lock:
            return self.kpis.late_events()

    def active_alerts(self) -> list[Alert]:
        """Pending and firing alerts with their latest evidence."""
        with self._lock:
            return [msgspec.structs.replace(a) for a in self.book.active.values()]

    def tick(self) -> list[Alert]:
        """Let time pass (windows slide, silences and SLAs age) and evaluate the rules where
        time can change their outcome; then forget groups that have gone quiet and hold no
        active alert.

        The rules on metrics look at their due groups (`_due`) in slices, the lock let go
        between them: when a window move brings a thousand groups at once, new events'
        alerts wait for one slice, not for them all. Composite rules come last, once their
        parts have all been evaluated.
        """
        seen: dict[str, set[str]] = {}  # per rule, the groups evaluated during this tick
        with self._lock:
            moved, due = self._due()
            changed = self._evaluate({}, kinds=GROUPLESS, evaluated_now=seen)
        groups = sorted({group for names in due.values() for group in names})
        for start in range(0, len(groups), self.tick_slice):
            part = set(groups[start : start + self.tick_slice])
            with self._lock:
                changed += self._evaluate(
                    {name: names & part for name, names in due.items() if names & part},
                    kinds=ON_METRICS,
                    evaluated_now=seen,
                )
        with self._lock:
            if moved:  # a group only goes quiet when its window moves on
                self._evict(seen)
                self.book.forget_reopenable(self.clock.now())
            changed += self._evaluate({}, kinds=COMPOSITE, evaluated_now=seen)
        return changed

    def alerting_groups(self) -> set[tuple[str, str]]:
        """The (metric, group) pairs an active alert watches: kept however quiet."""
        return {
            (rule.metric, alert.values.get("group", ""))
            for alert in self.book.active.values()
            for rule in self.rules
            if rule.name == alert.rule and rule.metric is not None
        }

    def _evict(self, seen: dict[str, set[str]]) -> None:
        """Forget the quiet groups holding no active alert, and what the rules held for them
        (`seen` then counts them as evaluated, so a composite rule lets them go too)."""
        self.kpis.evict_idle(self.alerting_groups())
        for metric, since in self._watched_since.items():
            known = self.kpis.groups(metric)
            for group in [g for g in since if g not in known]:
                del since[group]  # seen again, it is watched from then on
        for rule in self.rules:
            holding = self.holding[rule.name]
            if rule.metric is None or not holding:
                continue
            known = self.kpis.groups(rule.metric)
            for group in [g for g in holding if g not in known]:
                del holding[group]
                seen.setdefault(rule.name, set()).add(group)

    def _due(self) -> tuple[bool, dict[str, set[str]]]:
        """Let event time move on in every window; returns whether any window moved, and per
        metric the groups a tick must evaluate: those whose window moved (a value changes
        only with an event, evaluated as it comes, or with its window moving) and those whose
        condition holds without a firing alert (a `for` to wait out, a cooldown ending).

        Looking at every group every second cost the rules' lock tens of milliseconds with
        a thousand alerts active, and held back the alerts of new events meanwhile.
        """
        event_now = self.event_now_us(to_us(self.clock.now()))
        watched = {rule.metric for rule in self.rules if rule.metric is not None}
        if event_now is None:
            due: dict[str, set[str]] = {}
            moved = False
        else:
            due = self.kpis.advance(event_now, watched)
            moved = self.kpis.moved
        if event_now is not None:
            self._due_rechecks(event_now, due)
        if self._look_everywhere:
            # After a restart the rules hold nothing yet: look at every group once (restored
            # alerts may have waited out their `for`, or stopped holding meanwhile).
            self._look_everywhere = False
            for metric in watched:
                due.setdefault(metric, set()).update(self.kpis.groups(metric))
        for rule in self.rules:
            holding = self.holding[rule.name]
            if rule.metric is None or not holding:
                continue
            waiting = [g for g in holding if not self.book.firing(rule.name, g)]
            if waiting:
                due.setdefault(rule.metric, set()).update(waiting)
        for rule in self.rules:
            resolving = self.book.resolving(rule.name) if rule.metric is not None else set()
            if resolving:
                due.setdefault(rule.metric, set()).update(resolving)  # type: ignore[arg-type]
        return moved, due

    def _due_rechecks(self, event_now: int, due: dict[str, set[str]]) -> None:
        """Add to `due` the groups whose change rule asked to be looked at again by
        `event_now` (`Outcome.recheck`)."""
        heap, armed, recheck = self._rechecks, self._armed, self._recheck
        if not heap or heap[0][0] > event_now:
            return
        metric_of = {rule.name: rule.metric for rule in self.rules}
        while heap and heap[0][0] <= event_now:
            at, name, group = heapq.heappop(heap)
            key = (name, group)
            if armed.get(key) != at:
                continue  # superseded by an earlier moment
            del armed[key]
            wanted = recheck.get(key)
            if wanted is None:
                continue
            if wanted > event_now:  # put off since it was armed
                armed[key] = wanted
                heapq.heappush(heap, (wanted, name, group))
                continue
            del recheck[key]
            metric = metric_of.get(name)
            if metric is not None:
                due.setdefault(metric, set()).add(group)

    def _schedule(self, rule: Rule, outcome: Outcome) -> None:
        """Note when each group a change rule evaluated wants to be looked at again."""
        recheck, armed = self._recheck, self._armed
        wanted = outcome.recheck
        for group in outcome.evaluated:
            key = (rule.name, group)
            at = wanted.get(group)
            if at is None:
                recheck.pop(key, None)
                continue
            recheck[key] = at
            before = armed.get(key)
            if before is None or at < before:
                armed[key] = at
                heapq.heappush(self._rechecks, (at, rule.name, group))

    def _feed(self, events: Sequence[Event]) -> Mapping[str, set[str]]:
        touched = self.kpis.ingest(events)
        for metric, since in self._watched_since.items():
            groups = touched.get(metric)
            fresh = [g for g in groups if g not in since] if groups else []
            if fresh and self.kpis.max_ts is not None:
                first = self._first_seen(metric, set(fresh), events)
                for group in fresh:
                    since[group] = first.get(group, self.kpis.max_ts)
        for tracker in self.sla.values():
            tracker.feed(events)
        self._absence_router.feed(events)
        for sequential in self.sequential.values():
            sequential.feed(events)
        offset = events[-1].offset
        if offset is not None and offset > self.last_offset:
            self.last_offset = offset
        return touched

    def _first_seen(self, metric: str, groups: set[str], events: Sequence[Event]) -> dict[str, int]:
        """The event time of each of `groups`' first event of `metric` in `events` (in
        arrival order: an older one after it may be too late to count): a batch may span
        hours (the log replayed after a restart), and a group watched from its end only
        left its closed window unjudged for two windows after each restart."""
        compiled = self.kpis.metrics[metric]
        first: dict[str, int] = {}
        for event in events:
            if compiled.contribution(event) is None:
                continue
            group = compiled.group_key(event)
            if group in groups and group not in first:
                first[group] = to_us(event.timestamp)
                if len(first) == len(groups):
                    break
        return first

    def event_now_us(self, now_us: int) -> int | None:
        """Event time now: the newest event time, moved on by the processing time since."""
        max_ts = self.kpis.max_ts
        if max_ts is None:
            return None
        if self._arrival_us is None:
            return max_ts
        return max_ts + max(0, now_us - self._arrival_us)

    def _evaluate(
        self,
        touched: Mapping[str, set[str]],
        *,
        kinds: frozenset[str] | None = None,
        evaluated_now: dict[str, set[str]] | None = None,
    ) -> list[Alert]:
        """Evaluate the rules (those of `kinds`, default all) in their order, those on metrics
        on the `touched` groups; move the alerts along and tell the listeners; returns the
        alerts that changed. `evaluated_now` gathers, per rule, the groups evaluated (shared
        by the calls of one tick: a composite rule evaluates its parts' groups)."""
        now = self.clock.now()
        now_us = to_us(now)
        event_now = self.event_now_us(now_us)
        changed: list[Alert] = []
        if evaluated_now is None:
            evaluated_now = {}
        for rule in self.rules:
            if kinds is not None and rule.kind not in kinds:
                continue
            outcome = self._outcome(rule, touched, now_us, event_now, evaluated_now)
            evaluated_now.setdefault(rule.name, set()).update(outcome.evaluated)
            if rule.kind == "change":
                self._schedule(rule, outcome)
            holding = self.holding[rule.name]
            for group in outcome.evaluated:
                if group in outcome.findings:
                    holding[group] = outcome.findings[group]
                else:
                    holding.pop(group, None)
            changed.extend(
                self.book.apply(rule, outcome, now, resolve_after_us=self.resolve_after[rule.name])
            )
        if changed:
            # Listeners first: the live stream and playbooks should not wait for the store.
            for alert in changed:
                for listener in self.listeners:
                    try:
                        listener.alert_changed(alert)
                    except Exception:
                        logger.exception("alert listener %r failed on %s", listener, alert.rule)
            if self.store is not None:
                self.store.save(changed)
        return changed

    def _outcome(
        self,
        rule: Rule,
        touched: Mapping[str, set[str]],
        now_us: int,
        event_now: int | None,
        evaluated_now: dict[str, set[str]],
    ) -> Outcome:
        kind = rule.kind
        if kind == "anomaly":
            assert rule.metric is not None
            groups = touched.get(rule.metric)
            watch = self.anomalies[rule.name]
            if not groups:
                return Outcome()
            return watch.evaluate(self.kpis, groups, self.book.evidence(rule.name))
        if kind in _CONDITIONS:
            assert rule.metric is not None
            groups = touched.get(rule.metric)
            if not groups:
                return Outcome()
            if kind == "change":
                return change(
                    rule,
                    self.kpis,
                    groups,
                    self.book.evidence(rule.name),
                    timezone=self.timezone,
                    now_us=event_now,
                )
            return threshold(
                rule,
                self.kpis,
                groups,
                self.book.evidence(rule.name),
                now_us=event_now,
                watched_since=self._watched_since.get(rule.metric),
            )
        if kind == "sla":
            return self.sla[rule.name].evaluate(event_now) if event_now is not None else Outcome()
        if kind == "absence":
            return self.absence[rule.name].evaluate(now_us)
        if kind == "sequential":
            return self.sequential[rule.name].evaluate(now_us)
        evaluated: set[str] = set()
        for name in rule.rules:
            evaluated |= evaluated_now.get(name, set())
        return combine(rule, [self.holding[name] for name in rule.rules], evaluated)


def _first_received_after(log: EventLog, since_us: int, end: int) -> int:
    """The first offset below `end` whose event arrived at or after `since_us` (binary search;
    arrival times follow offsets closely enough for a lookback)."""
    low, high = 1, end
    while low < high:
        mid = (low + high) // 2
        found = log.read(mid, 1)
        if not found or (found[0].offset or 0) >= end:
            high = mid
            continue
        if to_us(found[0].received_at) < since_us:
            low = (found[0].offset or mid) + 1
        else:
            high = mid
    return low
