"""Local wall-clock time: a zone's offset, DST included, looked up once per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.kpi.wallclock import HOUR_US, WallClock, zone_problem
from vigie.types import from_us, to_us

MINUTE = 60_000_000
# Zones whose changes fall at odd UTC instants: half an hour off the hour (St John's,
# Newfoundland), a change of half an hour (Lord Howe), to three-quarters off (Kathmandu,
# 1986), a skipped day (Apia, 2011), and the southern hemisphere's (Santiago).
ZONES = (
    "Europe/Paris",
    "America/New_York",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "America/Santiago",
)


def _expected(zone: ZoneInfo, at_us: int) -> int:
    """The wall-clock time of `at_us` as zoneinfo gives it, in microseconds."""
    offset = from_us(at_us).astimezone(zone).utcoffset()
    assert offset is not None
    return at_us + offset // timedelta(microseconds=1)


@pytest.mark.parametrize("name", ZONES)
def test_every_minute_around_the_changes_has_the_zones_offset(name: str) -> None:
    """Each minute of the days around every change of 1986, 2011 and 2026 gets zoneinfo's
    local time, one instant at a time and a series at once."""
    clock, zone = WallClock(name), ZoneInfo(name)
    times: list[int] = []
    for year in (1986, 2011, 2026):
        at = to_us(datetime(year - 1, 12, 30, tzinfo=UTC))
        end = to_us(datetime(year + 1, 1, 1, tzinfo=UTC))
        before = _expected(zone, at) - at
        while at < end:  # find each change by the day, then take its days minute by minute
            offset = _expected(zone, at + 24 * HOUR_US) - at - 24 * HOUR_US
            if offset != before:
                times += range(at - 24 * HOUR_US, at + 48 * HOUR_US, MINUTE)
                before = offset
            at += 24 * HOUR_US
    assert len(times) >= 3 * 24 * 60
    assert clock.walls(times) == [_expected(zone, t) for t in times]
    assert [clock.wall(t) for t in times] == [_expected(zone, t) for t in times]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(ZONES),
    times=st.lists(
        st.integers(min_value=-2_000_000_000_000_000, max_value=4_000_000_000_000_000),
        min_size=1,
        max_size=20,
    ),
)
def test_any_instant_gets_the_zones_local_time(name: str, times: list[int]) -> None:
    """Any instant from 1906 to 2096, alone or in a series, gets zoneinfo's local time."""
    clock, zone = WallClock(name), ZoneInfo(name)
    expected = [_expected(zone, t) for t in times]
    assert clock.walls(times) == expected
    assert [clock.wall(t) for t in times] == expected


def test_utc_is_the_instant_itself() -> None:
    """In UTC the local time is the instant, unchanged."""
    times = [0, 1, HOUR_US - 1, 1_767_225_600_000_000]
    assert WallClock().walls(times) == times
    assert [WallClock("UTC").wall(t) for t in times] == times


def test_paris_opens_at_nine_on_both_sides_of_a_change() -> None:
    """09:00 in Paris is 08:00 UTC on the Saturday before the spring change and 07:00 UTC
    on the Monday after: both fall at 09:00 of the local day."""
    clock = WallClock("Europe/Paris")
    day = 24 * HOUR_US
    for moment in (datetime(2026, 3, 28, 8, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)):
        assert clock.wall(to_us(moment)) % day == 9 * HOUR_US


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Europe/Pariss", "unknown time zone 'Europe/Pariss'"),
        ("", "unknown time zone ''"),
        ("../../etc/passwd", "unknown time zone"),
        ("/etc/localtime", "unknown time zone"),
        ("Europe", "unknown time zone"),
        ("zone.tab", "unknown time zone"),
        ("Europe/Paris\x00", "unknown time zone"),
        (" Europe/Paris", "unknown time zone"),
        ("x" * 5000, "unknown time zone"),
        ("localtime", "the server's zone"),
    ],
)
def test_a_name_that_is_no_zone_is_refused(name: str, reason: str) -> None:
    """A misspelt, empty, absolute, escaping, directory or non-zone name is refused with a
    reason, and so is the server's own `localtime`."""
    problem = zone_problem(name)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/St_Johns", "Etc/GMT-14"])
def test_an_iana_name_is_a_zone(name: str) -> None:
    """An IANA zone name (UTC among them) is accepted."""
    assert zone_problem(name) is None
