"""The readable KPI engine: one `Window` per group, fed one event at a time.

It does what the columnar engine (`kpi/engine.py`) does, said as plainly as it can be: the
one suite run over both engines checks that they agree, and `vigie backtest --reference`
replays the rules on it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from vigie.events import NOTICE_TYPE, Event
from vigie.kpi.baselines import Baselines, Calendar, Learning, calendars
from vigie.kpi.metrics import NO_GROUP, CompiledMetric, Metric
from vigie.kpi.panes import RECENT
from vigie.kpi.readings import Reading, make_reading
from vigie.kpi.sentiment import SentimentScorer
from vigie.kpi.windows import Window
from vigie.types import to_us


class _Series:
    """One metric for one group: its window, labels (from its first event), latest events
    and, when its metric learns some, baselines."""

    __slots__ = ("baseline", "labels", "latest", "window")

    def __init__(self, window: Window, labels: dict[str, str], baseline: Baselines | None) -> None:
        self.window = window
        self.labels = labels
        self.latest: deque[Event] = deque(maxlen=RECENT)
        self.baseline = baseline

    def file(self) -> None:
        """File the values of the windows closed since last time in the baselines."""
        if self.baseline is not None:
            for end_us, value in self.window.closed:
                self.baseline.add(end_us, value)
            self.window.closed.clear()


class ReferenceEngine:
    """Aggregates events into every metric's windows, one event and one metric at a time
    (a `KpiEngine`)."""

    def __init__(
        self,
        metrics: Sequence[Metric],
        *,
        sentiment: SentimentScorer | None = None,
        baselines: Mapping[str, Collection[Learning]] | None = None,
        history: int = 2,
    ) -> None:
        scorer = sentiment or SentimentScorer()
        self.metrics = {m.name: CompiledMetric(m, sentiment=scorer) for m in metrics}
        # Per metric whose groups are kept however quiet, the depth of each calendar its
        # series learn (none: only kept).
        self.baselines = {name: calendars(asked) for name, asked in (baselines or {}).items()}
        self.history = history
        self.series: dict[str, dict[str, _Series]] = {name: {} for name in self.metrics}
        self.max_ts: int | None = None
        self.late = 0
        self.late_by_metric = dict.fromkeys(self.metrics, 0)
        self.moved = False

    def ingest(self, events: Iterable[Event]) -> dict[str, set[str]]:
        """Count each event in every metric it matches, in arrival order; returns the groups
        touched per metric. Vigie's own notices count nowhere and move no event time."""
        touched: dict[str, set[str]] = {}
        for event in events:
            if event.type == NOTICE_TYPE:
                continue
            at = to_us(event.timestamp)
            if self._named(event) and (self.max_ts is None or at > self.max_ts):
                self.max_ts = at
            for compiled in self.metrics.values():
                x = compiled.contribution(event)
                if x is None:
                    continue
                group, labels = compiled.group(event)
                touched.setdefault(compiled.name, set()).add(group)
                series = self.series[compiled.name].get(group)
                if series is None:
                    series = self._new_series(compiled, labels)
                    self.series[compiled.name][group] = series
                if series.window.update(at, x):
                    series.latest.append(event)
                else:
                    self.late += 1
                    self.late_by_metric[compiled.name] += 1
                series.file()
        return touched

    def late_events(self) -> dict[str, int]:
        """Per metric, how many events came beyond their group's horizon (not counted)."""
        return dict(self.late_by_metric)

    def _named(self, event: Event) -> bool:
        """Whether some metric counts events of `event`'s name: only those move `max_ts`."""
        name = event.event or event.name
        return any(
            compiled.event_names is None or name in compiled.event_names
            for compiled in self.metrics.values()
        )

    def _new_series(self, compiled: CompiledMetric, labels: dict[str, str]) -> _Series:
        depths = self.baselines.get(compiled.name)
        window = Window(
            compiled.metric.statistic(),
            size_us=compiled.size_us,
            slide_us=compiled.slide_us,
            lateness_us=compiled.lateness_us,
            history=self.history,
            record=bool(depths),
        )
        baseline = Baselines(slot_us=compiled.slide_us, depths=depths) if depths else None
        return _Series(window, labels, baseline)

    def advance(self, now_us: int, watch: Collection[str] | None = None) -> dict[str, set[str]]:
        """Let event time reach `now_us` in every window; returns, per metric in `watch`
        (default: all), the groups whose window moved."""
        self.moved = False
        moved: dict[str, set[str]] = {}
        for name, groups in self.series.items():
            for key, series in groups.items():
                head = series.window.head
                series.window.advance(now_us)
                series.file()
                if series.window.head != head:
                    self.moved = True
                    if watch is None or name in watch:
                        moved.setdefault(name, set()).add(key)
        return moved

    def evict_idle(self, keep: set[tuple[str, str]]) -> int:
        """Forget the groups with no event left in any pane kept, except those in `keep` and
        the metrics in `baselines`; returns how many were forgotten."""
        forgotten = 0
        for name, groups in self.series.items():
            if name in self.baselines:
                continue
            idle = [k for k, s in groups.items() if not s.window.panes and (name, k) not in keep]
            for key in idle:
                del groups[key]
            forgotten += len(idle)
        return forgotten

    def groups(self, metric: str) -> Collection[str]:
        """The groups of `metric` seen and not forgotten."""
        return self.series[metric].keys()

    def read(
        self,
        metric: str,
        groups: Iterable[str] | None = None,
        *,
        previous: bool = False,
        recent: bool = False,
        past: Calendar | None = None,
    ) -> list[Reading]:
        """The readings of `metric` for `groups` (unknown ones skipped), or for every group."""
        series_of = self.series[metric]
        keys = list(series_of) if groups is None else [g for g in groups if g in series_of]
        readings = []
        for key in keys:
            series = series_of[key]
            readings.append(
                make_reading(
                    key,
                    labels=series.labels,
                    window=series.window,
                    baseline=series.baseline,
                    latest=partial(getattr, series, "latest"),
                    previous=previous,
                    recent=recent,
                    past=past,
                )
            )
        return readings

    def value(self, metric: str, group: str = NO_GROUP) -> float | None:
        """The current window's value of `metric` for `group` (None if never seen)."""
        series = self.series[metric].get(group)
        return None if series is None else series.window.get()

    def snapshot(self, metrics: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Every metric's (or those in `metrics`) current value per group."""
        return [
            {
                "metric": name,
                "kind": self.metrics[name].kind,
                "group": key,
                "labels": series.labels,
                "value": series.window.get(),
                "window_start_us": series.window.start_us,
                "window_end_us": series.window.end_us,
            }
            for name, groups in self.series.items()
            if metrics is None or name in metrics
            for key, series in groups.items()
        ]
