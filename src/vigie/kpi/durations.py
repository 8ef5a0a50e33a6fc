"""Durations as written in `vigie.yaml`: `500ms`, `30s`, `15m`, `2h`, `7d`, `1w`."""

from __future__ import annotations

import re

_UNITS_US = {
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(text: str | int | float) -> int:
    """The duration in microseconds; a bare number is seconds. Raises ValueError on nonsense."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text}")
        return int(text * 1_000_000)
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 500ms, 30s, 15m, 2h, 7d, 1w"
        )
    return int(float(match.group(1)) * _UNITS_US[match.group(2)])


_PERIODS_S = {
    "s": 1.0,
    "second": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "day": 86_400.0,
    "week": 604_800.0,
    "month": 2_592_000.0,
    "year": 31_536_000.0,
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*/\s*(.+?)\s*$")


def parse_rate(text: str) -> float:
    """Occurrences per second of a rate written `N/period`: `1/month` (30 days), `2/week`,
    `1/30d`. Raises ValueError on nonsense."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate; write N/period: 1/month, 2/week, 1/30d")
    count = float(match.group(1))
    unit = match.group(2).lower()
    if unit.endswith("s") and unit[:-1] in _PERIODS_S:
        unit = unit[:-1]
    period = _PERIODS_S.get(unit)
    if period is None:
        try:
            period = parse_duration(unit) / 1e6
        except ValueError:
            raise ValueError(
                f"{text!r}: unknown period {unit!r}; write month, week, day, hour or 30d"
            ) from None
    if count <= 0 or period <= 0:
        raise ValueError(f"{text!r}: a rate is a positive count over a positive period")
    return count / period
