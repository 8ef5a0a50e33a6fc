"""Alertmanager-shaped time intervals turned into UTC segments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from vigie.schedule.intervals import (
    IntervalError,
    TimeInterval,
    TimeRange,
    day_matches,
    intersect,
    segments,
    subtract,
    validate,
)


def test_weekday_ranges_and_names() -> None:
    """ "monday:friday" covers the working week and not the weekend."""
    interval = TimeInterval(weekdays=["monday:friday"])
    assert day_matches(interval, date(2026, 11, 27))  # a Friday
    assert not day_matches(interval, date(2026, 11, 28))  # a Saturday


def test_negative_day_of_month_counts_from_the_end() -> None:
    """days_of_month -1 is the last day of each month, 28 February included."""
    interval = TimeInterval(days_of_month=["-1"])
    assert day_matches(interval, date(2026, 2, 28))
    assert not day_matches(interval, date(2026, 2, 27))
    assert day_matches(interval, date(2026, 4, 30))


def test_months_by_name_or_number() -> None:
    """months accepts names and numbers, and ranges of both."""
    assert day_matches(TimeInterval(months=["june:august"]), date(2026, 7, 14))
    assert not day_matches(TimeInterval(months=["1:3"]), date(2026, 7, 14))


def test_a_day_of_spring_forward_lasts_23_hours_in_brussels() -> None:
    """A whole day on 29 March 2026 in Europe/Brussels is 23 hours long (DST starts)."""
    interval = TimeInterval(days_of_month=["29"], months=["march"], location="Europe/Brussels")
    spans = segments(interval, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert len(spans) == 1
    assert spans[0][1] - spans[0][0] == timedelta(hours=23)


def test_times_are_wall_clock_on_both_sides_of_dst() -> None:
    """08:00 Brussels is 07:00 UTC in winter and 06:00 UTC in summer."""
    interval = TimeInterval(
        times=[TimeRange(start_time="08:00", end_time="17:00")], location="Europe/Brussels"
    )
    spans = segments(interval, datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    starts = {s.date(): s.hour for s, _ in spans}
    assert starts[date(2026, 3, 27)] == 7
    assert starts[date(2026, 3, 30)] == 6


def test_intersect_and_subtract() -> None:
    """Segment algebra: the overlap of two spans, and a span with a hole cut out."""
    t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(10)]
    assert intersect([(t[0], t[5])], [(t[3], t[8])]) == [(t[3], t[5])]
    assert subtract([(t[0], t[9])], [(t[2], t[4])]) == [(t[0], t[2]), (t[4], t[9])]


@pytest.mark.parametrize(
    "interval",
    [
        TimeInterval(weekdays=["funday"]),
        TimeInterval(times=[TimeRange(start_time="18:00", end_time="09:00")]),
        TimeInterval(times=[TimeRange(start_time="25:00", end_time="26:00")]),
        TimeInterval(location="Mars/Olympus"),
    ],
)
def test_malformed_intervals_are_refused(interval: TimeInterval) -> None:
    """A malformed weekday, time range or location raises an error naming it."""
    with pytest.raises(IntervalError):
        validate(interval)
