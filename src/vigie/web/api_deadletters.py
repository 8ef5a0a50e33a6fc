"""REST API over the dead letters: events a processor set aside after its retries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Response

from vigie.web.deps import NO_NUL, DeadLettersDep, EventsReader
from vigie.web.problems import AUTH_ERRORS

router = APIRouter(prefix="/api", tags=["events"], responses=AUTH_ERRORS)


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


@router.get("/dead-letters", response_class=Response)
def list_dead_letters(
    letters: DeadLettersDep,
    _user: EventsReader,
    processor: Annotated[
        str | None,
        Query(description="only this processor's (rules, analytics, crm …)", pattern=NO_NUL),
    ] = None,
    status: Annotated[
        Literal["open", "resolved"] | None,
        Query(description="open: not replayed yet; resolved: replayed successfully"),
    ] = None,
    before: Annotated[int | None, Query(description="only smaller ids", ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Events set aside by a processor, newest first: the processor, the log offset, the
    error (and its traceback in `detail`), how many tries, and the event itself; `open`
    counts the letters not replayed yet per processor. Replay them after a fix with
    `vigie dead-letters replay`."""
    found = letters.list(processor=processor, status=status, before=before, limit=limit)
    return _json(
        {
            "dead_letters": found,
            "open": letters.open_counts(),
            "next_before": found[-1].id if found else None,
        }
    )
