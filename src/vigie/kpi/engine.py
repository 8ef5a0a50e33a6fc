"""The KPI engine: every metric's windows, per group, fed with events from the log.

It only aggregates; rules read its values. Event time moves with the events themselves
(`ingest`) and, when the caller says time passed without events, with `advance`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.events import Event
from vigie.kpi.baselines import SeasonalBaseline, Seasonality
from vigie.kpi.metrics import CompiledMetric, Metric, number
from vigie.kpi.sentiment import SentimentScorer
from vigie.kpi.windows import Window

RECENT = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Event time as microseconds since the Unix epoch (exact)."""
    return (moment - EPOCH) // MICROSECOND


class Series:
    """One metric for one group: its window, labels, baseline and the latest events in it."""

    __slots__ = ("baseline", "labels", "recent", "window")

    def __init__(self, window: Window, labels: dict[str, str]) -> None:
        self.window = window
        self.labels = labels
        self.recent: deque[Event] = deque(maxlen=RECENT)
        self.baseline: SeasonalBaseline | None = None


class KpiEngine:
    """Aggregates events into every metric's windows; pure apart from its own state."""

    def __init__(
        self,
        metrics: Sequence[Metric],
        *,
        sentiment: SentimentScorer | None = None,
        baselines: dict[str, tuple[Seasonality, int]] | None = None,
        history: int = 2,
    ) -> None:
        scorer = sentiment or SentimentScorer()
        self.metrics = {m.name: CompiledMetric(m, sentiment=scorer) for m in metrics}
        self.baselines = dict(baselines or {})
        self.history = history
        self.series: dict[str, dict[str, Series]] = {name: {} for name in self.metrics}
        self._by_event: dict[str, list[CompiledMetric]] = {}
        self._any_event: list[CompiledMetric] = []
        for compiled in self.metrics.values():
            if compiled.event_names is None:
                self._any_event.append(compiled)
            else:
                for name in compiled.event_names:
                    self._by_event.setdefault(name, []).append(compiled)
        # Per metric, what lets the hot loop skip reading the event: a contribution fixed by
        # the event name, or the one property holding the value.
        self._constants = {n: c.by_name() for n, c in self.metrics.items()}
        self._properties = {n: c.property_value() for n, c in self.metrics.items()}
        self._group_properties = {n: c.group_property() for n, c in self.metrics.items()}
        self.max_ts: int | None = None
        self.late = 0

    def ingest(self, events: Iterable[Event]) -> dict[str, set[str]]:
        """Count `events` in every metric they match; returns the groups touched per metric.

        The batch is first dispatched per metric (each event's time and group key read once),
        then each metric takes its share in arrival order, so lateness is judged exactly as
        if the events came one by one.
        """
        batch = events if isinstance(events, list) else list(events)
        by_event = self._by_event
        any_event = self._any_event
        share: dict[str, list[int]] = {name: [] for name in self.metrics}
        # Per event name, where the index of such an event goes: one call per metric.
        adders = {
            name: tuple(share[c.name].append for c in (*named, *any_event))
            for name, named in by_event.items()
        }
        every = tuple(share[c.name].append for c in any_event)
        stamps: list[int] = []
        names: list[str] = []
        max_ts = self.max_ts
        for i, event in enumerate(batch):
            name = event.event or event.name or ""
            add_to = adders.get(name, every)
            ts = (event.timestamp - EPOCH) // MICROSECOND if add_to else 0
            stamps.append(ts)
            names.append(name)
            if not add_to:
                continue
            if max_ts is None or ts > max_ts:
                max_ts = ts
            for add in add_to:
                add(i)
        self.max_ts = max_ts
        touched: dict[str, set[str]] = {}
        keys_by: dict[tuple[str, ...], list[str | None]] = {}
        for metric_name, indices in share.items():
            if not indices:
                continue
            compiled = self.metrics[metric_name]
            keys = keys_by.get(compiled.by_key)
            if keys is None:
                keys = keys_by[compiled.by_key] = [None] * len(batch)
            groups = self._feed(compiled, batch, indices, stamps, names, keys)
            if groups:
                touched[metric_name] = groups
        series_of = self.series
        for name in touched:
            if name in self.baselines:
                for key in touched[name]:
                    self._file(series_of[name][key])
        return touched

    def _feed(
        self,
        compiled: CompiledMetric,
        batch: list[Event],
        indices: list[int],
        stamps: list[int],
        names: list[str],
        keys: list[str | None],
    ) -> set[str]:
        """Update `compiled`'s windows with the events at `indices`; returns the groups hit.

        `keys` caches each event's group key for the metrics grouped the same way.
        """
        constant = self._constants[compiled.name]
        prop = self._properties[compiled.name]
        extract = compiled.extract
        group_key = compiled.group_key
        grouped_by = self._group_properties[compiled.name]
        groups = self.series[compiled.name]
        hit: set[str] = set()
        late = 0
        xs: list[Any]
        if constant is not None:
            xs = [constant.get(names[i]) for i in indices]
        elif prop is not None:
            xs = [batch[i].properties.get(prop) for i in indices]
            xs = [x if type(x) is float or x is None else number(x) for x in xs]
        else:
            xs = [extract(batch[i]) for i in indices]
        for i, x in zip(indices, xs, strict=True):
            if x is None:
                continue
            event = batch[i]
            key = keys[i]
            if key is None:
                if grouped_by is None:
                    key = group_key(event)
                else:
                    found = event.properties.get(grouped_by)
                    if type(found) is str:
                        key = found
                    elif found is None:
                        key = group_key(event)
                    else:
                        key = str(found)
                keys[i] = key
            series = groups.get(key)
            if series is None:
                series = groups[key] = self._new_series(compiled, compiled.group(event)[1])
            if series.window.update(stamps[i], x):
                series.recent.append(event)
            else:
                late += 1
            hit.add(key)
        self.late += late
        return hit

    def _new_series(self, compiled: CompiledMetric, labels: dict[str, str]) -> Series:
        window = Window(
            compiled.metric.statistic(),
            size_us=compiled.size_us,
            slide_us=compiled.slide_us,
            lateness_us=compiled.lateness_us,
            history=self.history,
            record=compiled.name in self.baselines,
        )
        series = Series(window, labels)
        if compiled.name in self.baselines:
            seasonality, depth = self.baselines[compiled.name]
            series.baseline = SeasonalBaseline(
                slot_us=compiled.slide_us, seasonality=seasonality, depth=depth
            )
        return series

    def advance(self, now_us: int) -> None:
        """Let event time reach `now_us` in every window: old events fall out.

        `max_ts` stays the newest event time actually seen; only the windows move.
        """
        for name, groups in self.series.items():
            recorded = name in self.baselines
            for series in groups.values():
                series.window.advance(now_us)
                if recorded:
                    self._file(series)

    def evict_idle(self, keep: set[tuple[str, str]]) -> int:
        """Forget series with no event left in any retained pane (except those in `keep`
        and those learning a baseline); returns how many were forgotten."""
        forgotten = 0
        for name, groups in self.series.items():
            if name in self.baselines:
                continue
            idle = [k for k, s in groups.items() if not s.window.panes and (name, k) not in keep]
            for key in idle:
                del groups[key]
            forgotten += len(idle)
        return forgotten

    @staticmethod
    def _file(series: Series) -> None:
        closed = series.window.closed
        if closed and series.baseline is not None:
            for end_us, value in closed:
                series.baseline.add(end_us, value)
            closed.clear()

    def groups(self, metric: str) -> dict[str, Series]:
        """Every group of `metric` seen so far, by group key."""
        return self.series[metric]

    def value(self, metric: str, group: str = "*") -> float | None:
        """The current window's value of `metric` for `group` (None if never seen)."""
        series = self.series[metric].get(group)
        return None if series is None else series.window.get()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every metric's current value per group, for the API and the dashboard."""
        out: list[dict[str, Any]] = []
        for name, groups in self.series.items():
            compiled = self.metrics[name]
            for key, series in groups.items():
                out.append(
                    {
                        "metric": name,
                        "kind": compiled.kind,
                        "group": key,
                        "labels": series.labels,
                        "value": series.window.get(),
                        "window_start_us": series.window.start_us,
                        "window_end_us": series.window.end_us,
                    }
                )
        return out
