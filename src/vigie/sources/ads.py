"""Ad platforms' cost and impression reports, from their CSV exports, per campaign and hour.

Google Ads (a report with the columns Campaign, Day, Hour of the day, Impr. or Impressions,
Clicks, Cost, and optionally Currency code; the title and date-range lines above the header
and the Total rows below it are skipped) and Meta Ads Manager (Campaign name, Day, Time of
day (ad account time zone), Impressions, Link clicks or Clicks (all), Amount spent (EUR)).

Each row becomes an `Ad Spend` event at the start of its hour with `impressions`, `clicks`,
`cost` and `currency`; its message id is the platform, campaign and hour, so importing the
same report twice stores each hour once. A row that cannot be read is reported with its line
number and the reason, and nothing of the file is imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from vigie.events import Event
from vigie.sources.base import message_id

Platform = Literal["google", "meta"]
PLATFORMS: tuple[Platform, ...] = ("google", "meta")
MAX_ROWS = 200_000

# Column -> the names each platform's export gives it (compared case-insensitively).
COLUMNS: dict[Platform, dict[str, tuple[str, ...]]] = {
    "google": {
        "campaign": ("campaign",),
        "day": ("day", "date"),
        "hour": ("hour of the day", "hour of day", "hour"),
        "impressions": ("impr.", "impressions"),
        "clicks": ("clicks",),
        "cost": ("cost",),
        "currency": ("currency code", "currency"),
    },
    "meta": {
        "campaign": ("campaign name",),
        "day": ("day", "reporting starts"),
        "hour": (
            "time of day (ad account time zone)",
            "time of day (viewer's time zone)",
            "hour",
        ),
        "impressions": ("impressions",),
        "clicks": ("link clicks", "clicks (all)", "clicks"),
        "cost": ("amount spent",),
        "currency": ("currency",),
    },
}
REQUIRED = ("campaign", "day", "hour", "impressions", "clicks", "cost")
_SPENT = re.compile(r"^amount spent \((?P<currency>[a-z]{3})\)$")
_HOUR = re.compile(r"^(?P<hour>\d{1,2})(?::\d{2}(?::\d{2})?)?(?:\s*-.*)?$")


class AdRowError(msgspec.Struct, kw_only=True):
    """A line of the file that cannot be imported, and why."""

    line: int
    reason: str


class AdReport(msgspec.Struct, kw_only=True):
    """What a file holds: its events (when it has no error) and its bad rows."""

    platform: Platform
    events: list[Event] = []
    errors: list[AdRowError] = []

    @property
    def ok(self) -> bool:
        """True when every row was read."""
        return not self.errors and bool(self.events)


def read_report(
    text: str,
    *,
    platform: Platform,
    received_at: datetime,
    timezone: str = "UTC",
    currency: str = "EUR",
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> AdReport:
    """The `Ad Spend` events of a platform's CSV export, or the rows at fault.

    `timezone` is the ad account's (the hours of the report are in it); `currency` is used
    when the file names none. `source` defaults to `google-ads` or `meta-ads`.
    """
    zone = ZoneInfo(timezone)
    source = source or f"{platform}-ads"
    lines = text.splitlines()
    start = _header_line(lines, platform)
    if start is None:
        wanted = ", ".join(COLUMNS[platform][c][0] for c in REQUIRED)
        return AdReport(
            platform=platform,
            errors=[AdRowError(line=1, reason=f"no header row with the columns {wanted}")],
        )
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = [cell.strip().lower() for cell in next(reader)]
    index, file_currency = _columns(header, platform)
    events: list[Event] = []
    errors: list[AdRowError] = []
    pending = 0
    for offset, row in enumerate(reader):
        line = start + offset + 2
        if not any(cell.strip() for cell in row) or row[0].strip().lower().startswith("total"):
            continue
        if len(events) + len(errors) >= MAX_ROWS:
            errors.append(AdRowError(line=line, reason=f"more than {MAX_ROWS} rows; split it"))
            break
        try:
            events.append(
                _event(
                    row,
                    index,
                    platform=platform,
                    zone=zone,
                    currency=file_currency or currency,
                    source=source,
                    received_at=received_at,
                )
            )
        except ValueError as exc:
            errors.append(AdRowError(line=line, reason=str(exc)))
        pending += 1
        if progress is not None and pending == 1000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    if not events and not errors:
        errors.append(AdRowError(line=start + 2, reason="no rows below the header"))
    return AdReport(platform=platform, events=[] if errors else events, errors=errors)


def _header_line(lines: list[str], platform: Platform) -> int | None:
    """The index of the header row: the first line naming the campaign and day columns
    (Google's exports put a title and the date range above it)."""
    names = COLUMNS[platform]
    for number, line in enumerate(lines[:20]):
        cells = {c.strip().lower() for c in next(csv.reader([line]), [])}
        if cells & set(names["campaign"]) and cells & set(names["day"]):
            return number
    return None


def _columns(header: list[str], platform: Platform) -> tuple[dict[str, int], str | None]:
    """Column -> its position: the first of its names (in order of preference) the header
    has; and the currency a Meta header names (`Amount spent (EUR)`)."""
    index: dict[str, int] = {}
    for column, aliases in COLUMNS[platform].items():
        found = next((header.index(name) for name in aliases if name in header), None)
        if found is not None:
            index[column] = found
    file_currency = None
    if platform == "meta" and "cost" not in index:
        for position, name in enumerate(header):
            spent = _SPENT.match(name)
            if spent:
                index["cost"] = position
                file_currency = spent.group("currency").upper()
                break
    return index, file_currency


def _event(
    row: list[str],
    index: dict[str, int],
    *,
    platform: Platform,
    zone: ZoneInfo,
    currency: str,
    source: str,
    received_at: datetime,
) -> Event:
    def cell(column: str) -> str:
        if column not in index:
            raise ValueError(f"no {COLUMNS[platform][column][0]!r} column")
        position = index[column]
        if position >= len(row):
            raise ValueError(f"{COLUMNS[platform][column][0]!r} is missing from the row")
        value = row[position].strip()
        if "\x00" in value:
            raise ValueError(f"{COLUMNS[platform][column][0]!r} holds a NUL character")
        return value

    campaign = cell("campaign")
    if not campaign:
        raise ValueError("the campaign is empty")
    if len(campaign) > 200:
        raise ValueError("the campaign name is over 200 characters")
    try:
        day = date.fromisoformat(cell("day"))
    except ValueError:
        raise ValueError(f"day {cell('day')!r} is not a date (YYYY-MM-DD)") from None
    hour_match = _HOUR.match(cell("hour"))
    hour = int(hour_match.group("hour")) if hour_match else -1
    if not 0 <= hour <= 23:
        raise ValueError(f"hour {cell('hour')!r} is not an hour of the day (0-23)")
    at = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    impressions = _count(cell("impressions"), "impressions")
    clicks = _count(cell("clicks"), "clicks")
    cost = _amount(cell("cost"))
    code = (cell("currency") if "currency" in index else "") or currency
    if not re.fullmatch(r"[A-Za-z]{3}", code):
        raise ValueError(f"currency {code!r} is not a 3-letter code")
    return Event(
        message_id=message_id(f"{platform}-ads", campaign, at.isoformat()),
        type="track",
        event="Ad Spend",
        source=source,
        timestamp=at,
        received_at=received_at,
        anonymous_id=f"{platform}-ads:{campaign}",
        properties={
            "platform": platform,
            "campaign": campaign,
            "impressions": impressions,
            "clicks": clicks,
            "cost": cost,
            "currency": code.upper(),
            "hour": at.isoformat(),
        },
        context={"integration": {"name": f"{platform}-ads"}},
    )


def _count(text: str, what: str) -> int:
    cleaned = text.replace(",", "").replace("\u202f", "").replace(" ", "") or "0"
    if cleaned in ("--", "-"):
        return 0
    if not cleaned.isdigit() or len(cleaned) > 15:
        raise ValueError(f"{what} {text!r} is not a whole number")
    return int(cleaned)


def _amount(text: str) -> float:
    cleaned = re.sub(r"[^\d.,\-]", "", text)
    if cleaned in ("", "--", "-"):
        return 0.0
    # "1,234.56" (thousands with commas) or "1234,56" (a decimal comma).
    if "," in cleaned and "." not in cleaned and re.fullmatch(r"-?\d+,\d{1,2}", cleaned):
        cleaned = cleaned.replace(",", ".")
    cleaned = cleaned.replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"cost {text!r} is not an amount") from None
    if not 0 <= value < 1e12:
        raise ValueError(f"cost {text!r} is out of range")
    return round(value, 6)
