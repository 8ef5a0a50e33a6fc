"""JSON the dashboard's pages need beyond the parts' own APIs: KPI tiles (value, department,
threshold, trend, firing) and who is on duty now with what waits for them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Response

from vigie.schedule.schedules import is_on_duty, is_working, next_working_instant
from vigie.types import to_us
from vigie.web.deps import (
    ClockDep,
    ConfigDep,
    CurrentUser,
    DispatcherDep,
    SystemDep,
    notifications_seen,
)
from vigie.web.tiles import kpi_tiles

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


@router.get("/kpis", response_class=Response)
def kpis(system: SystemDep, _user: CurrentUser) -> Response:
    """Every KPI with its department (the metric's own, else the `department` or `team`
    label of the rules watching it), its threshold, the rules firing on it now and its
    recent values for a sparkline."""
    system.sample_kpis()
    config = system.settings.config
    tiles = kpi_tiles(
        system.alerting.snapshot(),
        metrics=config.metrics,
        rules=config.rules,
        firing=system.alerts.list(status="firing", limit=1000),
        trend=system.trends.series,
    )
    return _json({"kpis": tiles, "bucket_seconds": system.trends.bucket_us / 1e6})


@router.get("/on-duty", response_class=Response)
def on_duty(
    config: ConfigDep, clock: ClockDep, dispatcher: DispatcherDep, user: CurrentUser
) -> Response:
    """Each person of the schedule: working, on call or off duty now, when they are next at
    work, and how many notifications are held for them (or their teams) until then; the held
    notifications themselves only as far as the user may read them (`/api/notifications`)."""
    schedule = config.schedule
    now = clock.now()
    held = dispatcher.notifications(status="held", limit=500)
    seen = notifications_seen(schedule, user)
    shown = [n for n in held if seen is None or n.recipient in seen or n.intended_for in seen]
    people = []
    for person in schedule.people:
        working = is_working(schedule, person, now)
        rota = schedule.on_call_of(person)
        on_call = not working and bool(rota) and is_on_duty(schedule, person, now)
        teams = list(dict.fromkeys([*person.teams, *(t.name for t in schedule.teams_of(person))]))
        names = {person.name, *teams}
        people.append(
            {
                "name": person.name,
                "display_name": person.display_name or person.name,
                "teams": teams,
                "location": person.location,
                "state": "working" if working else "on_call" if on_call else "off",
                "next_working": None if working else next_working_instant(schedule, person, now),
                "held": sum(
                    1 for n in held if n.recipient == person.name or n.intended_for in names
                ),
            }
        )
    return _json({"now": now, "now_us": to_us(now), "people": people, "held": shown})
