"""The Segment-compatible HTTP endpoints: `/v1/batch`, `/v1/track`, `/v1/identify` …

Segment's browser library, analytics-next, posts to one-letter paths instead (`/v1/t`,
`/v1/p`, `/v1/i`, `/v1/g`, `/v1/a`, `/v1/s`: the first letter of the call's type, and
`/v1/b` when it batches), as `text/plain` so that no CORS preflight is needed; both
spellings lead to the same handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from vigie.ingest.ingestor import Ingestor, Outcome

_encode = msgspec.json.encode

SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
SHORT_PATHS = {kind[0]: kind for kind in SEGMENT_TYPES}
"""analytics-next's path per call type: `/v1/` + the type's first letter."""

_DESCRIPTION = (
    "Segment HTTP Tracking API. Authenticate with the write key as the HTTP Basic user "
    "(`base64(key + ':')`) or as `writeKey` in the body. The body is JSON, sent as "
    "`application/json` or as `text/plain` (what browser libraries send, by `fetch` with "
    "`keepalive` or `navigator.sendBeacon`, to avoid a CORS preflight); either may be "
    "compressed with `Content-Encoding: gzip` (or `deflate`). A message that fails "
    "validation is rejected with its field and reason (HTTP 400) and kept in the "
    "rejected-events table; the good messages of the batch are stored. A message whose "
    "`messageId` is already in the log is acknowledged and counted in `duplicates`."
)

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One Segment call; fields Vigie does not know are kept.",
    "properties": {
        "type": {"type": "string", "enum": [*SEGMENT_TYPES, "sensor"]},
        "messageId": {"type": "string", "description": "Deduplication key, per source."},
        "anonymousId": {"type": "string"},
        "userId": {"type": "string"},
        "event": {"type": "string", "description": "Required for `track`."},
        "name": {"type": "string"},
        "groupId": {"type": "string"},
        "previousId": {"type": "string"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object", "description": "Merged under each message's context."},
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}
_AS_TEXT = (
    "The same JSON document with `Content-Type: text/plain`, as analytics-next and "
    "`navigator.sendBeacon` send it."
)
_CONTENT_ENCODING: dict[str, Any] = {
    "name": "Content-Encoding",
    "in": "header",
    "required": False,
    "description": "`gzip` (or `deflate`) for a compressed body; at most 500 KB inflated.",
    "schema": {"type": "string", "enum": ["gzip", "x-gzip", "deflate", "identity"]},
}


def _openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The request body forms Vigie accepts on a Segment route, for the OpenAPI document."""
    return {
        "parameters": [_CONTENT_ENCODING],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "text/plain": {"schema": {"type": "string", "description": _AS_TEXT}},
            },
        },
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

    for path, summary in (("/v1/batch", "Batch"), ("/v1/b", "Batch (analytics-next's path)")):
        router.add_api_route(
            path,
            _batch(ingestor),
            methods=["POST"],
            summary=summary,
            description=_DESCRIPTION,
            openapi_extra=_openapi(_BATCH_SCHEMA),
            response_class=Response,
        )
    for kind in SEGMENT_TYPES:
        router.add_api_route(
            f"/v1/{kind}",
            _single(ingestor, kind),
            methods=["POST"],
            description=_DESCRIPTION,
            openapi_extra=_openapi(_MESSAGE_SCHEMA),
            response_class=Response,
        )
    for letter, kind in SHORT_PATHS.items():
        router.add_api_route(
            f"/v1/{letter}",
            _single(ingestor, kind),
            methods=["POST"],
            summary=f"{kind.capitalize()} (analytics-next's path)",
            description=f"The same as `/v1/{kind}`, at the path analytics-next posts to.\n\n"
            + _DESCRIPTION,
            openapi_extra=_openapi(_MESSAGE_SCHEMA),
            response_class=Response,
            name=f"{kind}_short",
        )
    router.add_api_route(
        "/v1/m",
        library_metrics,
        methods=["POST"],
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    return router


async def library_metrics(request: Request) -> Response:
    """analytics-next's own delivery statistics (`{"series": […]}`), sent next to the events:
    acknowledged so the library does not log an error, and not stored, as they are no
    interaction of anybody's."""
    await request.body()
    return Response(content=b'{"success":true}', media_type="application/json")


def _batch(ingestor: Ingestor) -> Callable[[Request], Awaitable[Response]]:
    async def batch(request: Request) -> Response:
        """Append a batch of Segment messages (track, identify, page, screen, group, alias)."""
        return await _handle(ingestor, request, endpoint="/v1/batch", single_type=None)

    return batch


def _single(ingestor: Ingestor, kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _handle(ingestor, request, endpoint=f"/v1/{kind}", single_type=kind)

    endpoint.__name__ = kind
    endpoint.__doc__ = f"Append one Segment `{kind}` call."
    return endpoint
