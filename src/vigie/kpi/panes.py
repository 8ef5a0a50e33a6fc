"""The windows of many series at once, as numpy columns.

A `PaneTable` holds one row per series: the newest event time seen, how many events came
too late, the latest events counted, and a ring of panes (one per slide, `ring` of them,
pane number modulo `ring`) with per pane the number of events and the two totals they add
(`a`: the value, or a ratio's numerator; `b`: a ratio's denominator) — all a count, sum,
average or ratio needs. A distinct count or a percentile also keeps each pane's values in
a list per row, filled from per-batch chunks when read. A batch of events for any number
of series is judged late, routed to panes and added with a few numpy calls, and a window's
value is computed from its panes when read (`TableWindow`). Every series behaves as its
own `Window` fed one event at a time: lateness is judged per series with the newest time
seen before each event, and a pane lives as long as `Window` keeps it (`ring` is the
window's `history`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from vigie.kpi.stats import Count, DistinctCount, Mean, Quantile, Ratio, Statistic, Sum

if TYPE_CHECKING:
    from vigie.events import Event

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]
# No event time yet: far below any datetime, and still safe to subtract a lateness from.
NONE = -(1 << 62)
RECENT = 5
# Events a table may keep alive through the batches its series' last events point into:
# this many, or this many per series if more; past that, the oldest batches are let go.
PINNED = 65_536
PINNED_PER_SERIES = 2 * RECENT
# Values of distinct counts and percentiles wait in per-batch chunks until a read needs
# them or this many are waiting; then they are sorted into their rows' lists at once.
PENDING = 65_536
ADDITIVE = frozenset({"count", "sum", "average", "ratio"})
KEPT = frozenset({"distinct", "percentile"})


class Record(NamedTuple):
    """One feed's counted entries: their rows, their positions in the batch's `events`, and
    per entry the newest record its row was in before this one (-1: none)."""

    rows: Ints
    positions: Ints
    prior: Ints
    events: Sequence[Event]


class PaneTable:
    """Rows of series sharing one ring size, slide and lateness; rows are taken with
    `allocate`, given back with `release`."""

    def __init__(
        self, ring: int, *, size: int, slide_us: int, lateness_us: int, capacity: int = 64
    ) -> None:
        self.ring = ring
        self.size = size  # panes per window
        self.slide_us = slide_us
        self.lateness_us = lateness_us
        self.used = 0
        self.free: list[int] = []
        self.max_ts: Ints = np.full(capacity, NONE, np.int64)
        self.late: Ints = np.zeros(capacity, np.int64)
        # Pane-major (slot, row): a batch's events mostly land in their rows' newest pane,
        # one slot, so adding them touches one contiguous stretch of memory.
        self.n: Ints = np.zeros((ring, capacity), np.int64)
        self.a: Floats = np.zeros((ring, capacity), np.float64)
        self.b: Floats = np.zeros((ring, capacity), np.float64)
        # The current window's totals, kept as events come and recomputed from the panes
        # when the window moves, so that reading a value is reading three numbers.
        self.now_n: Ints = np.zeros(capacity, np.int64)
        self.now_a: Floats = np.zeros(capacity, np.float64)
        self.now_b: Floats = np.zeros(capacity, np.float64)
        # Rows whose panes changed since their kept values' statistic was last built.
        self.changed: Bools = np.ones(capacity, np.bool_)
        self.built: dict[int, Any] = {}
        # A series' last events are found when read: each feed's counted entries are held as
        # a `Record` (numbered from 1) with the batch's events, and each row knows the newest
        # record it is in (`last`, -1: none); a record knows, per entry, the row's record
        # before it. Past a bound the oldest records are let go, and the events still among
        # their rows' last are kept one by one (`remembered`, oldest first).
        self.last: Ints = np.full(capacity, -1, np.int64)
        self.since: Ints = np.zeros(capacity, np.int64)  # a row's first record for its series
        self.released = 0  # the newest record before a row was last released
        self.records: deque[int] = deque()
        self.held: dict[int, Record] = {}
        self.remembered: dict[int, list[Event]] = {}
        self.pinned_events = 0
        self.batches = 0
        self.first: npt.NDArray[np.object_] = np.empty(capacity, object)  # a row's first event
        self.born: Ints = np.zeros(capacity, np.int64)  # rows in order of allocation
        self.births = 0
        # Per row of a distinct count or a percentile, the values counted in its retained
        # panes, each after its pane number: [pane, value, pane, value, ...] (one flat list
        # per row keeps the garbage collector's work to one object per row).
        self.values: dict[int, list[Any]] = {}
        # Kept values not yet in `values`: per feed, (rows, panes, values), in arrival order.
        # (The values are an object array: unlike a list, not walked by garbage collections.)
        self.pending: list[tuple[Ints, Ints, Objects]] = []
        self.pending_values = 0

    def allocate(self, firsts: Sequence[Event | None]) -> Ints:
        """Fresh rows, one per new series, for series whose first events (those their labels
        come from) are `firsts`; rows given back are taken first, the last given first."""
        count = len(firsts)
        kept = len(self.free) - min(count, len(self.free))
        reused = self.free[kept:][::-1]
        del self.free[kept:]
        start = self.used
        self.used += count - len(reused)
        if self.used > len(self.max_ts):
            self._grow(max(2 * len(self.max_ts), self.used))
        rows = np.array(reused + list(range(start, self.used)), np.int64)
        self.first[rows] = np.fromiter(firsts, object, count)
        self.born[rows] = np.arange(self.births, self.births + count)
        self.births += count
        return rows

    def release(self, rows: Sequence[int]) -> None:
        """Forget the series in `rows`; the rows are reused by later `allocate` calls."""
        self.settle()
        index = np.asarray(rows, np.intp)
        self.max_ts[index] = NONE
        self.late[index] = 0
        self.n[:, index] = 0
        self.a[:, index] = 0.0
        self.b[:, index] = 0.0
        self.now_n[index] = 0
        self.now_a[index] = 0.0
        self.now_b[index] = 0.0
        self.changed[index] = True
        self.last[index] = -1
        self.since[index] = self.batches + 1
        self.released = self.batches
        self.first[index] = None
        for row in rows:
            self.values.pop(row, None)
            self.built.pop(row, None)
            self.remembered.pop(row, None)
        self.free.extend(rows)

    def _grow(self, capacity: int) -> None:
        def grown(array: Any, fill: Any) -> Any:
            shape = (capacity, *array.shape[1:])
            if fill is None:
                out = np.empty(shape, object)
            elif fill == 0:
                out = np.zeros(shape, array.dtype)  # fresh zero pages: no writing
            else:
                out = np.full(shape, fill, array.dtype)
            out[: len(array)] = array
            return out

        def widened(array: Any) -> Any:
            out = np.zeros((self.ring, capacity), array.dtype)
            out[:, : array.shape[1]] = array
            return out

        self.max_ts = grown(self.max_ts, NONE)
        self.late = grown(self.late, 0)
        self.n = widened(self.n)
        self.a = widened(self.a)
        self.b = widened(self.b)
        self.now_n = grown(self.now_n, 0)
        self.now_a = grown(self.now_a, 0.0)
        self.now_b = grown(self.now_b, 0.0)
        changed = np.ones(capacity, np.bool_)
        changed[: len(self.changed)] = self.changed
        self.changed = changed
        self.last = grown(self.last, -1)
        self.since = grown(self.since, 0)
        self.first = grown(self.first, None)
        self.born = grown(self.born, 0)

    def feed(
        self,
        rows: Ints,
        ts: Ints,
        a: Floats,
        b: Floats,
        *,
        before: Ints,
        positions: Ints,
        events: Sequence[Event],
        values: Objects | None = None,
        keeps: Bools | None = None,
    ) -> Bools:
        """Count entries (series `rows`, event time `ts`, totals `a` and `b`, and for rows
        that keep them, `values`: one per entry, or one per entry where `keeps`); returns
        which were too late (not counted).

        Entries of one series are in arrival order. `before[i]` is an upper bound of the
        event times the batch brought before entry i (any series), which settles most
        batches without sorting; `positions` are the entries' events in `events`.
        """
        slide, ring = self.slide_us, self.ring
        prev = self.max_ts[rows]
        late: Bools | None = None
        # Late: in a pane the ring no longer holds behind its series' newest time before it.
        # Within `ring - 1` slides of the newest, an entry cannot be (no division needed).
        if not bool((ts >= np.maximum(prev, before) - (ring - 1) * slide).all()):
            late = _late(rows, ts // slide, prev // slide, ring - 1)
        np.maximum.at(self.max_ts, rows, ts)  # a late event is older than its series' newest
        heads = self.max_ts[rows] // slide
        moved = heads > prev // slide  # NONE // slide is far below any head
        moved &= prev != NONE
        if moved.any():
            at = moved.nonzero()[0]
            moved_rows, first = np.unique(rows[at], return_index=True)
            at = at[first]
            self._clear(moved_rows, prev[at] // slide, heads[at])
        panes = ts // slide
        # An event counted into a pane that its series' newest time moved out of the ring
        # later in the batch is gone, as in `Window` (which deletes that pane when it moves).
        counted = panes > heads - ring
        if late is None:
            self._remember(rows, positions, events)
        else:
            np.add.at(self.late, rows[late], 1)
            self._remember(rows[~late], positions[~late], events)
            counted &= ~late
        if not counted.all():
            rows, panes, heads = rows[counted], panes[counted], heads[counted]
            a, b = a[counted], b[counted]
            if values is not None:
                counted_kept = counted if keeps is None else counted[keeps]
                values = values[counted_kept]
            if keeps is not None:
                keeps = keeps[counted]
        flat = panes % ring * self.n.shape[1] + rows
        np.add.at(self.n.reshape(-1), flat, 1)
        now = panes > heads - self.size
        now_rows, now_a, now_b = (rows, a, b) if now.all() else (rows[now], a[now], b[now])
        np.add.at(self.now_n, now_rows, 1)
        if a.any():
            np.add.at(self.a.reshape(-1), flat, a)
            np.add.at(self.now_a, now_rows, now_a)
        if b.any():
            np.add.at(self.b.reshape(-1), flat, b)
            np.add.at(self.now_b, now_rows, now_b)
        if values is not None:
            if keeps is not None:
                rows, panes = rows[keeps], panes[keeps]
            self.changed[rows] = True
            self.pending.append((rows, panes, values))
            self.pending_values += len(values)
            if self.pending_values >= PENDING:
                self.settle()
        return np.zeros(len(ts), np.bool_) if late is None else late

    def settle(self) -> None:
        """Move the pending kept values into their rows' lists (`values`), in arrival order;
        values in panes their row's head has already moved out of the ring are dropped."""
        if not self.pending:
            return
        pending, self.pending, self.pending_values = self.pending, [], 0
        rows = np.concatenate([chunk[0] for chunk in pending])
        panes = np.concatenate([chunk[1] for chunk in pending])
        oldest = self.max_ts[rows] // self.slide_us - self.ring
        order = np.flatnonzero(panes > oldest)
        order = order[stable_order(rows[order], len(self.max_ts))]
        if not len(order):
            return
        ordered = rows[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        in_rows = ordered[starts].tolist()
        kept = self.values
        # New rows' lists are made before the large lists below: each list made counts
        # towards a garbage collection, which would walk those.
        for row in in_rows:
            if row not in kept:
                kept[row] = []
        values = np.concatenate([chunk[2] for chunk in pending])
        flat: list[Any] = [None] * (2 * len(order))
        flat[0::2] = panes[order].tolist()
        flat[1::2] = values[order].tolist()
        del values
        ends = [*starts[1:].tolist(), len(order)]
        for row, start, end, gone in zip(
            in_rows, starts.tolist(), ends, oldest[order[starts]].tolist(), strict=True
        ):
            of_row = kept[row]
            # Values in panes out of the ring are let go, once the oldest value counted is.
            if of_row and of_row[0] <= gone:
                of_row[:] = [
                    y
                    for p, x in zip(of_row[::2], of_row[1::2], strict=True)
                    if p > gone
                    for y in (p, x)
                ]
            of_row[len(of_row) :] = flat[2 * start : 2 * end]

    def _remember(self, rows: Ints, positions: Ints, events: Sequence[Event]) -> None:
        """Hold the counted entries (rows, positions in `events`) as the newest record, so
        that each series' last `RECENT` events can be found when read."""
        if not len(rows):
            return
        previous = self.held.get(self.batches)
        self.batches += 1
        self.held[self.batches] = Record(rows, positions, self.last[rows], events)
        self.records.append(self.batches)
        self.last[rows] = self.batches
        if previous is None or previous.events is not events:
            self.pinned_events += len(events)
        limit = max(PINNED, PINNED_PER_SERIES * (self.used - len(self.free)))
        if self.pinned_events > limit:
            self._unpin(limit // 2)

    def _unpin(self, keep: int) -> None:
        """Let go of the oldest records until at most `keep` events are pinned; a row's
        events in them that are still among its last `RECENT` are kept one by one."""
        gone: list[tuple[int, Record]] = []
        while self.pinned_events > keep and len(self.records) > 1:
            number = self.records.popleft()
            record = self.held.pop(number)
            gone.append((number, record))
            if self.held[self.records[0]].events is not record.events:
                self.pinned_events -= len(record.events)
        if not gone:
            return
        # Per row, how many of its last events the held records still give. (Entries of a
        # row's previous series count too: while one is held, so are all of the new one's.)
        held = [record.rows for record in self.held.values()]
        given = np.bincount(np.concatenate(held), minlength=self.used)[: self.used]
        need = np.maximum(RECENT - given, 0)
        # The gone entries of rows still short of events (most rows are not), oldest first.
        picked = []
        for number, record in gone:
            short = need[record.rows] > 0
            if number <= self.released:
                short &= number >= self.since[record.rows]
            at = short.nonzero()[0]
            picked.append((record.rows[at], record.positions[at], np.full(len(at), number)))
        rows, positions, numbers = (np.concatenate(column) for column in zip(*picked, strict=True))
        wanted = stable_order(rows, self.used)
        remembered = self.remembered
        if len(wanted):
            ordered = rows[wanted]
            ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
            after = np.repeat(ends, np.diff(np.r_[-1, ends])) - np.arange(len(wanted))
            wanted = wanted[after < need[ordered]]  # the row's last `need` entries
            records = dict(gone)
            for row, number, at in zip(
                rows[wanted].tolist(),
                numbers[wanted].tolist(),
                positions[wanted].tolist(),
                strict=True,
            ):
                events = remembered.get(row)
                if events is None:
                    remembered[row] = [records[number].events[at]]
                else:
                    events.append(records[number].events[at])
        rows_kept = list(remembered)
        for row, wants in zip(rows_kept, need[rows_kept].tolist(), strict=True):
            if not wants:
                del remembered[row]
            elif len(remembered[row]) > wants:
                del remembered[row][:-wants]

    def _clear(self, rows: Ints, old_head: Ints, new_head: Ints) -> None:
        """Empty the ring slots of the panes a series' head just entered (old_head, new_head]."""
        ring = self.ring
        steps = np.minimum(new_head - old_head, ring)
        k = np.arange(ring)
        mask = k < steps[:, None]
        slots = (old_head[:, None] + 1 + k) % ring
        at_rows = np.broadcast_to(rows[:, None], mask.shape)[mask]
        at_slots = slots[mask]
        self.n[at_slots, at_rows] = 0
        self.a[at_slots, at_rows] = 0.0
        self.b[at_slots, at_rows] = 0.0
        self.changed[rows] = True
        # The current window moved: its totals are those of the panes it now spans (the
        # batch being counted adds its own events after this).
        at = rows[:, None]
        slots = (new_head[:, None] - np.arange(self.size)) % ring
        self.now_n[rows] = self.n[slots, at].sum(axis=1)
        self.now_a[rows] = self.a[slots, at].sum(axis=1)
        self.now_b[rows] = self.b[slots, at].sum(axis=1)

    def recent_events(self, row: int) -> list[Event]:
        """The last `RECENT` counted events of the series in `row`, oldest first: from the
        held records, newest first along the row's chain, then those kept one by one."""
        found: list[Event] = []
        number = int(self.last[row])
        while number >= 0 and len(found) < RECENT:
            record = self.held.get(number)
            if record is None:
                break
            at = np.flatnonzero(record.rows == row)
            events = record.events
            found += [events[i] for i in record.positions[at][::-1].tolist()[: RECENT - len(found)]]
            number = int(record.prior[at[0]])
        if len(found) < RECENT:
            found += self.remembered.get(row, [])[::-1][: RECENT - len(found)]
        return found[::-1]

    def advance(self, now_us: int) -> Ints:
        """Let event time reach `now_us` in every series that has seen an event; returns the
        rows whose windows moved (the others' values cannot have changed)."""
        max_ts = self.max_ts[: self.used]
        rows = np.flatnonzero((max_ts != NONE) & (max_ts < now_us))
        if not len(rows):
            return rows
        slide = self.slide_us
        old = self.max_ts[rows] // slide
        self.max_ts[rows] = now_us
        new = np.full(len(rows), now_us // slide, np.int64)
        moved = new > old
        if moved.any():
            self._clear(rows[moved], old[moved], new[moved])
        return rows[moved]

    def row_totals(self, row: int, back: int) -> tuple[int, float, float]:
        """(events, a, b) of one row over the window `back` windows before its current one
        (panes older than the ring count as empty)."""
        max_ts = int(self.max_ts[row])
        if max_ts == NONE:
            return 0, 0.0, 0.0
        head = max_ts // self.slide_us
        last = head - back * self.size
        oldest = max(last - self.size, head - self.ring)
        slots = [p % self.ring for p in range(oldest + 1, last + 1)]
        n, a, b = self.n[:, row].tolist(), self.a[:, row].tolist(), self.b[:, row].tolist()
        return sum(n[s] for s in slots), sum(a[s] for s in slots), sum(b[s] for s in slots)

    def totals(self, rows: Ints, size: int, back: int = 0) -> tuple[Ints, Floats, Floats]:
        """(events, a, b) summed over the window `back` windows before each row's current
        one; `size` panes per window. Panes older than the ring count as empty."""
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        head = self.max_ts[rows] // self.slide_us
        last = head - back * size
        k = np.arange(size)
        panes = last[:, None] - k
        valid = (panes > head[:, None] - self.ring) & (self.max_ts[rows] != NONE)[:, None]
        slots = panes % self.ring
        at = rows[:, None]
        n = np.where(valid, self.n[slots, at], 0).sum(axis=1)
        a = np.where(valid, self.a[slots, at], 0.0).sum(axis=1)
        b = np.where(valid, self.b[slots, at], 0.0).sum(axis=1)
        return n, a, b


def statistic(kind: str, n: int, a: float, b: float) -> Count | Sum | Mean | Ratio:
    """The statistic of `kind` holding these totals, as a `Window`'s `current` would."""
    if kind == "count":
        count = Count()
        count.n = n
        return count
    if kind == "ratio":
        ratio = Ratio()
        ratio.num, ratio.den = a, b
        return ratio
    stat = Sum() if kind == "sum" else Mean()
    stat.n, stat.total = n, (a if n else 0.0)
    return stat


def stable_order(rows: Ints, bound: int) -> Ints:
    """The order that sorts `rows` (all below `bound`) keeping equal ones in their order:
    a radix sort when they fit in 16 bits (25 times faster on 65,536 rows)."""
    if bound <= 1 << 16:
        return np.argsort(rows.astype(np.uint16), kind="stable")
    return np.argsort(rows, kind="stable")


def _late(rows: Ints, ts: Ints, prev: Ints, lateness: int) -> Bools:
    """Exactly which entries are late: older than their series' newest time before them
    (from earlier batches, `prev`, or earlier in this one) minus `lateness`. (`PaneTable`
    passes pane numbers: an entry is late when its pane is `lateness` + 1 or more panes
    behind its series' newest.)"""
    order = stable_order(rows, int(rows.max(initial=-1)) + 1)
    r = rows[order]
    t = ts[order]
    first = np.ones(len(r), np.bool_)
    first[1:] = r[1:] != r[:-1]
    segment = np.cumsum(first) - 1
    # A running maximum per series: ranks offset by series, so one accumulate never
    # carries a maximum from one series into the next.
    values, rank = np.unique(t, return_inverse=True)
    width = len(values)
    running = values[np.maximum.accumulate(segment * width + rank) - segment * width]
    newest = np.empty_like(running)
    newest[1:] = running[:-1]
    newest[first] = NONE
    late_sorted: Bools = t < np.maximum(prev[order], newest) - lateness
    late: Bools = np.empty_like(late_sorted)
    late[order] = late_sorted
    return late


class TableWindow:
    """One series' window in a `PaneTable`, read like a `Window` (`get`, `previous`,
    `start_us`, `end_us`, `current`, `late`). `empty` makes the statistic of a metric whose
    panes keep their values (distinct counts, percentiles); None for the others."""

    __slots__ = ("empty", "kind", "n", "row", "size_us", "slide_us", "table")

    def __init__(
        self,
        table: PaneTable,
        row: int,
        *,
        kind: str,
        size_us: int,
        slide_us: int,
        empty: Callable[[], Statistic] | None = None,
    ) -> None:
        self.table = table
        self.row = row
        self.kind = kind
        self.size_us = size_us
        self.slide_us = slide_us
        self.n = size_us // slide_us
        self.empty = empty

    @property
    def max_ts(self) -> int | None:
        """The newest event time seen (or given to `advance`), None before the first."""
        max_ts = int(self.table.max_ts[self.row])
        return None if max_ts == NONE else max_ts

    @property
    def head(self) -> int | None:
        """The pane number of the newest event time."""
        max_ts = self.max_ts
        return None if max_ts is None else max_ts // self.slide_us

    @property
    def late(self) -> int:
        """How many events came too late to count."""
        return int(self.table.late[self.row])

    @property
    def start_us(self) -> int | None:
        """Start of the current window (inclusive), None before the first event."""
        head = self.head
        return None if head is None else (head - self.n + 1) * self.slide_us

    @property
    def end_us(self) -> int | None:
        """End of the current window (exclusive), None before the first event."""
        head = self.head
        return None if head is None else (head + 1) * self.slide_us

    def _statistic(self, back: int) -> Any:
        table, row = self.table, self.row
        if self.empty is None:
            if back == 0:
                n, a, b = int(table.now_n[row]), float(table.now_a[row]), float(table.now_b[row])
            else:
                n, a, b = table.row_totals(row, back)
            return statistic(self.kind, n, a, b)
        if back == 0 and not table.changed[row] and row in table.built:
            return table.built[row]
        stat = self.empty()
        head = self.head
        table.settle()
        of_row = table.values.get(row)
        if head is not None and of_row:
            last = head - back * self.n
            oldest = max(last - self.n, head - table.ring)
            found = [
                x for p, x in zip(of_row[::2], of_row[1::2], strict=True) if oldest < p <= last
            ]
            if isinstance(stat, Quantile):
                stat.values = sorted(found)
            elif isinstance(stat, DistinctCount):
                stat.seen = dict(Counter(found))
            else:
                for x in found:
                    stat.update(x)
        if back == 0:
            table.built[row] = stat
            table.changed[row] = False
        return stat

    @property
    def current(self) -> Any:
        """The statistic over the current window (not to be changed: it may be shared)."""
        return self._statistic(0)

    def get(self) -> float | None:
        """The statistic's value over the current window."""
        if self.empty is None:
            table, row = self.table, self.row
            n = int(table.now_n[row])
            kind = self.kind
            if kind == "count":
                return float(n)
            if kind == "ratio":
                den = float(table.now_b[row])
                return float(table.now_a[row]) / den if den > 1e-12 else None
            if kind == "average":
                return float(table.now_a[row]) / n if n else None
            return float(table.now_a[row]) if n else 0.0
        value: float | None = self._statistic(0).get()
        return value

    def weight(self) -> float:
        """What lies behind the current value: the events counted, or a ratio's denominator."""
        if self.empty is None:
            if self.kind == "ratio":
                return float(self.table.now_b[self.row])
            return float(self.table.now_n[self.row])
        weight: float = self._statistic(0).weight()
        return weight

    def previous(self, back: int = 1) -> float | None:
        """The value over the window `back` whole windows before the current one."""
        value: float | None = self._statistic(back).get()
        return value

    def recent(self) -> list[Event]:
        """The series' last counted events, oldest first."""
        return self.table.recent_events(self.row)
