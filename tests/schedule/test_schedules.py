"""Working hours, holidays, the company policy and the next working instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigie.schedule import (
    ScheduleConfig,
    after_working_time,
    is_on_duty,
    is_working,
    next_working_instant,
)
from vigie.schedule.schedules import check

BRUSSELS = ZoneInfo("Europe/Brussels")


def _person(company: ScheduleConfig, name: str):  # type: ignore[no-untyped-def]
    person = company.person(name)
    assert person is not None
    return person


def test_policy_ends_the_day_at_17_even_if_the_office_closes_at_18(company: ScheduleConfig) -> None:
    """The company policy (no work messages after 17:00) cuts a person's own hours."""
    marie = _person(company, "marie")
    assert is_working(company, marie, datetime(2026, 11, 24, 16, 59, tzinfo=BRUSSELS))
    assert not is_working(company, marie, datetime(2026, 11, 24, 17, 0, tzinfo=BRUSSELS))


def test_held_over_a_night(company: ScheduleConfig) -> None:
    """At 17:30 on a Tuesday the next working instant is Wednesday 08:00."""
    marie = _person(company, "marie")
    after = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
    assert next_working_instant(company, marie, after) == datetime(
        2026, 11, 25, 8, 0, tzinfo=BRUSSELS
    )


def test_held_over_a_weekend(company: ScheduleConfig) -> None:
    """On Friday evening the next working instant is Monday 08:00."""
    marie = _person(company, "marie")
    after = datetime(2026, 11, 27, 19, 0, tzinfo=BRUSSELS)
    assert next_working_instant(company, marie, after) == datetime(
        2026, 11, 30, 8, 0, tzinfo=BRUSSELS
    )


def test_held_over_the_weekend_daylight_saving_starts(company: ScheduleConfig) -> None:
    """Friday 27 March 2026 evening -> Monday 30 March 08:00 CEST, i.e. 06:00 UTC."""
    marie = _person(company, "marie")
    found = next_working_instant(company, marie, datetime(2026, 3, 27, 17, 30, tzinfo=BRUSSELS))
    assert found == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_held_over_the_night_daylight_saving_ends(company: ScheduleConfig) -> None:
    """Friday 23 October 2026 evening -> Monday 26 October 08:00 CET, i.e. 07:00 UTC."""
    marie = _person(company, "marie")
    found = next_working_instant(company, marie, datetime(2026, 10, 23, 18, 0, tzinfo=BRUSSELS))
    assert found == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)


def test_holidays_are_skipped(company: ScheduleConfig) -> None:
    """Marie's Christmas holidays (24-26 December) push the next instant to the 28th."""
    marie = _person(company, "marie")
    found = next_working_instant(company, marie, datetime(2026, 12, 23, 17, 30, tzinfo=BRUSSELS))
    assert found == datetime(2026, 12, 28, 8, 0, tzinfo=BRUSSELS)


def test_on_call_duty_covers_the_evening(company: ScheduleConfig) -> None:
    """Omar is not working at 17:30 but is on duty, as his on-call interval covers it."""
    omar = _person(company, "omar")
    at = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
    assert not is_working(company, omar, at)
    assert is_on_duty(company, omar, at)


def test_unknown_references_are_reported(company: ScheduleConfig) -> None:
    """A person naming an interval that does not exist is a problem with its key path."""
    _person(company, "lea").working_hours.append("nights")
    problems = check(company)
    assert (
        ["schedule", "people", 2, "working_hours", 1],
        "'nights' is not a name under schedule.time_intervals",
    ) in problems


def test_a_task_due_in_30_minutes_at_16_50_is_due_the_next_morning(
    company: ScheduleConfig,
) -> None:
    """Issue 21: ten minutes are left on Tuesday (the policy ends the day at 17:00), the other
    twenty are taken on Wednesday from 08:00; on Friday evening the task waits for Monday."""
    marie = _person(company, "marie")
    tuesday = datetime(2026, 11, 24, 16, 50, tzinfo=BRUSSELS)
    assert after_working_time(company, marie, tuesday, 30) == datetime(
        2026, 11, 25, 8, 20, tzinfo=BRUSSELS
    )
    saturday_night = datetime(2026, 11, 28, 0, 20, tzinfo=BRUSSELS)
    assert after_working_time(company, marie, saturday_night, 0) == datetime(
        2026, 11, 30, 8, 0, tzinfo=BRUSSELS
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 11, 20), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ).map(lambda t: t.replace(second=0, microsecond=0)),
    minutes=st.integers(min_value=0, max_value=900),
)
def test_working_time_after_counts_only_working_minutes(
    company: ScheduleConfig, start: datetime, minutes: int
) -> None:
    """The due instant is a working one, and exactly `minutes` working minutes (counted one
    by one with `is_working`) lie between the start and it."""
    marie = _person(company, "marie")
    due = after_working_time(company, marie, start, minutes)
    assert due is not None and is_working(company, marie, due)
    counted, at = 0, start
    while counted < minutes or not is_working(company, marie, at):
        if is_working(company, marie, at):
            counted += 1
        at += timedelta(minutes=1)
    assert due == at
