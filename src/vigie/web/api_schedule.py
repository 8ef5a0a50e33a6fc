"""REST API of the right to disconnect: notifications with their audit trail."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query, Response

from vigie.web.deps import DispatcherDep, require
from vigie.web.problems import AUTH_ERRORS

router = APIRouter(
    prefix="/api",
    tags=["schedule"],
    dependencies=[Depends(require("notifications", "read"))],
    responses=AUTH_ERRORS,
)


@router.get("/notifications", response_class=Response)
def notifications(
    dispatcher: DispatcherDep,
    recipient: Annotated[str | None, Query(description="a person or team")] = None,
    status: Annotated[str | None, Query(description="held, delivered or undeliverable")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="only notifications with a smaller id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Notifications newest first, each with its audit: held until when, rerouted to whom,
    delivered when."""
    found = dispatcher.notifications(recipient=recipient, status=status, before=before, limit=limit)
    body = {"notifications": found, "next_before": found[-1].id if found else None}
    return Response(content=msgspec.json.encode(body), media_type="application/json")
