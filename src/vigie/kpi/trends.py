"""Recent values of each KPI, sampled as the dashboard runs, for the tiles' sparklines."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

BUCKET_US = 10_000_000
POINTS = 60


class Trends:
    """The last `points` values of every (metric, group), one per `bucket_us` of time.

    Sampling twice in the same bucket keeps the newest value, so it does not matter how
    often the KPIs are read.
    """

    def __init__(self, *, bucket_us: int = BUCKET_US, points: int = POINTS) -> None:
        self.bucket_us = bucket_us
        self.points = points
        self._series: dict[tuple[str, str], deque[tuple[int, float | None]]] = {}
        self._lock = threading.Lock()

    def record(self, at_us: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """Sample the KPI rows (`metric`, `group`, `value`) read at `at_us`."""
        bucket = at_us // self.bucket_us
        with self._lock:
            for row in rows:
                key = (str(row["metric"]), str(row["group"]))
                value = row.get("value")
                point = (bucket, float(value) if isinstance(value, int | float) else None)
                series = self._series.setdefault(key, deque(maxlen=self.points))
                if series and series[-1][0] == bucket:
                    series[-1] = point
                elif not series or series[-1][0] < bucket:
                    series.append(point)

    def series(self, metric: str, group: str) -> list[float | None]:
        """The sampled values of one KPI, oldest first."""
        with self._lock:
            return [value for _, value in self._series.get((metric, group), ())]
