"""Live updates for the dashboard: a Server-Sent Events stream of what the log commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from vigie.web.deps import RuntimeDep, SignedInDep

router = APIRouter(prefix="/api", tags=["live"])

KEEPALIVE_SECONDS = 5.0


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {msgspec.json.encode(data).decode()}\n\n"


@router.get("/live", response_class=StreamingResponse)
async def live(request: Request, runtime: RuntimeDep, _session: SignedInDep) -> StreamingResponse:
    """Server-Sent Events: a `snapshot` first, then an `events` message per commit.

    A snapshot holds the log's total, per-minute counts by event over the last 30 minutes
    and the newest events; each `events` message the new total, the counts by event of
    what was just committed and those events.
    """
    hub = runtime.live
    queue = hub.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n" + _sse("snapshot", hub.snapshot())
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
                    yield _sse("snapshot", hub.snapshot())
                    continue
                yield _sse("events", message)
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/live/snapshot", response_class=Response)
def snapshot(runtime: RuntimeDep, _session: SignedInDep) -> Response:
    """The same snapshot as the stream's first message, as plain JSON."""
    return Response(
        content=msgspec.json.encode(runtime.live.snapshot()), media_type="application/json"
    )
