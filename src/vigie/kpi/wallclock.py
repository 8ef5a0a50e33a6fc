"""Local wall-clock time: where an instant falls on a time zone's calendar.

Every rule that reasons about the time of day reads it on a wall clock: an anomaly
detector's daily and weekly profiles, a `change` rule's same slot on previous days, the
time-of-day levels of `sequential` and rate-aware `absence` rules. A shop opening at 09:00 in
Paris opens at 07:00 UTC in summer and at 08:00 in winter, and its Saturday begins at the
local midnight. `WallClock.wall` adds the zone's
UTC offset to an instant, so that the local phase is the same modulo a day or a week as in
UTC. The offset is looked up once per hour of UTC time: a zone's offset changes at most once
within an hour, so an hour whose first and last instants share an offset has it throughout,
and only the hour of a change (twice a year) is looked up instant by instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from vigie.types import from_us

HOUR_US = 3_600_000_000
UTC_NAME = "UTC"
MAX_HOURS = 1 << 17  # hours of offsets kept (about fifteen years) before the memo starts over
_CHANGING = 1 << 62  # the memo's mark of an hour in which the offset changes
_MICROSECOND = timedelta(microseconds=1)


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone a company can be in, or None when it is one."""
    if name == "localtime":
        return "'localtime' is the server's zone, not the company's; use an IANA name"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r} (an IANA name such as Europe/Paris, or UTC)"
    return None


class WallClock:
    """The local time of instants in one time zone (an IANA name), DST included."""

    __slots__ = ("_hours", "_last", "name", "utc", "zone")

    def __init__(self, name: str = UTC_NAME) -> None:
        self.name = name
        self.zone = ZoneInfo(name)
        self.utc = name == UTC_NAME  # local time is the instant itself
        self._hours: dict[int, int] = {}  # UTC hour -> offset in us, or `_CHANGING`
        self._last = (-1 << 62, 0)  # the last hour looked up and its offset, read first

    def offset(self, at_us: int) -> int:
        """The zone's UTC offset at the instant `at_us`, in microseconds."""
        hour = at_us // HOUR_US
        last = self._last  # one read: another thread may replace it meanwhile
        if last[0] == hour:
            return last[1]
        offset = self._of_hour(hour)
        if offset == _CHANGING:
            return self._exact(at_us)
        self._last = (hour, offset)
        return offset

    def wall(self, at_us: int) -> int:
        """The local wall-clock time of `at_us`, as microseconds since the local epoch: its
        time of day is `wall % DAY`, its day of the week `(wall // DAY) % 7` (0: Thursday)."""
        return at_us if self.utc else at_us + self.offset(at_us)

    def walls(self, times: Sequence[int]) -> list[int]:
        """`wall` of each instant of `times`, each distinct hour looked up once."""
        if self.utc:
            return list(times)
        at = np.asarray(times, dtype=np.int64)
        hours, inverse = np.unique(at // HOUR_US, return_inverse=True)
        per_hour = np.array([self._of_hour(h) for h in hours.tolist()], dtype=np.int64)
        offsets = per_hour[inverse]
        for i in np.flatnonzero(offsets == _CHANGING).tolist():
            offsets[i] = self._exact(int(at[i]))
        walls: list[int] = (at + offsets).tolist()
        return walls

    def _of_hour(self, hour: int) -> int:
        """The offset throughout the UTC `hour`, or `_CHANGING` when it changes within."""
        offset = self._hours.get(hour)
        if offset is None:
            first = self._exact(hour * HOUR_US)
            offset = first if first == self._exact(hour * HOUR_US + HOUR_US - 1) else _CHANGING
            if len(self._hours) >= MAX_HOURS:
                self._hours.clear()
            self._hours[hour] = offset
        return offset

    def _exact(self, at_us: int) -> int:
        offset = from_us(at_us).astimezone(self.zone).utcoffset()
        return 0 if offset is None else offset // _MICROSECOND


@lru_cache(maxsize=64)
def wall_clock(name: str = UTC_NAME) -> WallClock:
    """The `WallClock` of a zone, shared by every rule in it (its memo with them)."""
    return WallClock(name)
