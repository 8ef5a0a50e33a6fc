"""REST API of the right to disconnect: notifications with their audit trail, why a person
may be reached or not (`/api/schedule/explain`), the monthly record, and each person's inbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from vigie.schedule.record import to_csv
from vigie.schedule.routing import explain
from vigie.web.deps import (
    NO_NUL,
    AccountsDep,
    ClockDep,
    CurrentUser,
    DispatcherDep,
    InboxDep,
    LiveDep,
    RequestActor,
    notifications_seen,
    require,
)
from vigie.web.problems import AUTH_ERRORS, INVALID, NOT_FOUND

router = APIRouter(
    prefix="/api",
    tags=["schedule"],
    dependencies=[Depends(require("notifications", "read"))],
    responses={**AUTH_ERRORS, **INVALID},
)


@router.get("/notifications", response_class=Response)
def notifications(
    dispatcher: DispatcherDep,
    user: CurrentUser,
    recipient: Annotated[str | None, Query(description="a person or team")] = None,
    status: Annotated[
        str | None,
        Query(description="held, sending, delivered, digested, dropped or undeliverable"),
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="only notifications with a smaller id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Notifications newest first, each with its audit: held until when, rerouted to whom,
    delivered when. A manager sees those of their own teams' people, an admin all."""
    found = dispatcher.notifications(
        recipient=recipient,
        status=status,
        before=before,
        limit=limit,
        visible=notifications_seen(dispatcher.config, user),
    )
    body = {"notifications": found, "next_before": found[-1].id if found else None}
    return Response(content=msgspec.json.encode(body), media_type="application/json")


def _invalid(name: str, reason: str) -> RequestValidationError:
    """A refused query parameter, in the shape of FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ["query", name], "msg": reason, "type": "value_error"}])


@router.get("/schedule/explain", response_class=Response, responses=NOT_FOUND)
def explain_schedule(
    dispatcher: DispatcherDep,
    clock: ClockDep,
    person: Annotated[str, Query(max_length=200, pattern=NO_NUL, description="a person")],
    at: Annotated[datetime | None, Query(description="ISO 8601 instant; default now")] = None,
    urgent: bool = False,
) -> Response:
    """Which policy governs `person`, whether they are working or on call at `at`, and what
    would happen to a notification for them (the decision the dispatcher takes)."""
    when = at or clock.now()
    if when.tzinfo is None:
        raise _invalid("at", "give the instant's offset or zone (e.g. +01:00 or Z)")
    try:
        found = explain(dispatcher.config, person=person, at=when, urgent=urgent)
    except KeyError as exc:
        raise HTTPException(404, f"{person!r} is not a person of schedule:") from exc
    return Response(content=msgspec.json.encode(found), media_type="application/json")


@router.get("/disconnect/record", response_class=Response)
def disconnect_record(
    dispatcher: DispatcherDep,
    accounts: AccountsDep,
    actor: RequestActor,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """The right-to-disconnect record of `month`, per person and per team: notifications
    held, rerouted, delivered in working time, and delivered outside it (0 unless on call for
    an urgent message). Each read is audited."""
    try:
        people, teams = dispatcher.record(month)
    except ValueError as exc:
        raise _invalid("month", str(exc)) from exc
    accounts.record(
        actor,
        "export",
        "disconnect_record",
        month,
        {"rows": len(people) + len(teams), "format": format},
    )
    if format == "csv":
        return Response(
            content=to_csv([*people, *teams]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="disconnect-{month}.csv"'},
        )
    body = {
        "month": month,
        "holds": all(r.holds for r in people),
        "people": people,
        "teams": teams,
    }
    return Response(content=msgspec.json.encode(body), media_type="application/json")


inbox_router = APIRouter(prefix="/api/inbox", tags=["schedule"], responses=AUTH_ERRORS)
STREAM_POLL_SECONDS = 2.0
"""How often the inbox stream looks for a change of its counts."""


class ReadRequest(BaseModel):
    """Notifications to mark read."""

    ids: list[int] = Field(max_length=500)


@inbox_router.get("", response_class=Response)
def inbox(inbox: InboxDep, user: CurrentUser) -> Response:
    """The signed-in person's inbox: held notifications (with when they will arrive) and
    delivered ones, read or unread, newest first."""
    return Response(
        content=msgspec.json.encode(inbox.view(user.username)), media_type="application/json"
    )


@inbox_router.post("/read")
def mark_read(inbox: InboxDep, user: CurrentUser, body: ReadRequest) -> dict[str, int]:
    """Mark delivered notifications of the signed-in person read."""
    return {"marked": inbox.mark_read(user.username, body.ids)}


@inbox_router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless stream"}},
)
async def inbox_stream(
    inbox: InboxDep, live: LiveDep, user: CurrentUser, request: Request
) -> StreamingResponse:
    """Server-sent events: `event: inbox` with `{"unread", "held"}` whenever they change."""

    async def events() -> AsyncIterator[bytes]:
        last: tuple[int, int] | None = None
        yield b": vigie inbox\n\n"
        while not live.closed and not await request.is_disconnected():
            counts = await asyncio.to_thread(inbox.counts, user.username)
            if counts != last:
                last = counts
                data = msgspec.json.encode({"unread": counts[0], "held": counts[1]})
                yield b"event: inbox\ndata: " + data + b"\n\n"
            else:
                yield b": keep-alive\n\n"
            await asyncio.sleep(STREAM_POLL_SECONDS)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
