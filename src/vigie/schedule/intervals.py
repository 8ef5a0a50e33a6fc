"""Time intervals in the shape of Alertmanager's `time_intervals`, and the instants they cover.

An interval matches when every field it sets matches (weekdays, times, days_of_month,
months, years), evaluated in its `location`. Matching is pure: plain data in, UTC
segments out, with daylight-saving changes handled by `zoneinfo`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(m.lower() for m in calendar.month_name[1:])

Segment = tuple[datetime, datetime]
"""A half-open span of time [start, end) in aware UTC datetimes."""


class TimeRange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Minutes of a day, `start_time` included and `end_time` excluded ("24:00" allowed)."""

    start_time: str
    """Local time (`HH:MM`) the range starts, included."""
    end_time: str
    """Local time (`HH:MM`, `24:00` allowed) the range ends, excluded."""


class TimeInterval(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One Alertmanager-style interval; a field left out matches everything."""

    times: list[TimeRange] | None = None
    weekdays: list[str] | None = None
    """Days of the week or ranges of them (`monday:friday`, `saturday`); left out: every day."""
    days_of_month: list[str] | None = None
    """Days of the month or ranges (`1:15`; negative counts from the end, `-1` the last day); left
    out: every day."""
    months: list[str] | None = None
    """Months or ranges, by name or number (`january:march`, `12`); left out: every month."""
    years: list[str] | None = None
    """Years or ranges (`2026`, `2026:2027`); left out: every year."""
    location: str = "UTC"
    """The IANA time zone the times and days are read in (e.g. `Europe/Brussels`)."""


class NamedInterval(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A named list of intervals, referenced by people, teams and the company policy."""

    name: str
    """The name people, teams and policies use to refer to these intervals (e.g. `office-hours`)."""
    time_intervals: list[TimeInterval]


class IntervalError(ValueError):
    """An interval field cannot be understood; the message names the value and the rule."""


def parse_minutes(text: str) -> int:
    """Minutes since midnight of "HH:MM" (00:00 to 24:00)."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError as exc:
        raise IntervalError(f"time {text!r} must read HH:MM, e.g. 09:00") from exc
    total = hours * 60 + minutes
    if not (0 <= minutes < 60 and 0 <= total <= 24 * 60):
        raise IntervalError(f"time {text!r} must lie between 00:00 and 24:00")
    return total


def _index(name: str, names: Sequence[str], field: str) -> int:
    name = name.strip().lower()
    if name.isdigit():
        number = int(name)
        if 1 <= number <= len(names):
            return number
    if name in names:
        return names.index(name) + 1
    raise IntervalError(f"{field}: {name!r} is not one of {', '.join(names)}")


def _named_ranges(items: Iterable[str], names: Sequence[str], field: str) -> set[int]:
    """1-based numbers covered by items such as "monday:friday" or "january"."""
    covered: set[int] = set()
    for item in items:
        first, _, last = item.partition(":")
        low = _index(first, names, field)
        high = _index(last, names, field) if last else low
        if high < low:
            raise IntervalError(f"{field}: range {item!r} ends before it starts")
        covered.update(range(low, high + 1))
    return covered


def _day_of_month_matches(items: Iterable[str], day: date) -> bool:
    last_day = calendar.monthrange(day.year, day.month)[1]
    for item in items:
        first, _, last = item.partition(":")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError as exc:
            raise IntervalError(f"days_of_month: {item!r} must be a day number or a range") from exc
        # Negative days count from the end of the month: -1 is the last day.
        low = low if low > 0 else last_day + 1 + low
        high = high if high > 0 else last_day + 1 + high
        if low <= day.day <= high:
            return True
    return False


def _year_matches(items: Iterable[str], year: int) -> bool:
    for item in items:
        first, _, last = item.partition(":")
        try:
            if int(first) <= year <= int(last or first):
                return True
        except ValueError as exc:
            raise IntervalError(f"years: {item!r} must be a year or a range") from exc
    return False


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` ("Local" is refused: a server's zone is not a person's)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IntervalError(
            f"location {name!r} is not a known time zone; use an IANA name like Europe/Brussels"
        ) from exc


def validate(interval: TimeInterval) -> None:
    """Raise `IntervalError` when a field of `interval` is malformed."""
    zone(interval.location)
    for span in interval.times or ():
        if parse_minutes(span.start_time) >= parse_minutes(span.end_time):
            raise IntervalError(
                f"times: {span.start_time}-{span.end_time} must end after it starts"
            )
    _named_ranges(interval.weekdays or (), WEEKDAYS, "weekdays")
    _named_ranges(interval.months or (), MONTHS, "months")
    _day_of_month_matches(interval.days_of_month or (), date(2024, 2, 1))
    _year_matches(interval.years or (), 2024)


class _DayFilter(msgspec.Struct, frozen=True):
    """The day fields of an interval, parsed once per lookup."""

    weekdays: frozenset[int] | None
    months: frozenset[int] | None
    days_of_month: tuple[str, ...] | None
    years: tuple[str, ...] | None

    @classmethod
    def of(cls, interval: TimeInterval) -> _DayFilter:
        return cls(
            weekdays=frozenset(_named_ranges(interval.weekdays, WEEKDAYS, "weekdays"))
            if interval.weekdays is not None
            else None,
            months=frozenset(_named_ranges(interval.months, MONTHS, "months"))
            if interval.months is not None
            else None,
            days_of_month=tuple(interval.days_of_month)
            if interval.days_of_month is not None
            else None,
            years=tuple(interval.years) if interval.years is not None else None,
        )

    def matches(self, day: date) -> bool:
        if self.weekdays is not None and day.weekday() + 1 not in self.weekdays:
            return False
        if self.months is not None and day.month not in self.months:
            return False
        if self.days_of_month is not None and not _day_of_month_matches(self.days_of_month, day):
            return False
        return self.years is None or _year_matches(self.years, day.year)


def day_matches(interval: TimeInterval, day: date) -> bool:
    """True when `day` (a local date of the interval's location) passes its day filters."""
    return _DayFilter.of(interval).matches(day)


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time; 24:00 is the next midnight.

    Adding a timedelta to an aware datetime is wall-clock arithmetic, so the offset used is
    the one in force at the resulting wall time (summer or winter).
    """
    return (datetime.combine(day, time(), tzinfo=tz) + timedelta(minutes=minutes)).astimezone(UTC)


def segments(interval: TimeInterval, start: datetime, end: datetime) -> list[Segment]:
    """The UTC segments of `interval` that overlap [start, end), in order."""
    tz = zone(interval.location)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    spans = [(parse_minutes(t.start_time), parse_minutes(t.end_time)) for t in interval.times or ()]
    if not spans:
        spans = [(0, 24 * 60)]
    out: list[Segment] = []
    day_filter = _DayFilter.of(interval)
    day = first
    while day <= last:
        if day_filter.matches(day):
            for low, high in spans:
                seg_start, seg_end = _local(day, low, tz), _local(day, high, tz)
                if seg_end > start and seg_start < end and seg_start < seg_end:
                    out.append((max(seg_start, start), min(seg_end, end)))
        day += timedelta(days=1)
    return merge(out)


def merge(spans: Iterable[Segment]) -> list[Segment]:
    """Sort and join overlapping or touching segments."""
    out: list[Segment] = []
    for seg_start, seg_end in sorted(spans):
        if out and seg_start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], seg_end))
        else:
            out.append((seg_start, seg_end))
    return out


def union(intervals: Iterable[TimeInterval], start: datetime, end: datetime) -> list[Segment]:
    """Segments covered by any of `intervals` within [start, end)."""
    return merge(seg for interval in intervals for seg in segments(interval, start, end))


def intersect(left: Sequence[Segment], right: Sequence[Segment]) -> list[Segment]:
    """Segments covered by both lists (each sorted and merged)."""
    out: list[Segment] = []
    i = j = 0
    while i < len(left) and j < len(right):
        low = max(left[i][0], right[j][0])
        high = min(left[i][1], right[j][1])
        if low < high:
            out.append((low, high))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(spans: Sequence[Segment], holes: Sequence[Segment]) -> list[Segment]:
    """Segments of `spans` not covered by `holes` (both sorted and merged)."""
    out: list[Segment] = []
    for seg_start, seg_end in spans:
        cursor = seg_start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= seg_end:
                continue
            if hole_start > cursor:
                out.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < seg_end:
            out.append((cursor, seg_end))
    return out


def contains(spans: Sequence[Segment], at: datetime) -> bool:
    """True when `at` lies inside one of `spans`."""
    return any(low <= at < high for low, high in spans)
