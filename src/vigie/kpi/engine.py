"""The columnar KPI engine, the fast path behind the `KpiEngine` protocol (`kpi/readings.py`):
every metric's windows, per group, fed with events from the log.

It only aggregates; rules read its values as `Reading`s. Event time moves with the events
themselves (`ingest`) and, when the caller says time passed without events, with `advance`.
`kpi/reference.py` does the same one event at a time; one suite checks that both agree.

Metrics live in `PaneTable`s, numpy columns fed a whole batch at a time (the metrics of a
`Cohort` together); those whose groups are kept however quiet (an anomaly rule's, or those
learning a baseline, which files the value of every window as it closes) and those with
very long rings keep one `Window` per group, fed one event at a time. Both give the same
values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from vigie.events import NOTICE_TYPE, Event
from vigie.kpi.baselines import Baselines, Calendar, Learning, calendars
from vigie.kpi.batches import Batch, Cohort, GroupKeys, properties_of, stamps_us
from vigie.kpi.changed_groups import ChangedGroups
from vigie.kpi.metrics import NO_GROUP, CompiledMetric, Metric, number
from vigie.kpi.panes import ADDITIVE, KEPT, NONE, RECENT, Bools, Floats, Ints, Objects, PaneTable
from vigie.kpi.panes import statistic as table_statistic
from vigie.kpi.readings import Reading, make_reading
from vigie.kpi.sentiment import SentimentScorer
from vigie.kpi.series import Series, TableGroups
from vigie.kpi.windows import Window

__all__ = ["RECENT", "ColumnarEngine"]

# Longer rings (say a day sliding by the minute) stay sparse: one `Window` per group.
MAX_RING = 512
_timestamp = attrgetter("timestamp")
_event_name = attrgetter("event")
_type = attrgetter("type")


# One metric's share of a batch for its table: (metric, event positions, group key numbers,
# a, b, values kept per pane or None).
Part = tuple[str, Ints, Ints, Floats, Floats, Objects | None]
# A share of a batch for one table: (table, rows, event positions, a, b, values kept per
# pane or None).
Share = tuple[PaneTable, Ints, Ints, Floats, Floats, Objects | None]


class ColumnarEngine:
    """Aggregates events into every metric's windows, a batch at a time (a `KpiEngine`);
    pure apart from its own state."""

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
        self.series: dict[str, dict[str, Series] | TableGroups] = {}
        # Event names as small integers (0: any other name), and per metric which it takes.
        known = sorted({n for c in self.metrics.values() for n in c.event_names or ()})
        self._codes = {name: code for code, name in enumerate(known, start=1)}
        self._takes: dict[str, Bools] = {}
        for name, compiled in self.metrics.items():
            takes = np.zeros(len(known) + 1, np.bool_)
            if compiled.event_names is None:
                takes[:] = True
            else:
                takes[[self._codes[n] for n in compiled.event_names]] = True
            self._takes[name] = takes
        self._any = np.logical_or.reduce(list(self._takes.values())) if self._takes else None
        # Per metric, what lets the hot loop skip reading the event: a contribution fixed by
        # the event name, or the one property holding the value.
        self._constants = {n: c.by_name() for n, c in self.metrics.items()}
        self._properties = {n: c.property_value() for n, c in self.metrics.items()}
        self._group_properties = {n: c.group_property() for n, c in self.metrics.items()}
        self._attributes = {n: c.attribute_value() for n, c in self.metrics.items()}
        self._keys: dict[tuple[str, ...], GroupKeys] = {}
        # Per `by`, the event names of its metrics: their events get a group key per batch.
        self._keyed: dict[tuple[str, ...], Bools] = {}
        for name, compiled in self.metrics.items():
            self._keys.setdefault(compiled.by_key, GroupKeys())
            keyed = self._keyed.setdefault(compiled.by_key, np.zeros(len(known) + 1, np.bool_))
            keyed |= self._takes[name]
        self._tables: dict[str, PaneTable] = {}
        self._table_groups: dict[str, TableGroups] = {}
        self._by_code: dict[str, tuple[Floats, Floats]] = {}
        shapes: dict[tuple[int, int, int, int], PaneTable] = {}
        for name, compiled in self.metrics.items():
            ring = self._ring(compiled)
            if compiled.kind not in ADDITIVE | KEPT or name in self.baselines or ring > MAX_RING:
                continue
            size = compiled.size_us // compiled.slide_us
            shape = (ring, size, compiled.slide_us, compiled.lateness_us)
            if shape not in shapes:
                shapes[shape] = PaneTable(
                    ring,
                    size=size,
                    slide_us=compiled.slide_us,
                    lateness_us=compiled.lateness_us,
                )
            self._tables[name] = shapes[shape]
            keys = self._keys[compiled.by_key]
            self._table_groups[name] = TableGroups(compiled, self._tables[name], keys)
            constant = self._constants[name]
            if constant is not None:
                a = np.zeros(len(known) + 1)
                b = np.zeros(len(known) + 1)
                for event_name, x in constant.items():
                    code = self._codes[event_name]
                    a[code], b[code] = x if compiled.kind == "ratio" else (x, 0.0)
                self._by_code[name] = (a, b)
        self._cohorts = self._make_cohorts(len(known) + 1)
        self._in_cohort = {name for cohort in self._cohorts for name in cohort.names}
        self.series = {name: self._table_groups.get(name, {}) for name in self.metrics}
        self.max_ts: int | None = None
        self.late = 0
        self._late_in_windows = dict.fromkeys(self.metrics, 0)  # metrics with a `Window` each
        self.moved = False  # whether the last `advance` moved any window

    def _make_cohorts(self, codes: int) -> list[Cohort]:
        """Table metrics whose contribution comes from the event name or one property,
        grouped by table, `by` and whether they keep values."""
        members: dict[tuple[int, bool, tuple[str, ...]], list[str]] = {}
        for name, compiled in self.metrics.items():
            if name in self._tables and (name in self._by_code or self._properties[name]):
                shape = (id(self._tables[name]), compiled.kind in KEPT, compiled.by_key)
                members.setdefault(shape, []).append(name)
        cohorts = []
        for names in members.values():
            cohort = Cohort(names, codes)
            cohort.kept = self.metrics[names[0]].kind in KEPT
            for j, name in enumerate(names):
                cohort.takes[j] = self._takes[name]
                if name in self._by_code:
                    cohort.a[j], cohort.b[j] = self._by_code[name]
                else:
                    prop = self._properties[name]
                    assert prop is not None
                    cohort.properties.setdefault(prop, np.zeros(len(names), np.bool_))[j] = True
            cohorts.append(cohort)
        return cohorts

    def _ring(self, compiled: CompiledMetric) -> int:
        """How many panes a window of `compiled` keeps (`Window.history`)."""
        n = compiled.size_us // compiled.slide_us
        return max(self.history, 1) * n + -(-compiled.lateness_us // compiled.slide_us) + 1

    def ingest(self, events: Iterable[Event]) -> ChangedGroups:
        """Count `events` in every metric they match; returns the groups touched per metric
        (a `ChangedGroups`: each metric's set is built when read).

        The batch's columns (event names, times, group keys, values) are read once and shared
        by the metrics; lateness is judged per group in arrival order, exactly as if the
        events came one by one: an event counts when its pane is still kept behind its
        group's newest time (the horizon), and is counted as late otherwise. Vigie's own
        notices (`NOTICE_TYPE`) are left out first: no metric counts them, none moves time.
        """
        batch = events if isinstance(events, list) else list(events)
        if NOTICE_TYPE in map(_type, batch):  # one pass in C; a notice is rare
            batch = [event for event in batch if event.type != NOTICE_TYPE]
        if not batch or self._any is None:
            return ChangedGroups()
        code_of = self._codes.get
        codes = np.fromiter(map(code_of, map(_event_name, batch), repeat(0)), np.intp, len(batch))
        if not codes.all():  # an event with no `event` is named by its `name` (a page view)
            for i in np.flatnonzero(codes == 0).tolist():
                if not batch[i].event:
                    codes[i] = code_of(batch[i].name or "", 0)
        relevant = self._any[codes]
        if relevant.all():
            stamps = stamps_us(list(map(_timestamp, batch)))
        else:
            at = np.flatnonzero(relevant)
            if not len(at):
                return ChangedGroups()
            stamps = np.full(len(batch), NONE, np.int64)
            stamps[at] = stamps_us([batch[i].timestamp for i in at.tolist()])
        newest = int(stamps.max())
        if self.max_ts is None or newest > self.max_ts:
            self.max_ts = newest
        columns = Batch(batch, codes, stamps)
        touched = ChangedGroups()
        parts: dict[tuple[int, bool], list[Part]] = {}
        shares: dict[int, list[Share]] = {}
        for cohort in self._cohorts:
            share = self._cohort_share(cohort, columns, touched)
            if share is not None:
                shares.setdefault(id(share[0]), []).append(share)
        for name, compiled in self.metrics.items():
            if name in self._in_cohort:
                continue
            indices = self._takes[name][codes].nonzero()[0]
            if not len(indices):
                continue
            if name in self._tables:
                part = self._gather(compiled, columns, indices)
                if part is not None:
                    kept = part[-1] is not None
                    parts.setdefault((id(self._tables[name]), kept), []).append((name, *part))
            else:
                groups = self._feed(compiled, columns, indices)
                if groups:
                    touched.add(name, groups)
        for (table_id, _), table_parts in parts.items():
            share = self._table_share(columns, table_parts, touched)
            shares.setdefault(table_id, []).append(share)
        for table_shares in shares.values():
            self._feed_shares(columns, table_shares)
        series_of = self.series
        for name in touched:
            if self.baselines.get(name):
                for key in touched[name]:
                    self._file(series_of[name][key])
        return touched

    def _cohort_share(self, cohort: Cohort, columns: Batch, touched: ChangedGroups) -> Share | None:
        """A cohort's share of the batch: every member's events picked, valued and keyed
        together."""
        # (member, event) pairs taking part, members first: one flat search is cheaper than
        # `np.nonzero` on the 2-D mask.
        member, at = np.divmod(
            cohort.takes.take(columns.codes, axis=1).ravel().nonzero()[0], len(columns.codes)
        )
        if not len(at):
            return None
        picked = columns.codes[at]
        a, b = cohort.a[member, picked], cohort.b[member, picked]
        for prop, uses in cohort.properties.items():
            reads = uses[member]
            values, present = columns.values(prop)
            a = np.where(reads, values[at], a)
            if present is not None:
                counts = ~reads | present[at]
                member, at, a, b = member[counts], at[counts], a[counts], b[counts]
        if not len(at):
            return None
        first = self.metrics[cohort.names[0]]
        kids = self._key_numbers(first, columns, at)
        bounds = np.searchsorted(member, np.arange(len(cohort.names) + 1)).tolist()
        rows = np.empty_like(at)
        key_names = self._keys[first.by_key].names
        known = len(key_names)
        for j, name in enumerate(cohort.names):
            start, end = bounds[j], bounds[j + 1]
            if start == end:
                continue
            groups = self._table_groups[name]
            if len(groups.row_of) < known:
                groups.fit(known)
            rows[start:end] = groups.row_of[kids[start:end]]
            touched.later(name, key_names, kids[start:end])
        if rows.min() < 0:  # groups new to some members
            for j, name in enumerate(cohort.names):
                start, end = bounds[j], bounds[j + 1]
                if start < end and rows[start:end].min() < 0:
                    rows[start:end] = self._table_rows(
                        name, columns, at[start:end], kids[start:end]
                    )
        values_kept = None
        if cohort.kept:
            values_kept = a.astype(object)
            a = b = np.zeros(len(at))
        return self._tables[first.name], rows, at, a, b, values_kept

    def _gather(
        self, compiled: CompiledMetric, columns: Batch, indices: Ints
    ) -> tuple[Ints, Ints, Floats, Floats, Objects | None] | None:
        """The events at `indices` that count in table metric `compiled`: their positions,
        group key numbers, totals (a, b) and, for a metric keeping values, the values;
        None when none counts."""
        name = compiled.name
        xs: list[Any] | None = None
        if name in self._by_code:
            by_code_a, by_code_b = self._by_code[name]
            picked = columns.codes[indices]
            a, b = by_code_a[picked], by_code_b[picked]
        elif (prop := self._properties[name]) is not None:
            values, present = columns.values(prop)
            if present is not None:
                indices = indices[present[indices]]
            a = values[indices]
            b = np.zeros(len(indices))
        else:
            events = columns.events
            attribute = self._attributes[name]
            if attribute is not None:
                chosen = indices.tolist()
                of_them = itemgetter(*chosen)(events) if len(chosen) > 1 else [events[chosen[0]]]
                xs = list(map(attrgetter(attribute), of_them))
                if not set(map(type, xs)) <= {str, type(None)}:
                    xs = [
                        x if type(x) is str or x is None or isinstance(x, int | float) else str(x)
                        for x in xs
                    ]
            else:
                xs = [compiled.extract(events[i]) for i in indices.tolist()]
            if None in xs:
                kept = [i for i, x in enumerate(xs) if x is not None]
                xs = [xs[i] for i in kept]
                indices = indices[np.array(kept, np.intp)]
            if compiled.kind == "ratio":
                pairs = np.array(xs, np.float64).reshape(-1, 2)
                a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
                xs = None
            elif compiled.kind in KEPT:
                a = b = np.zeros(len(xs))
            else:
                a = np.array(xs, np.float64) if compiled.kind != "count" else np.ones(len(xs))
                b = np.zeros(len(xs))
                xs = None
        if not len(indices):
            return None
        kept_values: Objects | None = None
        if compiled.kind in KEPT:
            kept_values = a.astype(object) if xs is None else np.fromiter(xs, object, len(xs))
            a = b = np.zeros(len(indices))
        return indices, self._key_numbers(compiled, columns, indices), a, b, kept_values

    def _table_share(
        self,
        columns: Batch,
        parts: list[Part],
        touched: ChangedGroups,
    ) -> Share:
        """The share of the batch of metrics sharing one table, put together."""
        rows = [self._table_rows(name, columns, at, kids) for name, at, kids, *_ in parts]
        kept = parts[0][5] is not None
        share = (
            self._tables[parts[0][0]],
            np.concatenate(rows),
            np.concatenate([part[1] for part in parts]),
            np.concatenate([part[3] for part in parts]),
            np.concatenate([part[4] for part in parts]),
            np.concatenate([part[5] for part in parts if part[5] is not None]) if kept else None,
        )
        for name, _, kids, *_ in parts:
            touched.later(name, self._keys[self.metrics[name].by_key].names, kids)
        return share

    def _feed_shares(self, columns: Batch, shares: list[Share]) -> None:
        """Count the shares of the batch for one table in one table feed: their rows are
        distinct, so each series' entries stay in arrival order."""
        table, rows, at, a, b, values = shares[0]
        keeps = None
        if len(shares) > 1:
            rows = np.concatenate([share[1] for share in shares])
            at = np.concatenate([share[2] for share in shares])
            a = np.concatenate([share[3] for share in shares])
            b = np.concatenate([share[4] for share in shares])
            kinds = [share[5] is not None for share in shares]
            values = (
                np.concatenate([share[5] for share in shares if share[5] is not None])
                if any(kinds)
                else None
            )
            if any(kinds) and not all(kinds):  # only some entries keep their value
                sizes = [len(share[1]) for share in shares]
                keeps = np.repeat(np.array(kinds), sizes)
        late = table.feed(
            rows,
            columns.stamps[at],
            a,
            b,
            before=columns.before[at],
            positions=at,
            events=columns.frozen,
            values=values,
            keeps=keeps,
        )
        self.late += int(late.sum())

    def _table_rows(self, name: str, columns: Batch, indices: Ints, kids: Ints) -> Ints:
        """The table rows of table metric `name` for these group key numbers, adding rows
        for groups it has not seen."""
        groups = self._table_groups[name]
        known = len(groups.group_keys.names)
        if len(groups.row_of) < known:
            groups.fit(known)
        rows = groups.row_of[kids]
        fresh = rows < 0
        if fresh.any():
            new_kids, first = np.unique(kids[fresh], return_index=True)
            in_order = np.argsort(first)  # groups come in order of their first event
            events = columns.events
            at = indices[fresh][first[in_order]].tolist()
            groups.add(new_kids[in_order], [events[i] for i in at])
            rows = groups.row_of[kids]
        return rows

    def _key_numbers(self, compiled: CompiledMetric, columns: Batch, indices: Ints) -> Ints:
        """The group key numbers of the events at `indices`: on a `by`'s first use in the
        batch, every event of its metrics' names gets its key, read once for them all."""
        kids = columns.kids.get(compiled.by_key)
        if kids is None:
            kids = columns.kids[compiled.by_key] = np.full(len(columns.events), -1, np.int64)
            keyed = self._keyed[compiled.by_key][columns.codes]
            if keyed.all():
                kids[:] = self._read_keys(compiled, columns.events, columns.properties)
            else:
                todo = np.flatnonzero(keyed)
                kids[todo] = self._read_keys(compiled, [columns.events[i] for i in todo.tolist()])
        return kids[indices]

    def _read_keys(
        self,
        compiled: CompiledMetric,
        events: list[Event],
        properties: list[dict[str, Any]] | None = None,
    ) -> Ints:
        """The group key numbers of `events` (whose `properties` may be given) for metrics
        grouped like `compiled`."""
        keys = self._keys[compiled.by_key]
        grouped_by = self._group_properties[compiled.name]
        if not compiled.group_readers:
            return np.full(len(events), keys.id(NO_GROUP), np.int64)
        if grouped_by is None:
            return np.array([keys.id(compiled.group_key(event)) for event in events], np.int64)
        ids: dict[Any, int] = keys.ids  # only str keys are stored: other values miss
        values = map(dict.get, properties or properties_of(events), repeat(grouped_by))
        try:
            numbers = np.fromiter(map(ids.get, values, repeat(-1)), np.int64, len(events))
        except TypeError:  # an unhashable value (a list, a dict), or not a dict
            numbers = np.full(len(events), -1, np.int64)
        if numbers.min(initial=0) < 0:  # keys new to the engine, or not text
            for j in np.flatnonzero(numbers < 0).tolist():
                x = events[j].properties.get(grouped_by)
                if isinstance(x, str):
                    key = x
                elif x is None:
                    key = compiled.group_key(events[j])
                else:
                    key = str(x)
                numbers[j] = keys.id(key)
        return numbers

    def _feed(self, compiled: CompiledMetric, columns: Batch, indices: Ints) -> set[str]:
        """Update `compiled`'s per-group windows with the events at `indices`, one by one in
        arrival order; returns the groups hit."""
        name = compiled.name
        constant = self._constants[name]
        prop = self._properties[name]
        events = columns.events
        at = indices.tolist()
        xs: list[Any]
        if constant is not None:
            names = columns.names
            xs = [constant.get(names[i]) for i in at]
        elif prop is not None:
            xs = [events[i].properties.get(prop) for i in at]
            xs = [x if type(x) is float or x is None else number(x) for x in xs]
        else:
            xs = [compiled.extract(events[i]) for i in at]
        if None in xs:
            kept = [j for j, x in enumerate(xs) if x is not None]
            at = [at[j] for j in kept]
            xs = [xs[j] for j in kept]
            if not at:
                return set()
            indices = np.array(at, np.intp)
        key_names = self._keys[compiled.by_key].names
        kids = self._key_numbers(compiled, columns, indices).tolist()
        stamps = columns.stamp_list
        groups = self.series[name]
        assert isinstance(groups, dict)
        hit: set[str] = set()
        late = 0
        for i, x, kid in zip(at, xs, kids, strict=True):
            key = key_names[kid]
            series = groups.get(key)
            if series is None:
                series = groups[key] = self._new_series(compiled, compiled.group(events[i])[1])
            if series.window.update(stamps[i], x):  # type: ignore[union-attr]
                series._recent.append(events[i])  # type: ignore[union-attr]
            else:
                late += 1
            hit.add(key)
        self.late += late
        self._late_in_windows[name] += late
        return hit

    def late_events(self) -> dict[str, int]:
        """Per metric, how many events came beyond their group's horizon (not counted)."""
        return {
            name: self._table_groups[name].late()
            if name in self._table_groups
            else self._late_in_windows[name]
            for name in self.metrics
        }

    def _new_series(self, compiled: CompiledMetric, labels: dict[str, str]) -> Series:
        depths = self.baselines.get(compiled.name)
        window = Window(
            compiled.metric.statistic(),
            size_us=compiled.size_us,
            slide_us=compiled.slide_us,
            lateness_us=compiled.lateness_us,
            history=self.history,
            record=bool(depths),
        )
        series = Series(window, labels)
        if depths:
            series.baseline = Baselines(slot_us=compiled.slide_us, depths=depths)
        return series

    def advance(self, now_us: int, watch: Collection[str] | None = None) -> dict[str, set[str]]:
        """Let event time reach `now_us` in every window: old events fall out. Returns, per
        metric in `watch` (default: every metric), the groups whose window moved: the others'
        values cannot have changed.

        `max_ts` stays the newest event time actually seen; only the windows move.
        """
        moved_rows = {
            id(table): table.advance(now_us)
            for table in {id(t): t for t in self._tables.values()}.values()
        }
        self.moved = any(len(rows) for rows in moved_rows.values())
        moved: dict[str, set[str]] = {}
        for name, groups in self.series.items():
            if name in self._tables:
                rows = moved_rows[id(self._tables[name])]
                if len(rows) and (watch is None or name in watch):
                    table_groups = self._table_groups[name]
                    kids, live = table_groups.live()
                    names = table_groups.group_keys.names
                    hit = kids[np.isin(live, rows)].tolist()
                    if hit:
                        moved[name] = {names[kid] for kid in hit}
                continue
            recorded = bool(self.baselines.get(name))
            for key, series in groups.items():
                window = series.window
                assert isinstance(window, Window)
                head = window.head
                window.advance(now_us)
                if window.head != head:
                    self.moved = True
                    if watch is None or name in watch:
                        moved.setdefault(name, set()).add(key)
                if recorded:
                    self._file(series)
        return moved

    def evict_idle(self, keep: set[tuple[str, str]]) -> int:
        """Forget series with no event left in any retained pane (except those in `keep`
        and the metrics in `baselines`); returns how many were forgotten."""
        forgotten = 0
        for name, groups in self.series.items():
            if name in self.baselines:
                continue
            if isinstance(groups, TableGroups):
                forgotten += self._evict_rows(name, keep)
                continue
            idle = [
                k
                for k, s in groups.items()
                if not s.window.panes and (name, k) not in keep  # type: ignore[union-attr]
            ]
            for key in idle:
                del groups[key]
            forgotten += len(idle)
        self._compact_keys()
        return forgotten

    def _evict_rows(self, name: str, keep: set[tuple[str, str]]) -> int:
        groups = self._table_groups[name]
        kids, rows = groups.live()
        idle = ~groups.table.n[:, rows].any(axis=0)
        names = groups.group_keys.names
        gone = [kid for kid in kids[idle].tolist() if (name, names[kid]) not in keep]
        if gone:
            groups.forget(gone)
        return len(gone)

    def _compact_keys(self) -> None:
        """Renumber the group keys once most of those seen are no longer in any table (the
        others only live for the batch)."""
        for by_key, keys in self._keys.items():
            users = [g for g in self._table_groups.values() if g.compiled.by_key == by_key]
            live = np.zeros(len(keys.names), np.bool_)
            for groups in users:
                row_of = groups.row_of[: len(keys.names)]
                live[: len(row_of)] |= row_of >= 0
            kept = np.flatnonzero(live)
            if len(keys.names) <= 2 * len(kept) + 1024:
                continue
            renumber = np.full(len(keys.names), -1, np.int64)
            renumber[kept] = np.arange(len(kept))
            names = [keys.names[k] for k in kept.tolist()]
            keys.names = names
            keys.ids = {key: i for i, key in enumerate(names)}
            for groups in users:
                old = np.flatnonzero(groups.row_of >= 0)
                fresh = np.full(len(names), -1, np.int64)
                fresh[renumber[old]] = groups.row_of[old]
                groups.row_of = fresh

    @staticmethod
    def _file(series: Series) -> None:
        window = series.window
        assert isinstance(window, Window)
        closed = window.closed
        if closed and series.baseline is not None:
            for end_us, value in closed:
                series.baseline.add(end_us, value)
            closed.clear()

    def groups(self, metric: str) -> Mapping[str, Series]:
        """Every group of `metric` seen so far, by group key."""
        return self.series[metric]

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
                    latest=partial(getattr, series, "recent"),
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
        """Every metric's (or those in `metrics`) current value per group, for the API and
        the dashboard."""
        out: list[dict[str, Any]] = []
        for name, groups in self.series.items():
            if metrics is not None and name not in metrics:
                continue
            compiled = self.metrics[name]
            if isinstance(groups, TableGroups):
                out += self._table_snapshot(groups)
                continue
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

    @staticmethod
    def _table_snapshot(groups: TableGroups) -> list[dict[str, Any]]:
        compiled = groups.compiled
        kids, rows = groups.live()
        table = groups.table
        values: list[float | None]
        if compiled.kind in ADDITIVE:
            n, a, b = table.now_n[rows], table.now_a[rows], table.now_b[rows]
            values = [
                table_statistic(compiled.kind, *total).get()
                for total in zip(n.tolist(), a.tolist(), b.tolist(), strict=True)
            ]
        else:
            values = [groups.window(row).get() for row in rows.tolist()]
        heads = (table.max_ts[rows] // compiled.slide_us).tolist()
        names = groups.group_keys.names
        return [
            {
                "metric": compiled.name,
                "kind": compiled.kind,
                "group": names[kid],
                "labels": groups.labels(row),
                "value": value,
                "window_start_us": (head + 1) * compiled.slide_us - compiled.size_us,
                "window_end_us": (head + 1) * compiled.slide_us,
            }
            for kid, row, value, head in zip(
                kids.tolist(), rows.tolist(), values, heads, strict=True
            )
        ]
