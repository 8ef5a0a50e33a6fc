"""A metric's series: one group's window, labels, baseline and latest events.

Series of metrics held in pane tables are read through `TableGroups`, a mapping over the
table's rows that makes a `Series` only when a group is read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from vigie.events import Event
from vigie.kpi.baselines import Baselines
from vigie.kpi.batches import GroupKeys
from vigie.kpi.metrics import CompiledMetric
from vigie.kpi.panes import KEPT, RECENT, Ints, PaneTable, TableWindow
from vigie.kpi.windows import Window


class Series:
    """One metric for one group: its window, labels, baseline and the latest events in it.

    A table metric's series are made when read (see `TableGroups`), and their `window`
    view and `labels` (from the group's first event) on first use.
    """

    __slots__ = ("_labels", "_recent", "_row", "_table", "_window", "baseline")

    def __init__(self, window: Window | TableWindow, labels: dict[str, str]) -> None:
        self._window: Window | TableWindow | None = window
        self._labels: dict[str, str] | None = labels
        self._recent = None if isinstance(window, TableWindow) else deque[Event](maxlen=RECENT)
        self._table: TableGroups | None = None
        self._row = -1
        self.baseline: Baselines | None = None

    @classmethod
    def in_table(cls, groups: TableGroups, row: int) -> Series:
        """The series of `groups`' metric held in table row `row`."""
        series = cls.__new__(cls)
        series._window = series._labels = series._recent = None
        series._table, series._row = groups, row
        series.baseline = None
        return series

    @property
    def window(self) -> Window | TableWindow:
        """The series' window (for a table series, a view of its row)."""
        if self._window is None:
            assert self._table is not None
            self._window = self._table.window(self._row)
        return self._window

    @property
    def labels(self) -> dict[str, str]:
        """The group's field values by field name."""
        if self._labels is None:
            assert self._table is not None
            self._labels = self._table.labels(self._row)
        return self._labels

    @property
    def recent(self) -> Sequence[Event]:
        """The last events counted in this series, oldest first (at most `RECENT`)."""
        if self._recent is None:
            return self.window.recent()  # type: ignore[union-attr]
        return self._recent


class TableGroups(Mapping[str, "Series"]):
    """The groups of a metric whose series live in a `PaneTable`, by group key.

    It maps group key numbers to table rows; a `Series` is made when a group is read, so
    feeding a batch makes no object per group. Groups come in order of first appearance.
    """

    def __init__(self, compiled: CompiledMetric, table: PaneTable, keys: GroupKeys) -> None:
        self.compiled = compiled
        self.table = table
        self.group_keys = keys
        self.row_of: Ints = np.full(0, -1, np.int64)  # group key number -> row (-1: none)
        self.count = 0
        self.late_forgotten = 0  # late events of the groups forgotten since
        self._made: dict[str, Series] = {}

    def late(self) -> int:
        """How many events of this metric came beyond their group's horizon (not counted),
        forgotten groups included."""
        rows = self.row_of[self.row_of >= 0]
        return self.late_forgotten + int(self.table.late[rows].sum())

    def row(self, key: str) -> int:
        """The table row of group `key`, -1 when the metric has not seen it."""
        kid = self.group_keys.ids.get(key)
        return -1 if kid is None or kid >= len(self.row_of) else int(self.row_of[kid])

    def __getitem__(self, key: str) -> Series:
        series = self._made.get(key)
        if series is None:
            row = self.row(key)
            if row < 0:
                raise KeyError(key)
            series = self._made[key] = Series.in_table(self, row)
        return series

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.row(key) >= 0

    def __len__(self) -> int:
        return self.count

    def live(self) -> tuple[Ints, Ints]:
        """(group key numbers, rows) of the groups, in order of first appearance."""
        kids = np.flatnonzero(self.row_of >= 0)
        rows = self.row_of[kids]
        order = np.argsort(self.table.born[rows], kind="stable")
        return kids[order], rows[order]

    def __iter__(self) -> Iterator[str]:
        names = self.group_keys.names
        return iter([names[k] for k in self.live()[0].tolist()])

    def fit(self, known: int) -> None:
        """Make room in `row_of` for `known` group key numbers."""
        grown = np.full(max(known, 2 * len(self.row_of)), -1, np.int64)
        grown[: len(self.row_of)] = self.row_of
        self.row_of = grown

    def add(self, kids: Ints, firsts: list[Event]) -> None:
        """Rows for the new groups numbered `kids` (in order of first appearance), whose
        first events are `firsts`."""
        self.row_of[kids] = self.table.allocate(firsts)
        self.count += len(firsts)

    def forget(self, kids: list[int]) -> None:
        """Drop the groups numbered `kids` and give their rows back to the table."""
        rows = self.row_of[kids].tolist()
        for kid in kids:
            self._made.pop(self.group_keys.names[kid], None)
        self.late_forgotten += int(self.table.late[rows].sum())
        self.row_of[kids] = -1
        self.count -= len(kids)
        self.table.release(rows)

    def labels(self, row: int) -> dict[str, str]:
        """The labels of the group in `row`, read from its first event."""
        return self.compiled.group(self.table.first[row])[1]

    def window(self, row: int) -> TableWindow:
        """A view of the window in `row`."""
        compiled = self.compiled
        return TableWindow(
            self.table,
            row,
            kind=compiled.kind,
            size_us=compiled.size_us,
            slide_us=compiled.slide_us,
            empty=compiled.metric.statistic if compiled.kind in KEPT else None,
        )
