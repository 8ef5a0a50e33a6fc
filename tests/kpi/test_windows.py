"""Sliding and tumbling event-time windows against a batch computation on random streams."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.kpi.stats import Count, DistinctCount, Quantile, Sum
from vigie.kpi.windows import Window

# (event time, value): small times so that window edges, lateness and gaps all happen.
Streams = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 9)), max_size=120)
Shapes = st.sampled_from([(10, 10), (30, 10), (60, 20), (40, 5), (7, 1)])


def _reference(
    stream: list[tuple[int, int]], size: int, slide: int, lateness: int
) -> tuple[list[tuple[int, int]], int, int]:
    """The events a window must keep, and its current [start, end) computed in one pass:
    an event is refused when its slide is as many slides behind the newest event's as the
    window keeps (two windows, the lateness rounded up to slides, and one)."""
    kept = 2 * (size // slide) + -(-lateness // slide) + 1
    accepted: list[tuple[int, int]] = []
    max_ts: int | None = None
    for ts, x in stream:
        if max_ts is not None and ts // slide <= max_ts // slide - kept:
            continue
        max_ts = ts if max_ts is None else max(max_ts, ts)
        accepted.append((ts, x))
    assert max_ts is not None
    end = (max_ts // slide + 1) * slide
    return accepted, end - size, end


@settings(max_examples=200)
@given(stream=Streams, shape=Shapes, lateness=st.integers(0, 50))
def test_count_and_sum_match_batch(
    stream: list[tuple[int, int]], shape: tuple[int, int], lateness: int
) -> None:
    """Count and sum of the current window equal a batch count over the kept events."""
    size, slide = shape
    counted = Window(Count(), size_us=size, slide_us=slide, lateness_us=lateness)
    summed = Window(Sum(), size_us=size, slide_us=slide, lateness_us=lateness)
    for ts, x in stream:
        counted.update(ts, x)
        summed.update(ts, x)
    if not stream:
        assert counted.get() == 0
        return
    accepted, start, end = _reference(stream, size, slide, lateness)
    inside = [x for ts, x in accepted if start <= ts < end]
    assert (counted.start_us, counted.end_us) == (start, end)
    assert counted.get() == len(inside)
    assert summed.get() == sum(inside)
    assert counted.late == len(stream) - len(accepted)


@settings(max_examples=150)
@given(stream=Streams, shape=Shapes, lateness=st.integers(0, 50))
def test_previous_window_matches_batch(
    stream: list[tuple[int, int]], shape: tuple[int, int], lateness: int
) -> None:
    """The previous whole window is the batch result over [start - size, start)."""
    size, slide = shape
    window = Window(DistinctCount(), size_us=size, slide_us=slide, lateness_us=lateness)
    for ts, x in stream:
        window.update(ts, x)
    if not stream:
        return
    accepted, start, _ = _reference(stream, size, slide, lateness)
    before = {x for ts, x in accepted if start - size <= ts < start}
    assert window.previous() == len(before)


@settings(max_examples=150)
@given(stream=Streams, shape=Shapes, jump=st.integers(0, 200))
def test_advance_drops_old_events(
    stream: list[tuple[int, int]], shape: tuple[int, int], jump: int
) -> None:
    """Moving time forward without events keeps only events inside the new window."""
    size, slide = shape
    window = Window(Quantile(0.5), size_us=size, slide_us=slide, lateness_us=1000)
    for ts, x in stream:
        window.update(ts, x)
    if not stream:
        return
    now = max(ts for ts, _ in stream) + jump
    window.advance(now)
    end = (now // slide + 1) * slide
    inside = [x for ts, x in stream if end - size <= ts < end]
    expected: Any = float(np.quantile(inside, 0.5)) if inside else None
    got = window.get()
    assert (got is None and expected is None) or abs(got - expected) < 1e-9  # type: ignore[operator]


def test_revert_takes_back_a_value() -> None:
    """Reverting an event's value removes it from its pane and the current window."""
    window = Window(Sum(), size_us=60, slide_us=10)
    window.update(5, 3.0)
    window.update(15, 4.0)
    assert window.revert(5, 3.0)
    assert window.get() == 4.0


def test_tumbling_window_starts_fresh() -> None:
    """A tumbling window forgets the previous window's events at its boundary."""
    window = Window(Count(), size_us=60, lateness_us=0)
    for ts in (0, 10, 59):
        window.update(ts, None)
    assert window.get() == 3
    window.update(60, None)
    assert (window.get(), window.previous()) == (1, 3)


def test_an_event_counts_whatever_its_arrival_order_within_the_horizon() -> None:
    """Issue 14: ten events within a few minutes, shuffled, count ten; one older than the
    panes kept is counted late instead."""
    window = Window(Count(), size_us=600, slide_us=60, lateness_us=60)  # keeps 22 slides
    for ts in (900, 700, 950, 610, 899, 720, 805, 640, 930, 660):
        window.update(ts, None)
    assert (window.get(), window.late) == (10, 0)
    assert window.horizon_us == (15 - 22 + 1) * 60
    assert not window.update(window.horizon_us - 1, None)
    assert (window.get(), window.late) == (10, 1)


def test_size_must_be_whole_slides() -> None:
    """A window of 15 units cannot slide by 4."""
    import pytest

    with pytest.raises(ValueError, match="whole number of slides"):
        Window(Count(), size_us=15, slide_us=4)
