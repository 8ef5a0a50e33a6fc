"""Flood control: a token bucket per key (a visitor, a source), on the injected clock."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime


class RateLimiter:
    """At most `per_minute` actions per key over any minute, with bursts up to that many.

    Keys idle long enough to have a full bucket are forgotten, so memory stays bounded by
    the keys active in the last minute (and by `max_keys`).
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: datetime) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds to wait."""
        t = now.timestamp()
        tokens, last = self._buckets.pop(key, (self.capacity, t))
        tokens = min(self.capacity, tokens + max(0.0, t - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, t)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, t)
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
