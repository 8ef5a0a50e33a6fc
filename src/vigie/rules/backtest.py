"""Backtesting: replay stored events (or a CSV series) through the rules on simulated time.

The replay goes through the same `AlertingEngine.process` and `tick` as the live server:
events are handed over in the batches they arrived in, with the clock set to their arrival
time, and the clock ticks in between, so processing-time rules (absence) and `for`
durations behave as they did live.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import NO_GROUP, Metric
from vigie.kpi.wallclock import UTC_NAME
from vigie.log.eventlog import EventLog
from vigie.rules.alerts import Alert
from vigie.rules.anomalies import AnomalyWatch
from vigie.rules.conditions import OPS, Finding, Outcome
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.lifecycle import AlertBook, resolve_after_us
from vigie.types import from_us, to_us

MAX_TICKS_PER_GAP = 3600
PAGE = 5000


class Recorder:
    """An `AlertListener` keeping every change, in order."""

    def __init__(self) -> None:
        self.changes: list[Alert] = []

    def alert_changed(self, alert: Alert) -> None:
        self.changes.append(alert)


def replay(
    metrics: Sequence[Metric],
    rules: Sequence[Rule],
    events: Iterable[Event],
    *,
    tick: str = "1s",
    until: datetime | None = None,
    reference: bool = False,
    progress: Callable[[int], None] | None = None,
    timezone: str = UTC_NAME,
) -> list[Alert]:
    """The alert changes the rules produce on `events` (in log order), on simulated time;
    with `reference`, the KPIs come from the readable per-event engine (slower, the same
    alerts: a check on the columnar one). `progress` is told how many events each batch
    replayed; `timezone` is the site's, as the live engine has it (`AlertingEngine`)."""
    tick_delta = timedelta(microseconds=parse_duration(tick))
    recorder = Recorder()
    clock: ManualClock | None = None
    engine: AlertingEngine | None = None
    last_tick: datetime | None = None
    for batch in _arrival_batches(events):
        arrival = batch[-1].received_at
        if clock is None or engine is None or last_tick is None:
            clock = ManualClock(arrival)
            engine = AlertingEngine(
                metrics,
                rules,
                clock=clock,
                listeners=[recorder],
                reference=reference,
                timezone=timezone,
            )
            last_tick = arrival
        last_tick = _tick_until(engine, clock, last_tick, arrival, tick_delta)
        clock.set(max(arrival, clock.now()))
        engine.process(batch)
        if progress is not None:
            progress(len(batch))
    if engine is not None and clock is not None and last_tick is not None:
        end = until or (clock.now() + tick_delta)
        _tick_until(engine, clock, last_tick, end + tick_delta, tick_delta)
    return recorder.changes


def _tick_until(
    engine: AlertingEngine, clock: ManualClock, last: datetime, until: datetime, step: timedelta
) -> datetime:
    gap = until - last
    if gap <= step:
        return last
    if gap / step > MAX_TICKS_PER_GAP:
        step = gap / MAX_TICKS_PER_GAP
    moment = last + step
    while moment < until:
        clock.set(moment)
        engine.tick()
        last = moment
        moment += step
    return last


def _arrival_batches(events: Iterable[Event], limit: int = 1000) -> Iterator[list[Event]]:
    """Runs of events that arrived together (same `received_at`), as they were committed."""
    batch: list[Event] = []
    for event in events:
        if batch and (event.received_at != batch[-1].received_at or len(batch) >= limit):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


def log_events(
    log: EventLog, *, start: datetime | None = None, end: datetime | None = None
) -> Iterator[Event]:
    """Events of the log in log order whose event time is within [start, end)."""
    position = 1
    while True:
        page = log.read(position, PAGE)
        if not page:
            return
        for event in page:
            if (start is None or event.timestamp >= start) and (
                end is None or event.timestamp < end
            ):
                yield event
        position = (page[-1].offset or position) + 1


class SeriesError(ValueError):
    """A CSV series cannot be read; the message names the line."""


def read_samples(path: str | Path) -> list[tuple[int, int, float]]:
    """The rows of a CSV `timestamp,value` series as (time in us, line, value), in time
    order; an empty value (missing data) is skipped."""
    samples: list[tuple[int, int, float]] = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("timestamp", "time", ""):
                continue
            try:
                at = datetime.fromisoformat(row[0].strip().replace("Z", "+00:00"))
                text = row[1].strip()
                value = float(text) if text and text.lower() not in ("nan", "null") else None
            except (ValueError, IndexError) as exc:
                raise SeriesError(
                    f"{path}: line {line_no}: expected `timestamp,value` "
                    f"(ISO 8601 time, number), got {row!r}"
                ) from exc
            if value is None or not math.isfinite(value):
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            samples.append((to_us(at), line_no, value))
    samples.sort()
    return samples


def series_metric(metric: Metric) -> Metric:
    """The metric reading a CSV series of `metric`: the average of the rows of each slide
    of the original metric (a tumbling window of one slide)."""
    slide = metric.slide or metric.window
    return msgspec.structs.replace(
        metric,
        kind="average",
        where={"event": f"series:{metric.name}"},
        value="properties.value",
        numerator=None,
        denominator=None,
        by=[],
        window=slide,
        slide=None,
    )


def series_events(path: str | Path, metric: Metric) -> tuple[Metric, list[Event]]:
    """A CSV `timestamp,value` series of `metric` as events, and the metric reading them
    (`series_metric`): each row is the metric's value at that time."""
    events: list[Event] = []
    for at_us, line_no, value in read_samples(path):
        at = from_us(at_us)
        events.append(
            Event(
                message_id=f"csv-{line_no}",
                type="track",
                event=f"series:{metric.name}",
                source="csv",
                timestamp=at,
                received_at=at,
                properties={"value": value},
                offset=line_no,
            )
        )
    return series_metric(metric), events


FAST_KINDS = frozenset({"anomaly", "threshold"})


def replay_samples(
    metric: Metric,
    rules: Sequence[Rule],
    samples: Sequence[tuple[int, int, float]],
    *,
    batched: bool = True,
    timezone: str = UTC_NAME,
) -> list[Alert]:
    """The alert changes `rules` (anomaly and threshold rules on `metric`) produce on a
    series of samples, without the KPI engine: each window of the metric's slide is read
    once, with the average of its rows, then goes through the same conditions
    (`AnomalyWatch`) and the same alert lifecycle (`AlertBook`) as live. About a hundred
    times faster than `replay`, and checked against it (tests/rules/test_backtest.py);
    `batched` scores each anomaly rule's whole series at once (`AnomalyWatch.replay`, the
    same alerts as window by window, several times faster); `timezone`: the site's, whose
    calendar an anomaly rule naming no zone follows."""
    slide_us = parse_duration(metric.slide or metric.window)
    book = AlertBook()
    changes: list[Alert] = []
    ends, lasts, values = _windows(samples, slide_us)
    evidences: dict[str, list[dict[str, Any] | None]] = {}
    for rule in rules:
        if rule.kind == "anomaly":
            watch = AnomalyWatch(rule, step_us=slide_us, timezone=timezone)
            evidences[rule.name] = (
                watch.replay(NO_GROUP, ends, values)
                if batched
                else [watch.observe(NO_GROUP, e, v) for e, v in zip(ends, values, strict=True)]
            )
    bare = {rule.name: Outcome(evaluated={NO_GROUP}) for rule in rules}
    waits = {rule.name: resolve_after_us(rule, slide_us) for rule in rules}
    tracks = book.tracks
    # A window where no rule holds while the book tracks nothing moves nothing: the replay
    # goes from one window where a rule holds (a threshold rule at its firing value, as
    # nothing is tracked) to the next, and window by window while the book tracks an alert
    # (it may resolve; a threshold rule holds at its clearing value).
    at_held = {i for found in evidences.values() for i, e in enumerate(found) if e is not None}
    for rule in rules:
        if rule.kind != "anomaly" and rule.value is not None:
            op, limit = OPS[rule.op], rule.value
            at_held.update(i for i, v in enumerate(values) if op(v, limit))
    held = sorted(at_held)
    i = held[0] if held else len(ends)
    while i < len(ends):
        end_us = ends[i]
        value = values[i]
        now: datetime | None = None
        for rule in rules:
            found = evidences.get(rule.name)
            if found is not None:
                evidence = found[i]
            elif rule.value is not None and OPS[rule.op](
                value, rule.held_limit(active=tracks(rule.name, NO_GROUP))
            ):
                evidence = {"value": value, "threshold": rule.value, "op": rule.op}
            else:
                evidence = None
            if evidence is None:
                if not tracks(rule.name, NO_GROUP):
                    continue  # nothing held, nothing to resolve: the book would not move
                outcome = bare[rule.name]
            else:
                evidence = {"metric": metric.name, "window": _window(end_us, slide_us)} | evidence
                outcome = Outcome(evaluated={NO_GROUP})
                outcome.findings[NO_GROUP] = Finding(NO_GROUP, {}, evidence)
            now = now or from_us(lasts[i])
            changes += book.apply(rule, outcome, now, resolve_after_us=waits[rule.name])
        if any(tracks(rule.name, NO_GROUP) for rule in rules):
            i += 1
        else:
            after = bisect_right(held, i)
            i = held[after] if after < len(held) else len(ends)
    return changes


def _windows(
    samples: Sequence[tuple[int, int, float]], slide_us: int
) -> tuple[list[int], list[int], list[float]]:
    """(window ends, time of each window's last row, average of its rows) of the windows
    with rows, samples in time order."""
    n = len(samples)
    if not n:
        return [], [], []
    at = np.fromiter((s[0] for s in samples), np.int64, n)
    value = np.fromiter((s[2] for s in samples), np.float64, n)
    end = (at // slide_us + 1) * slide_us
    first = np.flatnonzero(np.concatenate(([True], end[1:] != end[:-1])))
    count = np.diff(np.append(first, n))
    mean = np.add.reduceat(value, first) / count
    last = at[np.append(first[1:], n) - 1]
    return end[first].tolist(), last.tolist(), mean.tolist()


def _window(end_us: int, slide_us: int) -> dict[str, str]:
    return {"start": from_us(end_us - slide_us).isoformat(), "end": from_us(end_us).isoformat()}
