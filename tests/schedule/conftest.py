"""A small company: a marketing manager on office hours, a support agent, an on-call duty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from tests.playbooks.stores import (
    open_store,
    shared_postgres_url,  # noqa: F401
)
from vigie.schedule import ScheduleConfig

COMPANY = {
    "time_intervals": [
        {
            "name": "office",
            "time_intervals": [
                {
                    "weekdays": ["monday:friday"],
                    "times": [{"start_time": "08:00", "end_time": "18:00"}],
                    "location": "Europe/Brussels",
                }
            ],
        },
        {
            "name": "evenings_and_nights",
            "time_intervals": [
                {
                    "times": [
                        {"start_time": "00:00", "end_time": "08:00"},
                        {"start_time": "17:00", "end_time": "24:00"},
                    ],
                    "location": "Europe/Brussels",
                },
                {"weekdays": ["saturday", "sunday"], "location": "Europe/Brussels"},
            ],
        },
    ],
    "people": [
        {
            "name": "marie",
            "display_name": "Marie Dubois",
            "email": "marie@shop.example",
            "teams": ["marketing"],
            "working_hours": ["office"],
            "holidays": ["2026-12-24:2026-12-26"],
        },
        {
            "name": "omar",
            "email": "omar@shop.example",
            "teams": ["marketing", "support"],
            "working_hours": ["office"],
            "on_call": ["evenings_and_nights"],
            "channels": [
                {"type": "email"},
                {"type": "sms", "address": "+32470000000", "work": False},
            ],
        },
        {
            "name": "lea",
            "email": "lea@shop.example",
            "teams": ["support"],
            "working_hours": ["office"],
        },
    ],
    "teams": [{"name": "marketing", "members": ["marie"]}, {"name": "support"}],
}


@pytest.fixture
def company() -> ScheduleConfig:
    """The schedule section of the demo company."""
    return msgspec.convert(COMPANY, ScheduleConfig)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty store on SQLite and on PostgreSQL (one database per session)."""
    yield from open_store(request, tmp_path)
