"""REST API of the analytics: journeys, profiles, funnels, campaign slots, friction."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Response

from vigie.web.deps import AnalyticsDep, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND

router = APIRouter(
    prefix="/api",
    tags=["analytics"],
    dependencies=[Depends(require("analytics", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


def _not_found(what: str, name: str, known: list[str]) -> HTTPException:
    listed = ", ".join(known) or "none"
    return HTTPException(
        status_code=404,
        detail=f"{what} {name!r} is not configured (known: {listed}) / "
        f"{what} {name!r} n'est pas configuré (connus : {listed})",
    )


@router.get("/visitors/{visitor_id}/journey", response_class=Response)
def visitor_journey(analytics: AnalyticsDep, visitor_id: str) -> Response:
    """One visitor's (device's) sessions and pages in order, re-views marked, campaigns."""
    return _json(analytics.journey(visitor_id))


@router.get("/profiles/{profile_id}/journey", response_class=Response)
def profile_journey(analytics: AnalyticsDep, profile_id: str) -> Response:
    """A profile's journey across all its devices, history before merges included."""
    return _json(analytics.journey(profile_id, every_device=True))


@router.get("/profiles/{visitor_id}", response_class=Response)
def profile(analytics: AnalyticsDep, visitor_id: str) -> Response:
    """The profile a visitor or user id belongs to: every id merged into it, and the merges."""
    return _json(analytics.profile(visitor_id))


@router.get("/funnels", response_class=Response)
def list_funnels(analytics: AnalyticsDep) -> Response:
    """The configured funnels with their live entry and conversion counts."""
    out = []
    for funnel in analytics.config.funnels:
        report = analytics.funnel_report(funnel.name, dropped_limit=0)
        assert report is not None
        out.append(
            {
                "name": funnel.name,
                "steps": [s.label for s in funnel.steps],
                "entered": report.entered,
                "converted": report.converted,
                "conversion": report.conversion,
            }
        )
    return _json({"funnels": out})


@router.get("/funnels/{name}", response_class=Response)
def funnel(
    analytics: AnalyticsDep,
    name: str,
    campaign: Annotated[str | None, Query(description="only visitors of this campaign")] = None,
    dropped_limit: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> Response:
    """Per-step counts, conversion, drop-off, median time between steps, breakdowns by
    campaign and time slot, and the visitors who dropped at each step, live."""
    report = analytics.funnel_report(name, campaign=campaign, dropped_limit=dropped_limit)
    if report is None:
        known = [f.name for f in analytics.config.funnels]
        raise _not_found("funnel", name, known)
    return _json(report)


@router.get("/campaigns/{name}/slots", response_class=Response)
def campaign_slots(
    analytics: AnalyticsDep,
    name: str,
    day: Annotated[date | None, Query(description="the day to compare (default: latest)")] = None,
) -> Response:
    """A campaign's live slot figures (visitors, sign-ups, conversions) against the same
    slot on the other days."""
    comparison = analytics.campaign_slots(name, day=day)
    if comparison is None:
        known = [c.name for c in analytics.config.campaigns if c.schedule is not None]
        raise _not_found("campaign", name, known)
    return _json(comparison)


@router.get("/friction", response_class=Response)
def friction(
    analytics: AnalyticsDep,
    campaign: Annotated[str | None, Query(description="only sessions of this campaign")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    """The pages and funnel steps where visitors leave most, for one campaign or all."""
    return _json(analytics.friction(campaign=campaign, limit=limit))
