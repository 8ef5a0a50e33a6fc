"""A rep's next working time."""

from __future__ import annotations

from datetime import UTC, datetime

from vigie.ai.reps import Rep


def test_at_work_means_now() -> None:
    """During working hours the task is due at once."""
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday 11:00 in Brussels
    assert Rep(name="a").next_working_time(now) == now


def test_evening_waits_for_the_next_morning() -> None:
    """After hours the task waits for the next working day's start, in the rep's zone."""
    now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # Monday 19:00 in Brussels
    assert Rep(name="a").next_working_time(now) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_tasks_spread_over_working_hours() -> None:
    """A rep's tasks are spaced through the day and spill into the next working day."""
    rep = Rep(name="a", capacity=4, start="09:00", end="17:00")
    now = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # Friday 15:00 in Brussels
    times = rep.task_times(now, 3)
    assert times[0] == now
    assert times[1] == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 17:00 is closing: Monday 09:00
    assert times[2] == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # two hours later


def test_weekend_waits_for_monday_in_another_zone() -> None:
    """A rep in Montreal gets Saturday's lead on Monday at 08:00 Montreal time."""
    rep = Rep(name="b", timezone="America/Montreal", start="08:00", end="16:00")
    now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    assert rep.next_working_time(now) == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
