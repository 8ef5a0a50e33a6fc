"""Event-time windows: sliding (e.g. 15 minutes every minute) or tumbling (slide = size).

A window is a ring of panes, one per slide, plus a running statistic over the panes of the
current window: an event updates its pane and, when it falls inside the current window,
the running statistic; moving forward by a slide unmerges the pane that falls out.

The watermark is the newest event time seen (or given to `advance`); the panes kept behind
it (`history` windows, plus `lateness` rounded up to slides, plus one slide) are the
horizon. An event inside the horizon counts in its pane whatever its arrival order (and in
the current value when its pane is in the current window); an event older than the oldest
pane kept is refused and counted as late.
"""

from __future__ import annotations

from typing import Any

from vigie.kpi.stats import Statistic


class Window:
    """The current window over `size_us` of event time, moving by `slide_us`.

    The current window is `[start_us, end_us)` with `end_us` the end of the slide holding
    the newest event time seen (or given to `advance`). Panes are kept for `history`
    windows back, so the value of the previous window can be read (`previous`).
    """

    __slots__ = (
        "_head_end",
        "_head_pane",
        "_head_start",
        "closed",
        "current",
        "head",
        "history",
        "late",
        "lateness_us",
        "max_ts",
        "n",
        "panes",
        "record",
        "size_us",
        "slide_us",
    )

    def __init__(
        self,
        stat: Statistic,
        *,
        size_us: int,
        slide_us: int | None = None,
        lateness_us: int = 0,
        history: int = 2,
        record: bool = False,
    ) -> None:
        slide_us = slide_us or size_us
        if size_us <= 0 or slide_us <= 0:
            raise ValueError("a window's size and slide must be positive")
        if size_us % slide_us:
            raise ValueError("a window's size must be a whole number of slides")
        self.size_us = size_us
        self.slide_us = slide_us
        self.lateness_us = lateness_us
        self.n = size_us // slide_us
        self.history = max(history, 1) * self.n + -(-lateness_us // slide_us) + 1
        self.panes: dict[int, Statistic] = {}
        self.current = stat
        self.head: int | None = None
        self.max_ts: int | None = None
        self.late = 0
        self.record = record
        self.closed: list[tuple[int, float | None]] = []
        self._head_pane: Statistic | None = None
        self._head_start = self._head_end = -1

    @property
    def start_us(self) -> int | None:
        """Start of the current window (inclusive), None before the first event."""
        return None if self.head is None else (self.head - self.n + 1) * self.slide_us

    @property
    def end_us(self) -> int | None:
        """End of the current window (exclusive), None before the first event."""
        return None if self.head is None else (self.head + 1) * self.slide_us

    @property
    def horizon_us(self) -> int | None:
        """The oldest event time still counted (the start of the oldest pane kept), None
        before the first event."""
        return None if self.head is None else (self.head - self.history + 1) * self.slide_us

    def update(self, ts_us: int, x: Any) -> bool:
        """Count `x` at event time `ts_us`; False (and not counted, but counted as late) when
        it is older than the horizon."""
        max_ts = self.max_ts
        start = self._head_start
        # Fast path: most events fall in the newest pane, which already exists.
        if start <= ts_us < self._head_end:  # both -1 while there is no head pane
            if ts_us > max_ts:  # type: ignore[operator]
                self.max_ts = ts_us
            self._head_pane.update(x)  # type: ignore[union-attr]
            self.current.update(x)
            return True
        if max_ts is None:
            self.max_ts = ts_us
            self.head = ts_us // self.slide_us
        elif ts_us > max_ts:
            self.max_ts = ts_us
            pane_no = ts_us // self.slide_us
            if pane_no > self.head:  # type: ignore[operator]
                self._move(pane_no)
        pane_no = ts_us // self.slide_us
        if pane_no <= self.head - self.history:  # type: ignore[operator]
            self.late += 1  # its pane is no longer kept: beyond the horizon
            return False
        pane = self.panes.get(pane_no)
        if pane is None:
            pane = self.panes[pane_no] = self.current.empty()
        if pane_no == self.head:
            self._head_pane = pane
            self._head_start = pane_no * self.slide_us
            self._head_end = self._head_start + self.slide_us
        pane.update(x)
        if pane_no > self.head - self.n:  # type: ignore[operator]
            self.current.update(x)
        return True

    def revert(self, ts_us: int, x: Any) -> bool:
        """Take back a value counted at `ts_us`; False when its pane is already gone."""
        pane_no = ts_us // self.slide_us
        pane = self.panes.get(pane_no)
        if pane is None or self.head is None:
            return False
        pane.revert(x)
        if pane_no > self.head - self.n:
            self.current.revert(x)
        return True

    def advance(self, ts_us: int) -> None:
        """Move event time forward to `ts_us` without a value (time passes, windows slide)."""
        if self.max_ts is None or self.head is None:
            return
        if ts_us > self.max_ts:
            self.max_ts = ts_us
            pane_no = ts_us // self.slide_us
            if pane_no > self.head:
                self._move(pane_no)

    def get(self) -> float | None:
        """The statistic over the current window."""
        return self.current.get()

    def weight(self) -> float:
        """What lies behind the current value: the events counted, or a ratio's denominator."""
        return self.current.weight()

    def previous(self, back: int = 1) -> float | None:
        """The statistic over the window `back` whole windows before the current one."""
        if self.head is None:
            return self.current.empty().get()
        stat = self.current.empty()
        last = self.head - back * self.n
        for pane_no in range(last - self.n + 1, last + 1):
            pane = self.panes.get(pane_no)
            if pane is not None:
                stat.merge(pane)
        return stat.get()

    def _move(self, pane_no: int) -> None:
        head = self.head
        assert head is not None
        if self.record:
            self.closed.append(((head + 1) * self.slide_us, self.current.get()))
        n = self.n
        if pane_no - head >= n:
            self.current = self.current.empty()
        else:
            for q in range(head - n + 1, pane_no - n + 1):
                pane = self.panes.get(q)
                if pane is not None:
                    self.current.unmerge(pane)
        self.head = pane_no
        self._head_pane = None
        self._head_start = self._head_end = -1
        oldest = pane_no - self.history
        panes = self.panes
        if pane_no - head >= self.history:
            for q in [q for q in panes if q <= oldest]:
                del panes[q]
        else:
            for q in range(head - self.history, oldest + 1):
                panes.pop(q, None)
