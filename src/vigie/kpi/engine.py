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
from vigie.kpi.metrics import CompiledMetric, Metric
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
        self.max_ts: int | None = None
        self.late = 0

    def ingest(self, events: Iterable[Event]) -> dict[str, set[str]]:
        """Count `events` in every metric they match; returns the groups touched per metric."""
        touched: dict[str, set[str]] = {}
        by_event = self._by_event
        any_event = self._any_event
        series_of = self.series
        max_ts = self.max_ts
        late = 0
        for event in events:
            named = by_event.get(event.event or event.name or "", ())
            if any_event:
                named = (*named, *any_event)
            if not named:
                continue
            ts = (event.timestamp - EPOCH) // MICROSECOND
            if max_ts is None or ts > max_ts:
                max_ts = ts
            keys_of: dict[tuple[str, ...], str] = {}
            for compiled in named:
                x = compiled.extract(event)
                if x is None:
                    continue
                # Metrics grouped the same way share one lookup of the group key.
                known = keys_of.get(compiled.by_key)
                if known is None:
                    key = keys_of[compiled.by_key] = compiled.group_key(event)
                else:
                    key = known
                groups = series_of[compiled.name]
                series = groups.get(key)
                if series is None:
                    series = groups[key] = self._new_series(compiled, compiled.group(event)[1])
                if series.window.update(ts, x):
                    series.recent.append(event)
                else:
                    late += 1
                keys = touched.get(compiled.name)
                if keys is None:
                    touched[compiled.name] = {key}
                else:
                    keys.add(key)
        self.max_ts = max_ts
        self.late += late
        for name in touched:
            if name in self.baselines:
                for key in touched[name]:
                    self._file(series_of[name][key])
        return touched

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
