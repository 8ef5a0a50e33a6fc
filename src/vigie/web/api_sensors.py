"""REST API of the physical world: a shop's aisles, occupancy and displays; the city's
zones; the devices; moving a display."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, HTTPException, Response

from vigie.sensors.service import SensorsError
from vigie.web.deps import CurrentUser, SensorsDep, require
from vigie.web.problems import AUTH_ERRORS, INVALID, NOT_FOUND

router = APIRouter(
    prefix="/api/sensors",
    tags=["sensors"],
    dependencies=[Depends(require("analytics", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID},
)


def _json(body: Any) -> Response:
    return Response(content=msgspec.json.encode(body), media_type="application/json")


@router.get("/shops/{site}", response_class=Response)
def shop(site: str, sensors: SensorsDep) -> Response:
    """Pick-ups per aisle (this window and the recent ones), occupancy against capacity with
    the entry signal (`open`, `slow`, `full`), and each display with its uplift against its
    baseline (95 % CI) and where to move it."""
    try:
        return _json(sensors.shop(site))
    except SensorsError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/city", response_class=Response)
def city(sensors: SensorsDep) -> Response:
    """Zones by density against capacity, congested or not, and where to redirect people."""
    return _json(sensors.city())


@router.get("/devices", response_class=Response)
def devices(sensors: SensorsDep) -> Response:
    """The configured devices, when each was last heard of, and which are silent."""
    return _json({"devices": sensors.devices()})


@router.post(
    "/displays/{display}/move",
    response_class=Response,
    dependencies=[Depends(require("playbooks", "write"))],
)
def move(
    display: str,
    sensors: SensorsDep,
    user: CurrentUser,
    aisle: Annotated[str, Body(embed=True, max_length=200)],
    reason: Annotated[str, Body(embed=True, max_length=2000)] = "",
) -> Response:
    """Move a display: its current placement ends now and one in `aisle` starts (audited)."""
    try:
        sensors.move_display(display, to=aisle, by=user.username, reason=reason)
    except SensorsError as exc:
        raise HTTPException(404 if "no display" in str(exc) else 422, str(exc)) from exc
    return _json({"display": display, "placements": sensors.placements(display)})
