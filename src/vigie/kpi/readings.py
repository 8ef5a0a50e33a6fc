"""What the rest of Vigie sees of the KPI engine: the `KpiEngine` protocol and its `Reading`s.

Rules, backtests, benchmarks and the web read KPIs through this door only, so the columnar
fast path (`kpi/engine.py`) and the readable per-event reference (`kpi/reference.py`) are
interchangeable, and one suite checks that they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

import msgspec

from vigie.events import Event
from vigie.kpi.baselines import Baselines, Calendar
from vigie.kpi.metrics import NO_GROUP, CompiledMetric


class Reading(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One group of a metric as a rule reads it, at the moment it was read.

    `weight` is what lies behind `value` (the events counted, or a ratio's denominator), so
    a rule can ignore a change seen on too little. `previous` (the window before the current
    one), the latest events (`offsets`, `visitors`) and the `past` values of one calendar's
    baseline cost a pass over the panes, the records or the history: they are read only when
    asked for, and are None and empty otherwise.
    """

    group: str
    labels: Mapping[str, str]
    value: float | None
    weight: float
    start_us: int | None  # the current window, [start_us, end_us) of event time
    end_us: int | None
    past: tuple[float, ...] = ()  # the values of this slot in past periods, oldest first
    previous: float | None = None
    offsets: tuple[int, ...] = ()  # log offsets of the latest events counted, oldest first
    visitors: tuple[str, ...] = ()  # their visitors (anonymous or user id), sorted


def latest_events(events: Iterable[Event]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The `offsets` and `visitors` of a `Reading` whose latest events are `events`."""
    events = list(events)  # a table series finds them along its records: read them once
    offsets = tuple(e.offset for e in events if e.offset is not None)
    visitors = tuple(sorted({v for e in events if (v := e.anonymous_id or e.user_id)}))
    return offsets, visitors


class KpiEngine(Protocol):
    """Every metric's windows per group, fed with events, read as `Reading`s.

    Event time moves with the events (`ingest`) and, when time passes without events, with
    `advance`. Groups come in order of first appearance. An event counts in the windows it
    belongs to whatever its arrival order, as long as it is within its group's horizon (the
    panes kept behind the newest event time the group has seen, see `kpi/windows.py`);
    older, it is counted as late, per metric (`late_events`).
    """

    @property
    def metrics(self) -> Mapping[str, CompiledMetric]:
        """The metrics, by name."""
        ...

    @property
    def max_ts(self) -> int | None:
        """The newest event time seen, in microseconds (None before any event)."""
        ...

    @property
    def late(self) -> int:
        """How many events came beyond their horizon (not counted), over every metric."""
        ...

    def late_events(self) -> dict[str, int]:
        """Per metric (every one, 0 included), how many events came beyond their group's
        horizon: older than the oldest pane kept behind the group's watermark, the newest
        event time it has seen. Such an event is counted here and nowhere else."""
        ...

    @property
    def moved(self) -> bool:
        """Whether the last `advance` moved any window."""
        ...

    def ingest(self, events: Iterable[Event]) -> Mapping[str, set[str]]:
        """Count `events` in every metric they match; returns the groups touched per metric
        (late events touch their group too). Vigie's own notices (`NOTICE_TYPE`) match no
        metric, not even one without a filter: nobody did them."""
        ...

    def advance(self, now_us: int, watch: Collection[str] | None = None) -> dict[str, set[str]]:
        """Let event time reach `now_us`; returns, per metric in `watch` (default: all), the
        groups whose window moved."""
        ...

    def evict_idle(self, keep: set[tuple[str, str]]) -> int:
        """Forget the groups with no event left in their windows, except the (metric, group)
        pairs in `keep` and those of the metrics whose groups are kept (an anomaly rule's, those
        learning a baseline); returns how many were forgotten."""
        ...

    def groups(self, metric: str) -> Collection[str]:
        """The groups of `metric` seen and not forgotten."""
        ...

    def read(
        self,
        metric: str,
        groups: Iterable[str] | None = None,
        *,
        previous: bool = False,
        recent: bool = False,
        past: Calendar | None = None,
    ) -> list[Reading]:
        """The readings of `metric` for `groups` (in their order; unknown ones skipped) or
        for every group; with the previous window's value, the latest events and the past
        values of the slot in the `past` calendar's baseline, if asked."""
        ...

    def value(self, metric: str, group: str = NO_GROUP) -> float | None:
        """The current window's value of `metric` for `group` (None if never seen)."""
        ...

    def snapshot(self, metrics: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Every metric's (or those in `metrics`) current value per group, for the API and
        the dashboard: `metric`, `kind`, `group`, `labels`, `value`, `window_start_us`,
        `window_end_us`."""
        ...


class WindowLike(Protocol):
    """What a reading is made of in either engine's window of one group."""

    @property
    def start_us(self) -> int | None: ...

    @property
    def end_us(self) -> int | None: ...

    def get(self) -> float | None: ...

    def weight(self) -> float: ...

    def previous(self) -> float | None: ...


def make_reading(
    group: str,
    *,
    labels: dict[str, str],
    window: WindowLike,
    baseline: Baselines | None,
    latest: Callable[[], Iterable[Event]],
    previous: bool,
    recent: bool,
    past: Calendar | None = None,
) -> Reading:
    """One group's reading, the same way in both engines; the previous window, the latest
    events (`latest`, called only then) and the `past` calendar's values are read only when
    asked for."""
    end = window.end_us
    values = baseline.values(end, past) if past and baseline and end is not None else ()
    offsets, visitors = latest_events(latest()) if recent else ((), ())
    return Reading(
        group=group,
        labels=labels,
        value=window.get(),
        weight=window.weight(),
        start_us=window.start_us,
        end_us=end,
        past=tuple(values),
        previous=window.previous() if previous else None,
        offsets=offsets,
        visitors=visitors,
    )
