"""Policies with scope and precedence, personal channels, and `explain` (issue 24): the
Saturday shop is reached on Saturdays, the weekday office is not, and no random schedule
ever makes a delivery outside working time unless the message is urgent and the person on
call."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.schedule import ScheduleConfig, decide
from vigie.schedule.routing import explain

BRUSSELS = ZoneInfo("Europe/Brussels")
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=BRUSSELS)
TUESDAY_EVENING = datetime(2026, 11, 24, 18, 0, tzinfo=BRUSSELS)

SHOP = {
    "time_intervals": [
        {
            "name": "office",
            "time_intervals": [
                {
                    "weekdays": ["monday:friday"],
                    "times": [{"start_time": "08:30", "end_time": "17:30"}],
                    "location": "Europe/Brussels",
                }
            ],
        },
        {
            "name": "shop-hours",
            "time_intervals": [
                {
                    "weekdays": ["tuesday:saturday"],
                    "times": [{"start_time": "09:30", "end_time": "18:30"}],
                    "location": "Europe/Brussels",
                }
            ],
        },
        {
            "name": "weekend-shift",
            "time_intervals": [
                {
                    "weekdays": ["saturday:sunday"],
                    "times": [{"start_time": "08:00", "end_time": "20:00"}],
                    "location": "Europe/Brussels",
                }
            ],
        },
        {
            "name": "nights",
            "time_intervals": [
                {
                    "times": [{"start_time": "18:00", "end_time": "23:00"}],
                    "location": "Europe/Brussels",
                }
            ],
        },
    ],
    "policy": {"earliest": "08:00", "latest": "17:00", "weekends": False},
    "policies": [
        {"name": "weekend-support", "teams": ["weekend-desk"], "allowed": ["weekend-shift"]},
        {"name": "shop-floor", "sites": ["louise"], "allowed": ["shop-hours"]},
    ],
    "people": [
        {"name": "lea", "site": "louise", "teams": ["shop"], "working_hours": ["shop-hours"]},
        {"name": "karim", "teams": ["sales"], "working_hours": ["office"]},
        {
            "name": "sam",
            "site": "louise",
            "teams": ["weekend-desk"],
            "working_hours": ["weekend-shift"],
        },
        {
            "name": "omar",
            "teams": ["sales"],
            "working_hours": ["office"],
            "on_call": ["nights"],
            "channels": [
                {"type": "email"},
                {"type": "sms", "address": "+32470000001", "work": False, "urgent_on_call": True},
                {"type": "push", "address": "tok-omar", "work": False},
            ],
        },
    ],
    "teams": [{"name": "shop"}, {"name": "sales"}, {"name": "weekend-desk"}],
}


def _shop() -> ScheduleConfig:
    return msgspec.convert(SHOP, ScheduleConfig)


def test_the_saturday_shop_is_reached_on_saturday_and_the_office_is_not() -> None:
    """At 10:00 on a Saturday the shop manager gets the alert at once; the office's
    salesperson, under the company policy (no weekends), has it held until Monday."""
    config = _shop()
    (shop,) = decide(config, recipient="lea", urgent=False, at=SATURDAY)
    (office,) = decide(config, recipient="karim", urgent=False, at=SATURDAY)
    assert (shop.outcome, shop.deliver_at) == ("deliver", SATURDAY)
    assert office.outcome == "hold"
    assert office.deliver_at == datetime(2026, 11, 30, 8, 30, tzinfo=BRUSSELS)


def test_the_shop_policy_also_allows_its_late_hours() -> None:
    """The shop's policy replaces the company's 17:00: Léa is reached at 18:00 on a
    Tuesday, Karim is not."""
    config = _shop()
    assert decide(config, recipient="lea", urgent=False, at=TUESDAY_EVENING)[0].outcome == "deliver"
    assert decide(config, recipient="karim", urgent=False, at=TUESDAY_EVENING)[0].outcome == "hold"


def test_a_team_policy_wins_over_the_site_policy() -> None:
    """Sam works at the Louise shop but on the weekend desk: the team's policy decides, and
    `explain` says so."""
    config = _shop()
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=BRUSSELS)
    found = explain(config, person="sam", at=sunday, urgent=False)
    assert found.policy == "weekend-support"
    assert "team 'weekend-desk'" in found.policy_reason
    assert found.working and found.decision.outcome == "deliver"
    lea = explain(config, person="lea", at=sunday, urgent=False)
    assert (lea.policy, lea.working, lea.decision.outcome) == ("shop-floor", False, "hold")
    assert explain(config, person="karim", at=sunday, urgent=False).policy == "company"


def test_personal_channels_carry_only_urgent_on_call_messages_by_opt_in() -> None:
    """Omar's personal phone (opted in) carries an urgent message while he is on call, his
    personal push token (not opted in) never does, and in working hours only work channels
    are used."""
    config = _shop()
    (night,) = decide(config, recipient="omar", urgent=True, at=TUESDAY_EVENING.replace(hour=20))
    assert (night.outcome, night.requires) == ("deliver", "on_duty")
    assert [c.type for c in night.channels] == ["email", "sms"]
    day = TUESDAY_EVENING.replace(hour=10)
    (office,) = decide(config, recipient="omar", urgent=True, at=day)
    assert [c.type for c in office.channels] == ["email"]
    (held,) = decide(config, recipient="omar", urgent=False, at=TUESDAY_EVENING.replace(hour=20))
    assert held.outcome == "hold"


def test_a_policy_naming_an_unknown_interval_or_team_is_refused() -> None:
    """The configuration check names the key of a policy that refers to nothing."""
    from vigie.schedule.schedules import check

    config = _shop()
    config.policies.append(
        msgspec.convert(
            {"name": "x", "teams": ["nobody"], "allowed": ["never"]}, type(config.policy)
        )
    )
    problems = check(config)
    assert (
        ["schedule", "policies", 2, "allowed", 0],
        "'never' is not a name under schedule.time_intervals",
    ) in problems
    assert (["schedule", "policies", 2, "teams", 0], "'nobody' is not a team") in problems


# An independent reference of who may be reached when: plain wall-clock arithmetic.
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _in_hours(local: datetime, days: range, start_hour: int, end_hour: int) -> bool:
    return local.weekday() in days and start_hour <= local.hour < end_hour


@st.composite
def _cases(draw: st.DrawFn) -> tuple[dict[str, object], dict[str, object]]:
    """A person's hours, on-call evenings, teams and site, a company policy and maybe a
    team or a site policy, all in whole hours; and the reference's view of the same."""
    first_day = draw(st.integers(0, 6))
    last_day = draw(st.integers(first_day, 6))
    start = draw(st.integers(5, 20))
    end = draw(st.integers(start + 1, 23))
    company_start = draw(st.integers(5, 20))
    company_end = draw(st.integers(company_start + 1, 23))
    weekends = draw(st.booleans())
    scoped = draw(st.sampled_from(["none", "team", "site", "other-team"]))
    scope_start = draw(st.integers(5, 20))
    scope_end = draw(st.integers(scope_start + 1, 23))
    scope_days = draw(st.sampled_from([(0, 4), (1, 5), (5, 6), (0, 6)]))
    on_call = draw(st.booleans())
    location = draw(st.sampled_from(["Europe/Brussels", "America/New_York"]))

    def interval(name: str, days: tuple[int, int], a: int, b: int) -> dict[str, object]:
        return {
            "name": name,
            "time_intervals": [
                {
                    "weekdays": [f"{DAYS[days[0]]}:{DAYS[days[1]]}"],
                    "times": [{"start_time": f"{a:02d}:00", "end_time": f"{b:02d}:00"}],
                    "location": location,
                }
            ],
        }

    policies = []
    if scoped != "none":
        scope = {
            "site": {"sites": ["s1"]},
            "team": {"teams": ["t1"]},
            "other-team": {"teams": ["t2"]},
        }
        policies.append({"name": "scoped", **scope[scoped], "allowed": ["scoped-hours"]})
    config = {
        "time_intervals": [
            interval("hours", (first_day, last_day), start, end),
            interval("scoped-hours", scope_days, scope_start, scope_end),
            {
                "name": "late",
                "time_intervals": [
                    {"times": [{"start_time": "20:00", "end_time": "23:00"}], "location": location}
                ],
            },
        ],
        "policy": {
            "earliest": f"{company_start:02d}:00",
            "latest": f"{company_end:02d}:00",
            "weekends": weekends,
        },
        "policies": policies,
        "people": [
            {
                "name": "p",
                "location": location,
                "site": "s1",
                "teams": ["t1"],
                "working_hours": ["hours"],
                "on_call": ["late"] if on_call else [],
            }
        ],
        "teams": [{"name": "t1"}, {"name": "t2"}],
    }
    governed_by_scope = scoped in ("team", "site")
    reference = {
        "location": location,
        "hours": (range(first_day, last_day + 1), start, end),
        "policy": (range(scope_days[0], scope_days[1] + 1), scope_start, scope_end)
        if governed_by_scope
        else (range(0, 7) if weekends else range(0, 5), company_start, company_end),
        "on_call": on_call,
        "policy_name": "scoped" if governed_by_scope else "company",
    }
    return config, reference


def _working(reference: dict[str, object], at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(str(reference["location"])))
    return _in_hours(local, *reference["hours"]) and _in_hours(local, *reference["policy"])  # type: ignore[misc]


def _on_call(reference: dict[str, object], at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(str(reference["location"])))
    return bool(reference["on_call"]) and 20 <= local.hour < 23


@settings(max_examples=150, deadline=None)
@given(
    case=_cases(),
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    urgent=st.booleans(),
)
def test_nothing_reaches_anyone_outside_working_time_unless_urgent_on_call(
    case: tuple[dict[str, object], dict[str, object]], at: datetime, urgent: bool
) -> None:
    """For random hours, policies (company, team or site) and instants, a message is
    delivered now only when the reference says the person works, or it is urgent and they
    are on call; a held one is delivered at a working instant; `explain` agrees with
    `decide` and names the policy the reference expects."""
    raw, reference = case
    config = msgspec.convert(raw, ScheduleConfig)
    (decision,) = decide(config, recipient="p", urgent=urgent, at=at)
    if decision.outcome == "deliver":
        assert _working(reference, at) or (urgent and _on_call(reference, at))
    else:
        assert not _working(reference, at)
        assert not (urgent and _on_call(reference, at))
    if decision.outcome == "hold":
        assert decision.deliver_at is not None and _working(reference, decision.deliver_at)
    found = explain(config, person="p", at=at, urgent=urgent)
    assert found.decision == decision
    assert found.policy == reference["policy_name"]
    assert found.working == _working(reference, at)
