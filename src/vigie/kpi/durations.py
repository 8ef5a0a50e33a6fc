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
