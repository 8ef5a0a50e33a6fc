"""Who gets a notification, and when: the decision the right to disconnect takes.

A person at work gets it now. A person off duty gets it at the start of their next working
period (HELD), unless it is urgent: then it goes to a teammate on duty (REROUTED), never to
the person off duty. Pure: configuration and an instant in, decisions out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from vigie.schedule.schedules import (
    Channel,
    Person,
    ScheduleConfig,
    channels,
    is_on_duty,
    is_working,
    next_working_instant,
    on_holiday,
)

Outcome = Literal["deliver", "hold", "reroute", "undeliverable"]
Requires = Literal["working", "on_duty"]


class Decision(msgspec.Struct, kw_only=True):
    """What happens to a notification for one recipient, and why (kept in the audit)."""

    outcome: Outcome
    intended_for: str
    recipient: str | None
    deliver_at: datetime | None
    reason: str
    channels: list[Channel] = []
    requires: Requires = "working"
    """What the recipient must still be at delivery time: working, or on duty (on call
    counts) for an urgent message."""


def decide(config: ScheduleConfig, *, recipient: str, urgent: bool, at: datetime) -> list[Decision]:
    """Decisions for a notification to `recipient` (a person or a team) created at `at`."""
    person = config.person(recipient)
    if person is not None:
        return [_for_person(config, person, urgent=urgent, at=at)]
    if config.team(recipient) is not None or config.members(recipient):
        return _for_team(config, recipient, urgent=urgent, at=at)
    return [
        Decision(
            outcome="undeliverable",
            intended_for=recipient,
            recipient=None,
            deliver_at=None,
            reason=f"{recipient!r} is neither a person nor a team of schedule:",
        )
    ]


def _deliver(config: ScheduleConfig, person: Person, intended: str, at: datetime) -> Decision:
    return Decision(
        outcome="deliver",
        intended_for=intended,
        recipient=person.name,
        deliver_at=at,
        reason=f"{person.name} is working",
        channels=channels(config, person),
    )


def _hold(
    config: ScheduleConfig, person: Person, intended: str, at: datetime, why: str
) -> Decision:
    when = next_working_instant(config, person, at)
    if when is None:
        return Decision(
            outcome="undeliverable",
            intended_for=intended,
            recipient=person.name,
            deliver_at=None,
            reason=f"{person.name} has no working period within a year",
        )
    return Decision(
        outcome="hold",
        intended_for=intended,
        recipient=person.name,
        deliver_at=when,
        reason=why,
        channels=channels(config, person),
    )


def _duty_channels(config: ScheduleConfig, person: Person, at: datetime) -> list[Channel]:
    """Channels for an urgent message to `person` on duty: their personal channels opted in
    for on-call only count when they are on call rather than working."""
    return channels(config, person, urgent_on_call=not is_working(config, person, at))


def _on_duty(
    config: ScheduleConfig, teams: list[str], at: datetime, *, exclude: str
) -> Person | None:
    """The first teammate on duty at `at`, people on call first."""
    candidates: list[Person] = []
    for team in teams:
        candidates += [m for m in config.members(team) if m.name != exclude and m not in candidates]
    on_call = [p for p in candidates if config.on_call_of(p) and is_on_duty(config, p, at)]
    if on_call:
        return on_call[0]
    return next((p for p in candidates if is_working(config, p, at)), None)


def _for_person(config: ScheduleConfig, person: Person, *, urgent: bool, at: datetime) -> Decision:
    if is_working(config, person, at):
        return _deliver(config, person, person.name, at)
    if urgent and is_on_duty(config, person, at):
        return Decision(
            outcome="deliver",
            intended_for=person.name,
            recipient=person.name,
            deliver_at=at,
            reason=f"urgent; {person.name} is on call",
            channels=channels(config, person, urgent_on_call=True),
            requires="on_duty",
        )
    if urgent:
        teams = [t.name for t in config.teams_of(person)] + person.teams
        stand_in = _on_duty(config, list(dict.fromkeys(teams)), at, exclude=person.name)
        if stand_in is not None:
            return Decision(
                outcome="reroute",
                intended_for=person.name,
                recipient=stand_in.name,
                deliver_at=at,
                reason=f"urgent; {person.name} is off duty, {stand_in.name} is on duty",
                channels=_duty_channels(config, stand_in, at),
                requires="on_duty",
            )
        return _hold(
            config,
            person,
            person.name,
            at,
            f"urgent, but nobody on duty; {person.name} is off duty",
        )
    return _hold(config, person, person.name, at, f"{person.name} is off duty")


def _for_team(config: ScheduleConfig, team: str, *, urgent: bool, at: datetime) -> list[Decision]:
    members = config.members(team)
    working = [m for m in members if is_working(config, m, at)]
    if working:
        return [_deliver(config, m, team, at) for m in working]
    if urgent:
        stand_in = _on_duty(config, [team], at, exclude="")
        if stand_in is not None:
            return [
                Decision(
                    outcome="reroute",
                    intended_for=team,
                    recipient=stand_in.name,
                    deliver_at=at,
                    reason=f"urgent; nobody of {team} is working, {stand_in.name} is on duty",
                    channels=_duty_channels(config, stand_in, at),
                    requires="on_duty",
                )
            ]
    holds = [_hold(config, m, team, at, f"nobody of {team} is working") for m in members]
    held = [d for d in holds if d.outcome == "hold" and d.deliver_at is not None]
    if not held:
        return [
            Decision(
                outcome="undeliverable",
                intended_for=team,
                recipient=None,
                deliver_at=None,
                reason=f"team {team} has no member with working hours",
            )
        ]
    first = min(d.deliver_at for d in held if d.deliver_at is not None)
    return [d for d in held if d.deliver_at == first]


class Explanation(msgspec.Struct, kw_only=True):
    """Why a person may or may not be reached at an instant (`vigie schedule explain`)."""

    person: str
    location: str
    at: datetime
    policy: str
    policy_reason: str
    working_hours: list[str]
    working_hours_from: str
    on_holiday: bool
    working: bool
    on_call: bool
    next_working: datetime | None
    channels: list[Channel]
    decision: Decision


def explain(config: ScheduleConfig, *, person: str, at: datetime, urgent: bool) -> Explanation:
    """Which policy governs `person`, whether they are working or on call at `at`, and the
    decision `decide` takes for a message to them (raises KeyError for an unknown person)."""
    found = config.person(person)
    if found is None:
        raise KeyError(person)
    policy, why = config.policy_of(found)
    hours = config.working_hours_of(found)
    source = "their own" if found.working_hours else ("their teams'" if hours else "none")
    working = is_working(config, found, at)
    on_call = bool(config.on_call_of(found)) and not working and is_on_duty(config, found, at)
    (decision,) = decide(config, recipient=person, urgent=urgent, at=at)
    return Explanation(
        person=found.name,
        location=found.location,
        at=at,
        policy=policy.name,
        policy_reason=why,
        working_hours=hours,
        working_hours_from=source,
        on_holiday=on_holiday(found, at),
        working=working,
        on_call=on_call,
        next_working=None if working else next_working_instant(config, found, at),
        channels=decision.channels,
        decision=decision,
    )
