"""The Segment-compatible HTTP endpoints: `/v1/batch`, `/v1/track`, `/v1/identify` …"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from vigie.ingest.ingestor import Ingestor, Outcome

_encode = msgspec.json.encode

_DESCRIPTION = (
    "Segment HTTP Tracking API. Authenticate with the write key as the HTTP Basic user "
    "(`base64(key + ':')`) or as `writeKey` in the body; gzip bodies and `text/plain` JSON "
    "are accepted. A message that fails validation is rejected with its field and reason "
    "(HTTP 400) and kept in the rejected-events table; the good messages of the batch are stored."
)
_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _respond(outcome: Outcome) -> Response:
    return Response(
        content=_encode(outcome.body),
        status_code=outcome.status,
        media_type="application/json",
        headers=outcome.headers,
    )


async def _handle(
    ingestor: Ingestor, request: Request, *, endpoint: str, single_type: str | None
) -> Response:
    body = await request.body()
    outcome = await ingestor.ingest(
        body,
        endpoint=endpoint,
        authorization=request.headers.get("authorization"),
        content_encoding=request.headers.get("content-encoding"),
        single_type=single_type,
    )
    return _respond(outcome)


def build_router(ingestor: Ingestor) -> APIRouter:
    """The Segment-compatible routes, appending through `ingestor`."""
    router = APIRouter(tags=["ingest"])

    @router.post("/v1/batch", description=_DESCRIPTION, openapi_extra=_BODY_SCHEMA)
    async def batch(request: Request) -> Response:
        """Append a batch of Segment messages (track, identify, page, screen, group, alias)."""
        return await _handle(ingestor, request, endpoint="/v1/batch", single_type=None)

    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        router.add_api_route(
            f"/v1/{kind}",
            _single(ingestor, kind),
            methods=["POST"],
            description=_DESCRIPTION,
            openapi_extra=_BODY_SCHEMA,
            response_class=Response,
        )
    return router


def _single(ingestor: Ingestor, kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _handle(ingestor, request, endpoint=f"/v1/{kind}", single_type=kind)

    endpoint.__name__ = kind
    endpoint.__doc__ = f"Append one Segment `{kind}` call."
    return endpoint
