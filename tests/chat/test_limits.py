"""Flood control on the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.chat.limits import RateLimiter

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_a_burst_up_to_the_limit_passes_then_waits() -> None:
    """`per_minute` actions pass at once; the next one is told how long to wait."""
    limiter = RateLimiter(6)
    assert [limiter.take("v", T0) for _ in range(6)] == [0.0] * 6
    wait = limiter.take("v", T0)
    assert 9.9 < wait <= 10.0  # one token every 10 s at 6 per minute


def test_tokens_come_back_with_time_and_keys_are_separate() -> None:
    """After the wait the key may act again; another key was never limited."""
    limiter = RateLimiter(6)
    for _ in range(6):
        limiter.take("v", T0)
    assert limiter.take("w", T0) == 0.0
    assert limiter.take("v", T0 + timedelta(seconds=10)) == 0.0
    assert limiter.take("v", T0 + timedelta(seconds=10)) > 0


def test_memory_is_bounded_by_max_keys() -> None:
    """A flood of distinct keys does not grow the limiter past `max_keys`."""
    limiter = RateLimiter(6, max_keys=100)
    for i in range(1000):
        limiter.take(str(i), T0)
    assert len(limiter._buckets) == 100


def test_a_clock_set_back_does_not_lock_a_key_out() -> None:
    """A clock moved backwards (a demo, a test) gives no tokens but takes none either."""
    limiter = RateLimiter(6)
    limiter.take("v", T0 + timedelta(hours=10))
    assert limiter.take("v", T0) == 0.0
