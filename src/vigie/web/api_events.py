"""REST API over the event log: recent events and rejected input."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Response

from vigie.web.deps import NO_NUL, EventLogDep, EventsReader, SafeguardsDep

router = APIRouter(prefix="/api", tags=["events"])


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


@router.get("/events", response_class=Response)
def list_events(
    log: EventLogDep,
    safeguards: SafeguardsDep,
    _user: EventsReader,
    type: Annotated[
        str | None, Query(description="track, identify, page, …", pattern=NO_NUL)
    ] = None,
    event: Annotated[
        str | None, Query(description="the tracked event's name", pattern=NO_NUL)
    ] = None,
    anonymous_id: Annotated[str | None, Query(pattern=NO_NUL)] = None,
    user_id: Annotated[str | None, Query(pattern=NO_NUL)] = None,
    source: Annotated[str | None, Query(pattern=NO_NUL)] = None,
    before: Annotated[
        int | None, Query(description="only events with a smaller offset", ge=1, le=2**62)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Events of the log, newest first, with optional filters; page back with `before`.
    `anonymous_id` may be the id the browser holds: with pseudonymised visitor ids, the
    events are found by its pseudonym."""
    events = log.recent(
        type=type,
        event=event,
        anonymous_id=None if anonymous_id is None else safeguards.visitor_id(anonymous_id),
        user_id=user_id,
        source=source,
        before=before,
        limit=limit,
    )
    return _json({"events": events, "next_before": events[-1].offset if events else None})


@router.get("/rejected", response_class=Response)
def list_rejected(
    log: EventLogDep,
    _user: EventsReader,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Rejected input, newest first: reason, field, source, and the payload as received."""
    records = log.rejected(limit=limit, before=before)
    return _json({"rejected": records, "next_before": records[-1].id if records else None})
