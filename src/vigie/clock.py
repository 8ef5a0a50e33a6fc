"""Injected clocks: domain code asks one of these for the time, never `datetime.now()`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, for production."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to, for tests, demos and backtests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime (with a time zone)")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now = self._now + delta


class ShiftedClock:
    """The wall clock moved to a chosen instant and running on from it at real speed: the
    demo plays each scene at the time of day it tells of (the 12:20 checkout break)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def move_to(self, moment: datetime) -> None:
        """From now on, the time is `moment` and runs on from there."""
        if moment.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime (with a time zone)")
        with self._lock:
            self._offset = moment - datetime.now(UTC)
