"""REST and live stream of alerts and KPIs: `/api/alerts`, `/api/alerts/stream`, `/api/kpis`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from vigie.web.deps import AlertFeedDep, AlertingDep, AlertStoreDep, require
from vigie.web.problems import AUTH_ERRORS

router = APIRouter(
    prefix="/api",
    tags=["alerts"],
    dependencies=[Depends(require("alerts", "read"))],
    responses=AUTH_ERRORS,
)
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.5


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


@router.get("/alerts", response_class=Response)
def list_alerts(
    alerts: AlertStoreDep,
    alerting: AlertingDep,
    status: Annotated[
        Literal["pending", "firing", "resolved"] | None,
        Query(description="only alerts in this state / seulement les alertes dans cet état"),
    ] = None,
    rule: Annotated[str | None, Query(description="only this rule's alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Alerts newest first, with their evidence (KPI values, window, events and visitors)."""
    stored = alerts.list(status=status, rule=rule, limit=limit)
    # Active alerts are shown as the engine holds them: with their latest evidence.
    live = {a.id: a for a in alerting.active_alerts()}
    shown = [live.get(a.id, a) if a.active else a for a in stored]
    return _json({"alerts": shown})


@router.get("/alerts/stream")
async def stream_alerts(feed: AlertFeedDep, request: Request) -> StreamingResponse:
    """Server-sent events: every alert change (`event: alert`), as it happens."""
    queue = feed.subscribe()

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": vigie alerts\n\n"
            quiet = 0.0
            while True:
                try:
                    alert = await asyncio.wait_for(queue.get(), timeout=POLL_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    quiet += POLL_SECONDS
                    if quiet >= HEARTBEAT_SECONDS:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
                    continue
                if alert is None:
                    return
                yield b"event: alert\ndata: " + msgspec.json.encode(alert) + b"\n\n"
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/kpis", response_class=Response)
def list_kpis(
    alerting: AlertingDep,
    metric: Annotated[str | None, Query(description="only this metric")] = None,
) -> Response:
    """Every metric's current window value per group, and beside it `late`: the metric's
    events that came beyond their group's horizon and are counted in no window. `late`
    also maps every metric to that count (metrics without a group yet included)."""
    rows = alerting.snapshot()
    late = alerting.late_events()
    if metric is not None:
        rows = [r for r in rows if r["metric"] == metric]
        late = {metric: late[metric]} if metric in late else {}
    return _json({"kpis": rows, "late": late})
