"""Seasonal baselines: a window's past values at the same slot, on the local wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vigie.events import Event
from vigie.kpi import Metric
from vigie.kpi.baselines import SeasonalBaseline
from vigie.kpi.engine import ColumnarEngine
from vigie.kpi.metrics import NO_GROUP
from vigie.kpi.reference import ReferenceEngine
from vigie.types import to_us

HOUR_US = 3_600_000_000
PARIS = ZoneInfo("Europe/Paris")


def _ten_oclock(day: int) -> int:
    """The end of the 09:00-10:00 window, Paris time, on the `day`th of March 2026."""
    return to_us(datetime(2026, 3, day, 10, tzinfo=PARIS))


@pytest.mark.parametrize("change_day", [29, 25], ids=["spring", "no-change"])
def test_the_same_slot_is_the_same_local_hour_across_a_change_of_time(change_day: int) -> None:
    """Issue 15: in Paris, the 09:00-10:00 window after the clocks go forward (29 March) is
    compared with the 09:00-10:00 windows of the days before, not with 10:00-11:00."""
    baseline = SeasonalBaseline(slot_us=HOUR_US, depth=7, timezone="Europe/Paris")
    for day in range(change_day - 3, change_day):
        baseline.add(_ten_oclock(day), float(day))
        baseline.add(_ten_oclock(day) + HOUR_US, 100.0)  # the next hour, much busier
    assert baseline.values(_ten_oclock(change_day)) == [
        float(d) for d in range(change_day - 3, change_day)
    ]


def test_in_utc_the_slot_moves_with_the_change_of_time() -> None:
    """A UTC baseline (the default) reads the same UTC hour, so after the change a Paris
    window ending at 10:00 meets the previous days' windows ending at 09:00."""
    baseline = SeasonalBaseline(slot_us=HOUR_US, depth=7)
    for day in range(26, 29):
        baseline.add(_ten_oclock(day) - HOUR_US, 50.0)  # the hour before, quieter
        baseline.add(_ten_oclock(day), float(day))
    assert baseline.values(_ten_oclock(29)) == [50.0, 50.0, 50.0]


def test_a_repeated_hour_keeps_one_value() -> None:
    """When the clocks go back (25 October), the local 02:00-03:00 hour happens twice: it is
    one slot of that day, holding the later value."""
    baseline = SeasonalBaseline(slot_us=HOUR_US, depth=7, timezone="Europe/Paris")
    first = to_us(datetime(2026, 10, 25, 1, tzinfo=UTC))  # ends 02:00-03:00, summer time
    baseline.add(first, 1.0)
    baseline.add(first + HOUR_US, 2.0)  # ends 02:00-03:00 again, winter time
    assert baseline.values(first + 25 * HOUR_US) == [2.0]  # the next day's 02:00-03:00


def _hourly_orders(days: int) -> list[Event]:
    """Orders at the start of every hour for `days` days up to the spring change of time in
    Paris, and of the hour after: each hour of day d (from 0) has d + 1 orders."""
    start = datetime(2026, 3, 29, tzinfo=UTC) - timedelta(days=days)
    events = []
    for i in range(days * 24 + 1):
        at = start + timedelta(hours=i)
        for k in range(i // 24 + 1):
            events.append(
                Event(
                    message_id=f"o{i}-{k}",
                    type="track",
                    source="web",
                    event="Order Completed",
                    timestamp=at + timedelta(seconds=k),
                    received_at=at,
                )
            )
    return events


@pytest.mark.parametrize("reference", [False, True], ids=["columnar", "reference"])
def test_rules_agreeing_on_a_calendar_share_one_history_as_deep_as_the_deepest(
    reference: bool,
) -> None:
    """Issue 15: two learnings in UTC (three and two days deep) share one history three deep,
    one in Paris keeps its own, and each is read on its own clock; a calendar no rule asked
    for reads nothing."""
    metric = Metric(name="orders", kind="count", where={"event": "Order Completed"}, window="1h")
    engine = (ReferenceEngine if reference else ColumnarEngine)(
        [metric],
        baselines={
            "orders": [("daily", 3, "UTC"), ("daily", 2, "UTC"), ("daily", 3, "Europe/Paris")]
        },
    )
    engine.ingest(_hourly_orders(days=5))
    baseline = engine.series["orders"][NO_GROUP].baseline
    assert baseline is not None
    assert set(baseline.by_calendar) == {("daily", "UTC"), ("daily", "Europe/Paris")}
    (utc,) = engine.read("orders", past=("daily", "UTC"))
    assert utc.past == (3.0, 4.0, 5.0)  # the same hour on the three days before, oldest first
    (paris,) = engine.read("orders", past=("daily", "Europe/Paris"))
    assert len(paris.past) == 3
    assert engine.read("orders", past=("weekly", "UTC"))[0].past == ()
    assert engine.read("orders")[0].past == ()
