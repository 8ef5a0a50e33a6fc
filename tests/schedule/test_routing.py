"""The right to disconnect: deliver now, hold until the next working period, or reroute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.schedule import (
    NamedInterval,
    Person,
    ScheduleConfig,
    TimeInterval,
    TimeRange,
    decide,
    is_working,
)

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_a_person_at_work_gets_it_now(company: ScheduleConfig) -> None:
    """At 10:00 on a Tuesday Marie receives the message at once."""
    at = datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS)
    (decision,) = decide(company, recipient="marie", urgent=False, at=at)
    assert (decision.outcome, decision.recipient, decision.deliver_at) == ("deliver", "marie", at)


def test_after_hours_it_is_held_until_the_next_morning(company: ScheduleConfig) -> None:
    """At 17:30 a message for Marie is held until 08:00 the next day."""
    at = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
    (decision,) = decide(company, recipient="marie", urgent=False, at=at)
    assert decision.outcome == "hold"
    assert decision.deliver_at == datetime(2026, 11, 25, 8, 0, tzinfo=BRUSSELS)


def test_urgent_goes_to_the_person_on_duty_never_to_the_one_off_duty(
    company: ScheduleConfig,
) -> None:
    """An urgent message for Marie at 17:30 goes to Omar, on call, and not to Marie."""
    at = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
    decisions = decide(company, recipient="marie", urgent=True, at=at)
    assert [(d.outcome, d.recipient) for d in decisions] == [("reroute", "omar")]
    assert decisions[0].intended_for == "marie"


def test_personal_channels_are_not_used_for_work(company: ScheduleConfig) -> None:
    """Omar's personal phone is left out: work channels only."""
    at = datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS)
    (decision,) = decide(company, recipient="marie", urgent=True, at=at)
    assert [c.type for c in decision.channels] == ["email"]


def test_urgent_with_nobody_on_duty_is_held(company: ScheduleConfig) -> None:
    """Without Omar nobody is on call: an urgent message for Lea at 20:00 is held for her."""
    company.people = [p for p in company.people if p.name != "omar"]
    at = datetime(2026, 11, 24, 20, 0, tzinfo=BRUSSELS)
    (decision,) = decide(company, recipient="lea", urgent=True, at=at)
    assert decision.outcome == "hold" and decision.recipient == "lea"


def test_a_team_message_goes_to_its_working_members(company: ScheduleConfig) -> None:
    """A message for the support team at 10:00 reaches both members at work."""
    at = datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS)
    decisions = decide(company, recipient="support", urgent=False, at=at)
    assert sorted(d.recipient or "" for d in decisions) == ["lea", "omar"]


def test_unknown_recipient_is_undeliverable(company: ScheduleConfig) -> None:
    """A recipient nobody knows is reported, not silently dropped."""
    (decision,) = decide(company, recipient="ghost", urgent=False, at=datetime.now(UTC))
    assert decision.outcome == "undeliverable"


_minutes = st.integers(min_value=0, max_value=23 * 60)


@st.composite
def _schedules(draw: st.DrawFn) -> ScheduleConfig:
    start = draw(_minutes)
    length = draw(st.integers(min_value=15, max_value=24 * 60 - start))
    end = start + length
    days = draw(
        st.lists(
            st.sampled_from(
                ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            ),
            min_size=1,
            max_size=7,
        )
    )
    location = draw(st.sampled_from(["Europe/Brussels", "America/New_York", "Asia/Kolkata"]))
    hours = NamedInterval(
        name="hours",
        time_intervals=[
            TimeInterval(
                weekdays=days,
                times=[
                    TimeRange(
                        start_time=f"{start // 60:02d}:{start % 60:02d}",
                        end_time=f"{end // 60:02d}:{end % 60:02d}",
                    )
                ],
                location=location,
            )
        ],
    )
    person = Person(name="p", working_hours=["hours"], location=location)
    return ScheduleConfig(time_intervals=[hours], people=[person])


@settings(max_examples=60, deadline=None)
@given(
    config=_schedules(),
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_a_delivery_always_lands_inside_working_hours(config: ScheduleConfig, at: datetime) -> None:
    """Whatever the schedule and the instant, a decided delivery time is a working instant
    of the recipient, and never earlier than the message."""
    for decision in decide(config, recipient="p", urgent=False, at=at):
        if decision.outcome == "undeliverable":
            continue
        assert decision.deliver_at is not None and decision.deliver_at >= at
        person = config.person("p")
        assert person is not None
        assert is_working(config, person, decision.deliver_at)
        assert decision.deliver_at - at < timedelta(days=8)


def test_a_team_rota_and_team_hours_apply(company: ScheduleConfig) -> None:
    """A member without hours follows the team's; the team's rota reroutes urgent messages."""
    from vigie.schedule import OnCallShift, Team

    company.people.append(Person(name="nina", teams=["night-desk"]))
    company.time_intervals.append(
        NamedInterval(
            name="late",
            time_intervals=[
                TimeInterval(
                    times=[TimeRange(start_time="12:00", end_time="24:00")],
                    location="Europe/Brussels",
                )
            ],
        )
    )
    company.teams.append(
        Team(
            name="night-desk",
            working_hours=["late"],
            on_call=[OnCallShift(person="lea", intervals=["late"])],
        )
    )
    morning = datetime(2026, 11, 24, 9, 0, tzinfo=BRUSSELS)
    (held,) = decide(company, recipient="nina", urgent=False, at=morning)
    assert held.outcome == "hold"
    assert held.deliver_at == datetime(2026, 11, 24, 12, 0, tzinfo=BRUSSELS)
    evening = datetime(2026, 11, 24, 20, 0, tzinfo=BRUSSELS)
    (urgent,) = decide(company, recipient="nina", urgent=True, at=evening)
    assert (urgent.outcome, urgent.recipient) == ("reroute", "lea")
