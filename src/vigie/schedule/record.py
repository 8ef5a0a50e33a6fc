"""The right-to-disconnect record: for a month, per person and per team, how many work
notifications were held, rerouted and delivered, and how many reached someone outside their
working time (which must be 0 but for urgent messages to a person on call).

Pure: the schedule, the month and the stored notifications in, the record out. Each
delivery is judged against the schedule as it is configured now, at the instant it was
delivered, so the record shows a changed policy honestly rather than trusting past labels.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec

from vigie.schedule.schedules import ScheduleConfig, is_on_duty, is_working


@dataclass(frozen=True)
class Delivery:
    """What the record needs of one stored notification (digests excluded)."""

    recipient: str | None
    intended_for: str
    urgent: bool
    status: str
    created_at: datetime
    delivered_at: datetime | None
    was_held: bool


class PersonRecord(msgspec.Struct, kw_only=True):
    """One person's month (or one team's, summed over its members)."""

    name: str
    kind: str
    teams: list[str]
    received: int = 0
    held: int = 0
    rerouted_away: int = 0
    covered_for_others: int = 0
    delivered_in_working_time: int = 0
    delivered_on_call_urgent: int = 0
    delivered_outside_working_time: int = 0
    undeliverable: int = 0

    @property
    def holds(self) -> bool:
        """True when nothing reached this person outside working time (on call aside)."""
        return self.delivered_outside_working_time == 0


FIELDS = (
    "received",
    "held",
    "rerouted_away",
    "covered_for_others",
    "delivered_in_working_time",
    "delivered_on_call_urgent",
    "delivered_outside_working_time",
    "undeliverable",
)


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of `month` ("YYYY-MM") and the first day of the next one."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise ValueError(f"month {month!r} must read YYYY-MM") from exc
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


def _in_month(at: datetime, location: str, first: date, after: date) -> bool:
    return first <= at.astimezone(ZoneInfo(location)).date() < after


def monthly_record(
    config: ScheduleConfig, deliveries: Iterable[Delivery], *, month: str
) -> tuple[list[PersonRecord], list[PersonRecord]]:
    """Per-person and per-team records for `month`, each month read in the person's own
    time zone; teams sum their members."""
    first, after = month_bounds(month)
    return period_record(config, deliveries, first=first, after=after)


def period_record(
    config: ScheduleConfig, deliveries: Iterable[Delivery], *, first: date, after: date
) -> tuple[list[PersonRecord], list[PersonRecord]]:
    """Per-person and per-team records for the days from `first` to before `after` (a
    month, a week), each day read in the person's own time zone; teams sum their members."""
    people = {
        p.name: PersonRecord(
            name=p.name, kind="person", teams=[t.name for t in config.teams_of(p)] or p.teams
        )
        for p in config.people
    }
    for item in deliveries:
        intended = config.person(item.intended_for)
        if intended is not None and _in_month(item.created_at, intended.location, first, after):
            people[intended.name].received += 1
            if item.recipient not in (None, intended.name):
                people[intended.name].rerouted_away += 1
        person = config.person(item.recipient or "")
        if person is None:
            continue
        row = people[person.name]
        if _in_month(item.created_at, person.location, first, after):
            row.received += intended is None
            row.covered_for_others += intended is not None and item.recipient != intended.name
            row.held += item.was_held
            row.undeliverable += item.status == "undeliverable"
        at = item.delivered_at
        if at is None or not _in_month(at, person.location, first, after):
            continue
        if is_working(config, person, at):
            row.delivered_in_working_time += 1
        elif item.urgent and is_on_duty(config, person, at):
            row.delivered_on_call_urgent += 1
        else:
            row.delivered_outside_working_time += 1
    teams: list[PersonRecord] = []
    for name in sorted({t for r in people.values() for t in r.teams}):
        total = PersonRecord(name=name, kind="team", teams=[name])
        for member in config.members(name):
            for field in FIELDS:
                setattr(total, field, getattr(total, field) + getattr(people[member.name], field))
        teams.append(total)
    return sorted(people.values(), key=lambda r: r.name), teams


def to_csv(rows: Iterable[PersonRecord]) -> str:
    """The record as CSV, one line per person or team."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "name", "teams", *FIELDS])
    for row in rows:
        counts = [getattr(row, field) for field in FIELDS]
        writer.writerow([row.kind, row.name, " ".join(row.teams), *counts])
    return out.getvalue()
