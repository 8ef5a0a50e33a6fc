"""Per-source request rates: a token bucket per write key, on the injected clock.

A source with `rate_limit` set may send that many requests per second on average, and up
to `burst` at once; past it, ingestion answers 429 with `Retry-After` and stores nothing,
so that one noisy sender cannot take the writer from the others.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from vigie.clock import Clock


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, last: datetime) -> None:
        self.tokens = tokens
        self.last = last


class SourceRates:
    """Token buckets per source name (thread-safe)."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def retry_after(self, source: str, *, rate: float, burst: int) -> int | None:
        """Take one request from `source`'s bucket: None when allowed, else the seconds to
        wait for the next token."""
        now = self._clock.now()
        with self._lock:
            bucket = self._buckets.get(source)
            if bucket is None:
                bucket = self._buckets[source] = _Bucket(float(burst), now)
            elapsed = max(0.0, (now - bucket.last).total_seconds())
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
            bucket.last = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))
