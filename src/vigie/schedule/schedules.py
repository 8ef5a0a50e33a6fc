"""People, teams, the company policy, and when each person may be reached.

The right to disconnect is computed here, purely: plain data and an instant in, the next
instant a person may receive work messages out. No clock is read; callers pass `at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal

import msgspec

from vigie.schedule.intervals import (
    IntervalError,
    NamedInterval,
    Segment,
    TimeInterval,
    TimeRange,
    contains,
    intersect,
    merge,
    subtract,
    union,
    validate,
    zone,
)

ChannelType = Literal["email", "app", "sms", "push"]
SEARCH_DAYS = 400
"""How far ahead the next working instant is searched (a year and some holidays)."""
_STEP = timedelta(days=14)


class Channel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A way to reach a person; `work: false` marks a personal device or address.

    A personal channel never carries work messages, unless the person opted in with
    `urgent_on_call: true`: then it carries urgent messages while they are on call, and
    nothing else. `app` is the dashboard's inbox; `sms` and `push` go through the gateway
    of `schedule.gateways`.
    """

    type: ChannelType
    """How the message travels: `email`, `app` (the dashboard's inbox), `sms` or `push` (through
    `schedule.gateways`)."""
    address: str | None = None
    """The e-mail address or phone number; none for `email`: the person's `email`."""
    work: bool = True
    """Whether this is a work channel; `false` marks a personal device or address, which carries no
    work message."""
    urgent_on_call: bool = False
    """For a personal channel, the person's consent to receive urgent messages on it while on
    call."""


class Person(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Someone Vigie may notify, with their working hours, holidays and on-call duty.

    `working_hours` and `on_call` name entries of `schedule.time_intervals`; holidays are
    dates "YYYY-MM-DD" or ranges "YYYY-MM-DD:YYYY-MM-DD" in the person's time zone.
    `user` is their Vigie username (their name by default), whose dashboard inbox shows
    their notifications; `site` is the shop or office whose policy applies to them.
    Messages held while they were away reach them as one digest in their `language` and
    time zone; `digest_resolved` says whether an alert that resolved meanwhile is shown
    marked as resolved (`mark`) or left out (`drop`).
    """

    name: str
    """The person's unique name, used by teams, rotas and notifications."""
    display_name: str | None = None
    """The name the dashboard shows and their digests greet them by; none: `name`."""
    email: str | None = None
    """Their work e-mail address, used by their `email` channels that give no address."""
    user: str | None = None
    """Their Vigie username, whose dashboard inbox shows their notifications; none: `name`."""
    language: Literal["fr", "en"] = "fr"
    """The language (`fr` or `en`) of their messages and digests."""
    location: str = "Europe/Brussels"
    """Their IANA time zone (e.g. `Europe/Brussels`): their hours and holidays are read in it."""
    site: str | None = None
    """The shop or office they work at, whose policy (`schedule.policies`) applies to them."""
    teams: list[str] = []
    """Names of the teams they belong to (besides the teams that list them)."""
    working_hours: list[str] = []
    """Names of `schedule.time_intervals` entries when they work; empty: their teams' hours."""
    on_call: list[str] = []
    """Names of `schedule.time_intervals` entries when they are on call and may get urgent
    messages."""
    holidays: list[str] = []
    """Days off, `YYYY-MM-DD` or ranges `YYYY-MM-DD:YYYY-MM-DD`, in their time zone: messages wait
    until they are back."""
    channels: list[Channel] = msgspec.field(
        default_factory=lambda: [Channel(type="email"), Channel(type="app")]
    )
    digest_resolved: Literal["mark", "drop"] = "mark"
    """In the digest of held messages, an alert resolved meanwhile is shown marked as resolved
    (`mark`) or left out (`drop`)."""


class OnCallShift(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A team's on-call rota entry: `person` is on duty during the named intervals."""

    person: str
    """The name of the person on duty (a `schedule.people` entry)."""
    intervals: list[str]
    """Names of `schedule.time_intervals` entries when they are on duty."""


class Team(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A group of people; urgent messages for an absent member go to whoever is on duty.

    `working_hours` are the team's hours, used by members who have none of their own;
    `on_call` is the team's rota.
    """

    name: str
    """The team's unique name, used by people's `teams`, policies and notifications."""
    members: list[str] = []
    """Names of its people (besides those naming the team in their `teams`)."""
    working_hours: list[str] = []
    """Names of `schedule.time_intervals` entries: the hours of members who have none of their
    own."""
    on_call: list[OnCallShift] = []


class Policy(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A rule for work messages, applied on top of everyone's own hours.

    The company default (`schedule.policy`): nothing after 17:00 or before 08:00, nothing at
    weekends, and only work channels (no work messages on personal devices). A scoped policy
    (`schedule.policies`) names the `teams` or `sites` it governs and overrides the default
    for their people: the Saturday shop, the weekend support shift. `allowed` names entries of
    `schedule.time_intervals` (Alertmanager-shaped) and then replaces earliest/latest/weekends.
    On-call duty is exempt, as it is the job of the person on call to be reachable.
    """

    name: str = "company"
    """The policy's name, given as the reason a message was held or rerouted."""
    teams: list[str] = []
    """For a scoped policy, the teams whose people it governs."""
    sites: list[str] = []
    """For a scoped policy, the sites (people's `site`) whose people it governs."""
    earliest: str = "08:00"
    """Local time (`HH:MM`) before which no work message is delivered."""
    latest: str = "17:00"
    """Local time (`HH:MM`) after which no work message is delivered."""
    weekends: bool = False
    """Whether work messages may be delivered on Saturdays and Sundays."""
    allowed: list[str] = []
    """Names of `schedule.time_intervals` entries when work messages may be delivered; replaces
    `earliest`, `latest` and `weekends`."""
    work_channels_only: bool = True
    """Whether work messages go only to work channels (never to a personal device or address)."""


class Gateway(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """An HTTP gateway for `sms` or `push` messages: Vigie POSTs
    `{"to", "subject", "text", "person", "urgent"}` as JSON to `url`, with `token` as a
    Bearer token when set; any 2xx answer is a delivery."""

    url: str
    """Where the messages are POSTed as JSON."""
    token: str | None = None
    """Sent as `Authorization: Bearer <token>` when set."""
    timeout_seconds: float = 5.0
    """Seconds to wait for the gateway's answer before the delivery counts as failed."""


class ScheduleConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `schedule:` section of vigie.yaml."""

    time_intervals: list[NamedInterval] = []
    people: list[Person] = []
    teams: list[Team] = []
    policy: Policy = Policy()
    policies: list[Policy] = []
    gateways: dict[str, Gateway] = {}

    def person(self, name: str) -> Person | None:
        """The person called `name`, if any."""
        return next((p for p in self.people if p.name == name), None)

    def team(self, name: str) -> Team | None:
        """The team called `name`, if any."""
        return next((t for t in self.teams if t.name == name), None)

    def intervals(self, names: Sequence[str]) -> list[TimeInterval]:
        """The intervals of the named entries, in order."""
        by_name = {named.name: named for named in self.time_intervals}
        return [interval for name in names for interval in by_name[name].time_intervals]

    def members(self, team: str) -> list[Person]:
        """People of `team`: its `members` list and everyone naming it in their `teams`."""
        found = self.team(team)
        names = list(found.members) if found else []
        names += [p.name for p in self.people if team in p.teams and p.name not in names]
        if found:
            names += [s.person for s in found.on_call if s.person not in names]
        return [p for name in names if (p := self.person(name)) is not None]

    def teams_of(self, person: Person) -> list[Team]:
        """The teams `person` belongs to (named in their `teams`, or listing them)."""
        return [
            t
            for t in self.teams
            if t.name in person.teams
            or person.name in t.members
            or any(s.person == person.name for s in t.on_call)
        ]

    def working_hours_of(self, person: Person) -> list[str]:
        """The person's own working hours, or else those of their teams."""
        if person.working_hours:
            return list(person.working_hours)
        return [name for team in self.teams_of(person) for name in team.working_hours]

    def colleagues(self, person: Person) -> set[str]:
        """The names of `person`, of their teams and of everyone in those teams: whose
        notifications their manager's view covers."""
        teams = {t.name for t in self.teams_of(person)} | set(person.teams)
        members = {m.name for team in teams for m in self.members(team)}
        return {person.name, *teams, *members}

    def person_of_user(self, username: str) -> Person | None:
        """The person whose dashboard user is `username` (`user`, else their name)."""
        return next((p for p in self.people if (p.user or p.name) == username), None)

    def policy_of(self, person: Person) -> tuple[Policy, str]:
        """The policy that governs `person`, and why: a policy of one of their teams first
        (in the order of `schedule.policies`), then one of their site, then the company's."""
        teams = {t.name for t in self.teams_of(person)} | set(person.teams)
        for policy in self.policies:
            hit = next((t for t in policy.teams if t in teams), None)
            if hit is not None:
                return policy, f"policy {policy.name!r} of team {hit!r}"
        if person.site is not None:
            for policy in self.policies:
                if person.site in policy.sites:
                    return policy, f"policy {policy.name!r} of site {person.site!r}"
        return self.policy, "the company policy"

    def on_call_of(self, person: Person) -> list[str]:
        """Intervals when `person` is on call: their own and their teams' rota entries."""
        rota = [
            name
            for team in self.teams_of(person)
            for shift in team.on_call
            if shift.person == person.name
            for name in shift.intervals
        ]
        return list(person.on_call) + rota


def check(config: ScheduleConfig) -> list[tuple[list[str | int], str]]:
    """Problems of `config` as (key path, message) pairs, empty when it can be used."""
    problems: list[tuple[list[str | int], str]] = []
    sections: list[tuple[str, list[str]]] = [
        ("time_intervals", [n.name for n in config.time_intervals]),
        ("people", [p.name for p in config.people]),
        ("teams", [t.name for t in config.teams]),
    ]
    for section, section_names in sections:
        seen: set[str] = set()
        for i, name in enumerate(section_names):
            if name in seen:
                problems.append((["schedule", section, i, "name"], f"{name!r} is defined twice"))
            seen.add(name)
    clash = {p.name for p in config.people} & {t.name for t in config.teams}
    for name in sorted(clash):
        problems.append((["schedule", "teams"], f"{name!r} names both a person and a team"))
    names = {named.name for named in config.time_intervals}
    for i, named in enumerate(config.time_intervals):
        for j, interval in enumerate(named.time_intervals):
            try:
                validate(interval)
            except IntervalError as exc:
                problems.append((["schedule", "time_intervals", i, "time_intervals", j], str(exc)))
    people = {p.name for p in config.people}
    for i, person in enumerate(config.people):
        for field in ("working_hours", "on_call"):
            for j, ref in enumerate(getattr(person, field)):
                if ref not in names:
                    problems.append(
                        (
                            ["schedule", "people", i, field, j],
                            f"{ref!r} is not a name under schedule.time_intervals",
                        )
                    )
        try:
            zone(person.location)
            _holidays(person)
        except (IntervalError, ValueError) as exc:
            problems.append((["schedule", "people", i], str(exc)))
    for i, team in enumerate(config.teams):
        for j, member in enumerate(team.members):
            if member not in people:
                problems.append(
                    (["schedule", "teams", i, "members", j], f"{member!r} is not a person")
                )
        for j, ref in enumerate(team.working_hours):
            if ref not in names:
                problems.append(
                    (
                        ["schedule", "teams", i, "working_hours", j],
                        f"{ref!r} is not a name under schedule.time_intervals",
                    )
                )
        for j, shift in enumerate(team.on_call):
            if shift.person not in people:
                problems.append(
                    (
                        ["schedule", "teams", i, "on_call", j, "person"],
                        f"{shift.person!r} is not a person",
                    )
                )
            for k, ref in enumerate(shift.intervals):
                if ref not in names:
                    problems.append(
                        (
                            ["schedule", "teams", i, "on_call", j, "intervals", k],
                            f"{ref!r} is not a name under schedule.time_intervals",
                        )
                    )
    scoped: list[tuple[list[str | int], Policy]] = [(["schedule", "policy"], config.policy)]
    scoped += [(["schedule", "policies", i], p) for i, p in enumerate(config.policies)]
    team_names = {t.name for t in config.teams} | {t for p in config.people for t in p.teams}
    for path, policy in scoped:
        for j, ref in enumerate(policy.allowed):
            if ref not in names:
                problems.append(
                    ([*path, "allowed", j], f"{ref!r} is not a name under schedule.time_intervals")
                )
        for j, team_name in enumerate(policy.teams):
            if team_name not in team_names:
                problems.append(([*path, "teams", j], f"{team_name!r} is not a team"))
        if not policy.allowed:
            try:
                validate(_policy_intervals(policy, "UTC")[0])
            except IntervalError as exc:
                problems.append((path, str(exc)))
    for path, policy in scoped[1:]:
        if not policy.teams and not policy.sites:
            problems.append((path, f"policy {policy.name!r} names no teams or sites it governs"))
    for kind, gateway in config.gateways.items():
        if kind not in ("sms", "push"):
            problems.append((["schedule", "gateways", kind], "gateways are for sms or push"))
        if not gateway.url.startswith(("http://", "https://")):
            problems.append((["schedule", "gateways", kind, "url"], "must be an http(s) URL"))
    return problems


def _holidays(person: Person) -> list[tuple[date, date]]:
    spans = []
    for item in person.holidays:
        first, _, last = item.partition(":")
        try:
            low = date.fromisoformat(first.strip())
            high = date.fromisoformat(last.strip()) if last else low
        except ValueError as exc:
            raise ValueError(
                f"holiday {item!r} must read YYYY-MM-DD or YYYY-MM-DD:YYYY-MM-DD"
            ) from exc
        spans.append((low, high))
    return spans


def on_holiday(person: Person, at: datetime) -> bool:
    """True when `at` falls on one of `person`'s holidays (in their time zone)."""
    day = at.astimezone(zone(person.location)).date()
    return any(low <= day <= high for low, high in _holidays(person))


def _policy_intervals(policy: Policy, location: str) -> list[TimeInterval]:
    """The times `policy` allows, as intervals (`location` is the person's time zone)."""
    weekdays = None if policy.weekends else ["monday:friday"]
    return [
        TimeInterval(
            times=[TimeRange(start_time=policy.earliest, end_time=policy.latest)],
            weekdays=weekdays,
            location=location,
        )
    ]


def _holiday_segments(person: Person, start: datetime, end: datetime) -> list[Segment]:
    tz = zone(person.location)
    holes = []
    for low, high in _holidays(person):
        hole_start = datetime.combine(low, datetime.min.time(), tzinfo=tz)
        hole_end = datetime.combine(high + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        if hole_end > start and hole_start < end:
            holes.append((hole_start.astimezone(start.tzinfo), hole_end.astimezone(start.tzinfo)))
    return merge(holes)


def working_segments(
    config: ScheduleConfig, person: Person, start: datetime, end: datetime
) -> list[Segment]:
    """When `person` may receive ordinary work messages within [start, end).

    Their working hours (their own, else their teams'), minus holidays, within the company
    policy. A person without any working hours follows the policy alone.
    """
    hours = config.working_hours_of(person)
    own = union(config.intervals(hours), start, end) if hours else [(start, end)]
    policy, _why = config.policy_of(person)
    if policy.allowed:
        allowed = union(config.intervals(policy.allowed), start, end)
    else:
        allowed = union(_policy_intervals(policy, person.location), start, end)
    return subtract(intersect(own, allowed), _holiday_segments(person, start, end))


def on_call_segments(
    config: ScheduleConfig, person: Person, start: datetime, end: datetime
) -> list[Segment]:
    """When `person` is on call within [start, end): reachable for urgent messages."""
    names = config.on_call_of(person)
    return union(config.intervals(names), start, end) if names else []


def is_working(config: ScheduleConfig, person: Person, at: datetime) -> bool:
    """True when `person` may receive an ordinary work message at `at`."""
    return contains(working_segments(config, person, at, at + timedelta(seconds=1)), at)


def is_on_duty(config: ScheduleConfig, person: Person, at: datetime) -> bool:
    """True when `person` may receive an urgent message at `at` (working or on call)."""
    window = (at, at + timedelta(seconds=1))
    return contains(working_segments(config, person, *window), at) or contains(
        on_call_segments(config, person, *window), at
    )


def next_working_instant(
    config: ScheduleConfig, person: Person, after: datetime
) -> datetime | None:
    """The first instant at or after `after` when `person` is working; None within a year."""
    start = after
    horizon = after + timedelta(days=SEARCH_DAYS)
    step = timedelta(days=3)
    while start < horizon:
        end = min(start + step, horizon)
        step = _STEP
        spans = working_segments(config, person, start, end)
        if spans:
            return spans[0][0]
        start = end
    return None


def after_working_time(
    config: ScheduleConfig, person: Person, start: datetime, minutes: float
) -> datetime | None:
    """The instant when `minutes` of `person`'s working time have passed since `start`
    (0: their next working instant): a task due "in 30 minutes" at 16:50 is due at 08:20
    the next working day, never in the evening. Always a working instant; None when they
    have no working period within a year."""
    remaining = timedelta(minutes=max(minutes, 0.0))
    cursor = start
    horizon = start + timedelta(days=SEARCH_DAYS)
    while cursor < horizon:
        end = min(cursor + _STEP, horizon)
        for low, high in working_segments(config, person, cursor, end):
            if remaining < high - low:
                return low + remaining
            remaining -= high - low
        cursor = end
    return None


def channels(
    config: ScheduleConfig, person: Person, *, urgent_on_call: bool = False
) -> list[Channel]:
    """The channels a work message may use for `person` under their policy.

    Personal channels are left out, except those the person opted in for urgent messages
    while on call, when `urgent_on_call` (the message is urgent and they are on call, not
    working)."""
    policy, _why = config.policy_of(person)
    if not policy.work_channels_only:
        return list(person.channels)
    return [c for c in person.channels if c.work or (urgent_on_call and c.urgent_on_call)]
