"""A batch of events as columns for the KPI engine, read once and shared by its metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from operator import attrgetter
from typing import Any, cast

import numpy as np

from vigie.events import Event
from vigie.kpi.metrics import number
from vigie.kpi.panes import NONE, Bools, Floats, Ints
from vigie.types import EPOCH, MICROSECOND

# Within this many seconds of the epoch, whole microseconds map to distinct floats of
# seconds (a float's step stays under a microsecond), so a float names one microsecond.
EXACT_SECONDS = float(1 << 32)
_properties = attrgetter("properties")


def stamps_us(moments: list[datetime]) -> Ints:
    """Event times (aware datetimes) as exact microseconds since the Unix epoch.

    `datetime.timestamp()` is a C call that returns the exact microseconds divided by a
    million, correctly rounded; near the epoch that float names a single microsecond, found
    among the neighbours of `round(seconds * 1e6)` by dividing back. Times too far from the
    epoch are computed exactly with `timedelta` arithmetic. (Ingestion makes event times
    aware; a naive one would be read in local time here, where `timedelta` arithmetic raises.)
    """
    seconds = np.fromiter(map(datetime.timestamp, moments), np.float64, len(moments))
    near = np.abs(seconds) < EXACT_SECONDS
    guess = np.rint(np.where(near, seconds, 0.0) * 1e6).astype(np.int64)
    us = guess.copy()
    wrong = guess / 1e6 != seconds
    for step in (-1, 1, -2, 2):
        if not wrong.any():
            break
        at = np.flatnonzero(wrong)
        right = (guess[at] + step) / 1e6 == seconds[at]
        us[at[right]] = guess[at[right]] + step
        wrong[at[right]] = False
    if wrong.any():
        at = np.flatnonzero(wrong)
        us[at] = [(moments[i] - EPOCH) // MICROSECOND for i in at.tolist()]
    return us


class GroupKeys:
    """The group keys of one `by` seen so far, numbered in order of first appearance."""

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def id(self, key: str) -> int:
        """The number of `key`, given one if it is new."""
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.names)
            self.names.append(key)
        return found


class Batch:
    """One batch's columns, read from its events at most once and shared by the metrics."""

    def __init__(self, events: list[Event], codes: Ints, stamps: Ints):
        self.events = events
        self.codes = codes
        self.stamps = stamps
        self.kids: dict[tuple[str, ...], Ints] = {}
        self._values: dict[str, tuple[Floats, Bools | None]] = {}
        self._properties: list[dict[str, Any]] | None = None
        self._frozen: Any = None
        self._stamp_list: list[int] | None = None
        self._before: Ints | None = None

    @property
    def names(self) -> list[str]:
        """The events' names."""
        return [e.event or e.name or "" for e in self.events]

    @property
    def properties(self) -> list[dict[str, Any]]:
        """The events' properties."""
        if self._properties is None:
            self._properties = properties_of(self.events)
        return self._properties

    @property
    def frozen(self) -> Sequence[Event]:
        """The events as a numpy object array: what the tables hold on to for a series'
        last events. The caller's list could change; and unlike a tuple, an array is not
        walked by the garbage collector (a tuple of a batch's events would be, 1,000 events
        at a time, for as long as it is young)."""
        if self._frozen is None:
            self._frozen = np.fromiter(self.events, object, len(self.events))
        return cast("Sequence[Event]", self._frozen)  # indexed and measured like one

    @property
    def stamp_list(self) -> list[int]:
        if self._stamp_list is None:
            self._stamp_list = self.stamps.tolist()
        return self._stamp_list

    @property
    def before(self) -> Ints:
        """Per event, the newest event time of the events before it in the batch."""
        if self._before is None:
            before = np.empty_like(self.stamps)
            before[0] = NONE
            np.maximum.accumulate(self.stamps[:-1], out=before[1:])
            self._before = before
        return self._before

    def values(self, key: str) -> tuple[Floats, Bools | None]:
        """`properties.<key>` of every event as a number (NaN where absent), and where it is
        present (None when it is present everywhere)."""
        found = self._values.get(key)
        if found is None:
            try:
                xs = list(map(dict.get, self.properties, repeat(key)))
            except TypeError:  # properties that are not a dict
                xs = [p.get(key) for p in self.properties]
            if set(map(type, xs)) == {float}:
                found = self._values[key] = (np.array(xs, np.float64), None)
                return found
            xs = [x if type(x) is float else number(x) for x in xs]
            present = np.array([x is not None for x in xs]) if None in xs else None
            found = self._values[key] = (np.array(xs, np.float64), present)
        return found


def properties_of(events: list[Event]) -> list[dict[str, Any]]:
    """The properties of each event."""
    return list(map(_properties, events))


class Cohort:
    """Table metrics fed together (one table, one `by`): per member and event name code,
    whether it takes the event and, for contributions fixed by the name, the totals (a, b);
    per property read, which members take their value from it."""

    def __init__(self, names: list[str], codes: int) -> None:
        self.names = names
        self.takes: Bools = np.zeros((len(names), codes), np.bool_)
        self.a: Floats = np.zeros((len(names), codes))
        self.b: Floats = np.zeros((len(names), codes))
        self.properties: dict[str, Bools] = {}
        self.kept = False
