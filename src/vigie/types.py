"""Aliases and conversions every part shares: JSON values, and instants as microseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

JSON: TypeAlias = dict[str, Any]
"""A JSON object as decoded by msgspec or json: what events, evidence and summaries carry."""

Micros: TypeAlias = int
"""An instant as whole microseconds since the Unix epoch (UTC): how the store keeps time."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> Micros:
    """Microseconds since the Unix epoch, exact (no float rounding)."""
    return (moment - EPOCH) // MICROSECOND


def from_us(value: Micros) -> datetime:
    """The aware UTC datetime for a count of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)
