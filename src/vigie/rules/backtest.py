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


TIME_HEADERS = ("timestamp", "time", "date", "datetime", "ds", "ts")
"""Header names of the time column (else the first column is the time)."""
FLAG_HEADERS = ("is_anomaly", "anomaly", "label", "is_incident", "incident")
"""Header names of a column flagging each row as part of an incident (1/true) or not."""
_FLAGGED = frozenset({"1", "1.0", "true", "yes", "y", "t"})


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """A CSV series: its samples as (time in us, line, value) in time order, and, when the
    file has a flag column (`FLAG_HEADERS`), the incident windows it marks: each run of
    flagged rows, from its first row's time to the time of the row after its last (the
    incident lasts until the next normal sample), else None."""

    samples: list[tuple[int, int, float]]
    flagged: list[tuple[int, int]] | None = None


def read_series(path: str | Path, column: str | None = None) -> Series:
    """Read a CSV series as spreadsheets and tools export them (UTF-8, UTF-16 with its byte
    order mark, or Windows-1252): comma, semicolon or tab separated (a semicolon or tab file
    may write decimals with a comma, `12,5`; numbers may group their thousands, `1 234,5`,
    and end in `%`); times in ISO 8601 or as seconds (or milliseconds, microseconds,
    nanoseconds) since 1970; the values of `column` (a header, or a number from 1), else of
    the column headed `value`, else of the first column that is neither the time, a flag
    nor unnamed (a row number). An empty, `nan` or `null` value (missing data) is skipped;
    anything else that is not a number or a time is refused with its line and column."""
    data = Path(path).read_bytes()
    try:
        # Excel's "Unicode text" is UTF-16 with a byte order mark.
        text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError:  # a spreadsheet's Windows-1252 export: only its header is text
        text = data.decode("cp1252", errors="replace")
    if "\0" in text:
        line_no = text.count("\n", 0, text.index("\0")) + 1
        raise SeriesError(f"{path}: line {line_no}: a NUL byte: not a CSV text file")
    lines = text.splitlines()
    top = next((i for i, line in enumerate(lines) if line.strip()), None)
    delimiter = _delimiter(lines[top] if top is not None else "")
    if top is not None and len(lines[top]) == 5 and lines[top].lower().startswith("sep="):
        delimiter, lines[top] = lines[top][4], ""  # Excel's line naming the separator
    try:
        return _parse(path, lines, delimiter, column)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote...
        raise SeriesError(f"{path}: not a CSV series ({exc})") from exc


def _parse(path: str | Path, lines: list[str], delimiter: str, column: str | None) -> Series:
    rows = csv.reader(lines, delimiter=delimiter)
    first = next((row for row in rows if "".join(row).strip()), None)
    skipped = rows.line_num - 1  # blank lines before the first row
    header = [c.strip().lower() for c in first] if first and not _is_time(first[0]) else None
    time_at, value_at, flag_at = _columns(path, header, column)
    if column is not None and first is not None and value_at >= len(first):
        raise SeriesError(f"{path}: --column {column}: the file has {len(first)} columns")
    pending = [] if header is not None or first is None else [first]
    samples: list[tuple[int, int, float]] = []
    flags: list[tuple[int, bool]] = []
    start = skipped + (1 if header is None else 2)
    for line_no, row in enumerate([*pending, *rows], start=start):
        if not row or not "".join(row).strip():
            continue
        try:
            at_us = _time_us(row[time_at])
        except (ValueError, IndexError, OverflowError) as exc:
            raise SeriesError(
                f"{path}: line {line_no}: the time {_cell(row, time_at)!r} is not an ISO 8601 "
                "time or a number of seconds since 1970"
            ) from exc
        if flag_at is not None:
            flags.append((at_us, _cell(row, flag_at).strip().lower() in _FLAGGED))
        raw = _cell(row, value_at).strip()
        if not raw or raw.lower() in ("nan", "null", "na", "none"):
            continue
        try:
            value = _number(raw, decimal_comma=delimiter != ",")
        except ValueError as exc:
            name = header[value_at] if header else f"column {value_at + 1}"
            raise SeriesError(
                f"{path}: line {line_no}: {name}: {raw[:40]!r} is not a number"
            ) from exc
        if math.isfinite(value):
            samples.append((at_us, line_no, value))
    samples.sort()
    return Series(samples=samples, flagged=_runs(flags) if flag_at is not None else None)


def read_samples(path: str | Path, column: str | None = None) -> list[tuple[int, int, float]]:
    """The samples of a CSV series (`read_series`) as (time in us, line, value)."""
    return read_series(path, column).samples


def _delimiter(line: str) -> str:
    """The separator of a CSV file from its first line: `;` or a tab when the line has
    at least as many of them as commas (a French spreadsheet writes `;` and decimal
    commas: `2026-11-28T12:00;12,5` is one of each)."""
    best = max((";", "\t"), key=line.count)
    return best if line.count(best) and line.count(best) >= line.count(",") else ","


def _number(raw: str, *, decimal_comma: bool) -> float:
    """A number as a spreadsheet shows it: its thousands grouped by spaces (`1 234,5`), or
    by commas or dots when it has both (the last one is the decimal mark), a lone comma a
    decimal one in a file not separated by commas, and a trailing `%` (the number shown)."""
    text = "".join(raw.removesuffix("%").split())
    if "," in text and "." in text:
        mark = "," if text.rindex(",") > text.rindex(".") else "."
        text = text.replace("." if mark == "," else ",", "").replace(",", ".")
    elif decimal_comma:
        text = text.replace(",", ".")
    return float(text)


def _columns(
    path: str | Path, header: list[str] | None, column: str | None
) -> tuple[int, int, int | None]:
    """Where the time, the value and the flags are (the flags may be absent)."""
    number = int(column) if column is not None and column.isdigit() else None
    if number == 0:
        raise SeriesError(f"{path}: --column 0: columns are numbered from 1")
    if header is None:
        if column is not None and number is None:
            raise SeriesError(f"{path}: --column {column!r}: the file has no header row")
        return 0, number - 1 if number else 1, None
    time_at = next((i for i, h in enumerate(header) if h in TIME_HEADERS), 0)
    flag_at = next((i for i, h in enumerate(header) if h in FLAG_HEADERS), None)
    if column is not None:
        if column.lower() not in header and number is not None:
            return time_at, number - 1, flag_at
        if column.lower() not in header:
            raise SeriesError(
                f"{path}: --column {column!r} is not a column (columns: {', '.join(header)})"
            )
        return time_at, header.index(column.lower()), flag_at
    others = [i for i in range(len(header)) if i not in (time_at, flag_at)]
    # An unnamed column is a row number (pandas' index): `,timestamp,cpu`.
    named = [i for i in others if header[i] and not header[i].startswith("unnamed:")]
    value_at = header.index("value") if "value" in header else (named or others or [1])[0]
    return time_at, value_at, flag_at


def _cell(row: list[str], at: int) -> str:
    return row[at] if at < len(row) else ""


def _is_time(text: str) -> bool:
    try:
        _time_us(text)
    except (ValueError, OverflowError):
        return False
    return True


def _time_us(text: str) -> int:
    """An ISO 8601 time (UTC when it names no offset) or a Unix time in seconds, or in
    milliseconds, microseconds or nanoseconds when too large for seconds, in microseconds."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return to_us(at if at.tzinfo else at.replace(tzinfo=UTC))
    if not math.isfinite(number) or number < 1e8:  # before 1973: a row number, not a time
        raise ValueError(text)
    scale = 1e6 if number < 1e11 else 1e3 if number < 1e14 else 1.0 if number < 1e17 else 1e-3
    return round(number * scale)


def _runs(flags: list[tuple[int, bool]]) -> list[tuple[int, int]]:
    """The windows of the runs of flagged rows (`Series.flagged`)."""
    flags.sort()
    windows: list[tuple[int, int]] = []
    start: int | None = None
    for at_us, flagged in flags:
        if flagged and start is None:
            start = at_us
        elif not flagged and start is not None:
            windows.append((start, at_us))
            start = None
    if start is not None:
        windows.append((start, flags[-1][0]))
    return windows


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


def series_events(
    path: str | Path, metric: Metric, column: str | None = None
) -> tuple[Metric, list[Event]]:
    """A CSV series of `metric` (`read_series`) as events, and the metric reading them
    (`series_metric`): each row is the metric's value at that time."""
    return sample_events(read_samples(path, column), metric)


def sample_events(
    samples: Iterable[tuple[int, int, float]], metric: Metric
) -> tuple[Metric, list[Event]]:
    """`series_events` of samples already read (time in us, line, value)."""
    events: list[Event] = []
    for at_us, line_no, value in samples:
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
