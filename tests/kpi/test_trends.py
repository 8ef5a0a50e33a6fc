"""KPI trends: one value per time bucket, newest kept, bounded length."""

from __future__ import annotations

from vigie.kpi.trends import Trends


def _row(value: object, group: str = "") -> dict[str, object]:
    return {"metric": "orders", "group": group, "value": value}


def test_one_point_per_bucket_the_newest_wins() -> None:
    """Samples within one bucket replace each other; a new bucket appends."""
    trends = Trends(bucket_us=10, points=5)
    trends.record(100, [_row(1)])
    trends.record(105, [_row(2)])
    trends.record(110, [_row(3)])
    assert trends.series("orders", "") == [2.0, 3.0]


def test_series_are_bounded_and_per_group() -> None:
    """Only the last `points` values are kept, separately for each group."""
    trends = Trends(bucket_us=1, points=3)
    for at in range(6):
        trends.record(at, [_row(at, "a"), _row(None, "b")])
    assert trends.series("orders", "a") == [3.0, 4.0, 5.0]
    assert trends.series("orders", "b") == [None, None, None]
    assert trends.series("orders", "c") == []


def test_a_late_sample_does_not_rewrite_history() -> None:
    """A sample older than the newest point is ignored."""
    trends = Trends(bucket_us=10, points=5)
    trends.record(200, [_row(1)])
    trends.record(100, [_row(9)])
    assert trends.series("orders", "") == [1.0]
