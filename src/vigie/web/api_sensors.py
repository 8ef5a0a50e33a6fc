"""REST API of the physical world: a shop's aisles, occupancy and displays; the city's
zones; the devices; moving a display."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, HTTPException, Response

from vigie.sensors.rings import RingError
from vigie.sensors.service import SensorsError
from vigie.web.deps import NO_NUL, CurrentUser, SensorsDep, require
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


def _ring_error(exc: RingError) -> HTTPException:
    return HTTPException(exc.status, f"{exc.field}: {exc}")


@router.post(
    "/rings/{ring}/link",
    response_class=Response,
    dependencies=[Depends(require("contacts", "write"))],
    responses={409: {"description": "the contact has not consented to profiling"}},
)
def link_ring(
    ring: str,
    sensors: SensorsDep,
    user: CurrentUser,
    contact_id: Annotated[str, Body(embed=True, min_length=1, max_length=64, pattern=NO_NUL)],
) -> Response:
    """Link a loyalty ring (its EPC) to a customer from now on: refused (409, field
    `consent.profiling`) unless the contact has consented to profiling."""
    if sensors.rings is None:
        raise HTTPException(404, "rings cannot be linked here")
    try:
        link = sensors.rings.link(ring, contact_id=contact_id, by=user.username)
    except RingError as exc:
        raise _ring_error(exc) from exc
    return _json(link)


@router.delete(
    "/rings/{ring}/link",
    response_class=Response,
    dependencies=[Depends(require("contacts", "write"))],
)
def unlink_ring(ring: str, sensors: SensorsDep, user: CurrentUser) -> Response:
    """End a ring's link: its reads from now on are nobody's."""
    if sensors.rings is None:
        raise HTTPException(404, "rings cannot be linked here")
    try:
        return _json(sensors.rings.unlink(ring, by=user.username))
    except RingError as exc:
        raise _ring_error(exc) from exc


@router.get(
    "/customers/{contact_id}",
    response_class=Response,
    dependencies=[Depends(require("contacts", "read"))],
    responses={409: {"description": "the contact has withdrawn consent to profiling"}},
)
def customer(contact_id: str, sensors: SensorsDep) -> Response:
    """A customer's pick-ups per aisle, read by the rings linked to them while they were;
    refused (409) once their consent to profiling is withdrawn."""
    try:
        return _json(sensors.customer(contact_id))
    except RingError as exc:
        raise _ring_error(exc) from exc
