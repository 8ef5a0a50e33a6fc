"""Backtesting: replay stored events (or a CSV series) through the rules on simulated time.

The replay goes through the same `AlertingEngine.process` and `tick` as the live server:
events are handed over in the batches they arrived in, with the clock set to their arrival
time, and the clock ticks in between, so processing-time rules (absence) and `for`
durations behave as they did live.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import Metric
from vigie.log.eventlog import EventLog
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine

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
) -> list[Alert]:
    """The alert changes the rules produce on `events` (in log order), on simulated time;
    with `reference`, the KPIs come from the readable per-event engine (slower, the same
    alerts: a check on the columnar one)."""
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
                metrics, rules, clock=clock, listeners=[recorder], reference=reference
            )
            last_tick = arrival
        last_tick = _tick_until(engine, clock, last_tick, arrival, tick_delta)
        clock.set(max(arrival, clock.now()))
        engine.process(batch)
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


def series_events(path: str | Path, metric: Metric) -> tuple[Metric, list[Event]]:
    """A CSV `timestamp,value` series of `metric` as events, and the metric reading them.

    Each row is the metric's value at that time: the replacement metric averages the rows
    of each slide of the original metric (a tumbling window of one slide).
    """
    events: list[Event] = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("timestamp", "time", ""):
                continue
            try:
                at = datetime.fromisoformat(row[0].strip().replace("Z", "+00:00"))
                value = float(row[1])
            except (ValueError, IndexError) as exc:
                raise SeriesError(
                    f"{path}: line {line_no}: expected `timestamp,value` "
                    f"(ISO 8601 time, number), got {row!r}"
                ) from exc
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
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
    events.sort(key=lambda e: e.timestamp)
    slide = metric.slide or metric.window
    replacement = msgspec.structs.replace(
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
    return replacement, events
