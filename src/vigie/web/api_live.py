"""Live updates for the dashboard: a Server-Sent Events stream of what the log commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from vigie.auth.roles import allowed
from vigie.web.deps import CurrentUser, LiveDep

router = APIRouter(prefix="/api", tags=["live"])

KEEPALIVE_SECONDS = 5.0


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {msgspec.json.encode(data).decode()}\n\n"


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless stream"}},
)
async def live(request: Request, hub: LiveDep, user: CurrentUser) -> StreamingResponse:
    """Server-Sent Events: a `snapshot` first, then an `events` message per commit.

    A snapshot holds the log's total, per-minute counts by event over the last 30 minutes
    and the newest events; each `events` message the new total, the counts by event of
    what was just committed and those events. Who sent an event is shown only to the roles
    that may read events.
    """
    queue = hub.subscribe()
    private = not allowed(user.role, "events", "read")

    def send(kind: str, data: dict[str, Any]) -> str:
        if private:
            data = {**data, "events": [_anonymised(e) for e in data.get("events", [])]}
        return _sse(kind, data)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n" + send("snapshot", hub.snapshot())
            while not hub.closed:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                if message is None:
                    return
                if message.get("resync"):
                    yield send("snapshot", hub.snapshot())
                    continue
                yield send("events", message)
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/live/snapshot", response_class=Response)
def snapshot(hub: LiveDep, user: CurrentUser) -> Response:
    """The same snapshot as the stream's first message, as plain JSON."""
    data = hub.snapshot()
    if not allowed(user.role, "events", "read"):
        data["events"] = [_anonymised(e) for e in data["events"]]
    return Response(content=msgspec.json.encode(data), media_type="application/json")


def _anonymised(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "anonymous_id": None, "user_id": None}
