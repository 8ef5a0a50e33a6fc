"""REST API of the business sources: the configured inbound webhooks and how their
deliveries went (`GET /api/sources`), and the ad platforms' reports
(`POST /api/ads/import`)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from fastapi import APIRouter, HTTPException, Query, Request, Response

from vigie.sources.ads import Platform
from vigie.web.deps import NO_NUL, CampaignsWriter, EventsReader, InboundDep
from vigie.web.problems import AUTH_ERRORS, INVALID, Problem

router = APIRouter(
    prefix="/api",
    tags=["sources"],
    responses={
        **AUTH_ERRORS,
        **INVALID,
        400: {"model": Problem, "description": "the report cannot be read"},
        413: {"model": Problem, "description": "the report is too large"},
    },
)
MAX_REPORT_BYTES = 50_000_000


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        content=msgspec.json.encode(data), status_code=status, media_type="application/json"
    )


@router.get("/sources", response_class=Response)
def list_sources(inbound: InboundDep, _user: EventsReader) -> Response:
    """The inbound sources of `vigie.yaml` (`POST /hooks/{name}`): kind, deliveries since the
    server started by outcome (`accepted`, `duplicate`, `refused`, `invalid`), the last
    delivery and the last rejection with its reason."""
    return _json({"sources": inbound.statuses()})


@router.post(
    "/ads/import",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses={422: {"description": "Rows at fault, with their line and reason."}},
)
async def import_ads(
    request: Request,
    inbound: InboundDep,
    _user: CampaignsWriter,
    platform: Annotated[Platform, Query(description="whose export the file is")],
    timezone: Annotated[
        str, Query(description="the ad account's time zone", max_length=64, pattern=NO_NUL)
    ] = "UTC",
    currency: Annotated[
        str, Query(description="when the file names none", pattern=r"^[A-Za-z]{3}$")
    ] = "EUR",
) -> Response:
    """A Google Ads or Meta Ads CSV export (the body, up to 200,000 rows), per campaign
    and hour, as `Ad Spend` events with impressions, clicks and cost: all rows or none (422
    with each bad row's line and reason). An hour imported before is counted in
    `duplicates` and stored once."""
    body = await request.body()
    if len(body) > MAX_REPORT_BYTES:
        raise HTTPException(413, f"the report is over {MAX_REPORT_BYTES} bytes; split it")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"the report is not UTF-8: {exc}") from exc
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"timezone {timezone!r} is not a known time zone") from exc
    done = await inbound.import_ads(text, platform=platform, timezone=timezone, currency=currency)
    return _json(done, status=422 if done.errors else 200)
