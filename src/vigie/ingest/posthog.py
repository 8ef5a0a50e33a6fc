"""PostHog's capture API, so that posthog-js and posthog-python send to Vigie unchanged but
for their host: `/batch/`, `/capture/`, `/e/`, `/i/v0/e/` take events; `/decide/`, `/flags/`
and `/array/<key>/config` answer that there are no feature flags, surveys or recordings, so
the clients neither error nor wait.

The project key (`api_key`/`token`) is a write key of `vigie.yaml`: it names the source.
Events are deduplicated by their `uuid`; bad input is answered 400 with the field and the
reason, and kept in the rejected-events table, as for Segment's API.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from vigie.events import Rejection
from vigie.events.posthog import convert_capture, decode_capture
from vigie.events.segment import PayloadError
from vigie.ingest.ingestor import Ingestor, Outcome, decompress

GZIP_MAGIC = b"\x1f\x8b"
CAPTURE_PATHS = ("/batch/", "/capture/", "/e/", "/i/v0/e/", "/track/")
FLAGS_PATHS = ("/decide/", "/flags/")

_encode = msgspec.json.encode

_DESCRIPTION = (
    "PostHog capture API. The project key (a Vigie write key) is `api_key` or `token` in "
    "the body, in the first event's `properties.token`, or in the query string. The body is "
    "a batch (`{api_key, batch: [event, …], sent_at}`), an array of events or one event "
    "(`{event, distinct_id, properties, uuid, timestamp}`), sent as:\n\n"
    "- JSON (`application/json`, or `text/plain` to avoid a CORS preflight);\n"
    "- gzip: `Content-Encoding: gzip`, or, as posthog-js sends it, a gzip body as "
    "`text/plain` without that header (`?compression=gzip-js` optional), recognised by its "
    "magic bytes;\n"
    "- form-encoded (`application/x-www-form-urlencoded`): `data=<base64 of the JSON>` with "
    "`compression=base64` in the form or the query, what `navigator.sendBeacon` sends.\n\n"
    "`$pageview` is stored as a page, `$identify`/`$set` as an identify with `$set` as the "
    "traits, `$create_alias` as an alias, `$groupidentify` as a group, anything else as a "
    "track; `distinct_id` is the user id of an identified person, else the anonymous id. An "
    "event whose `uuid` is already in the log is acknowledged and counted in `duplicates`. "
    "A bad event is answered 400 with `attr` (the field) and `detail` (the reason), and kept "
    "in the rejected-events table; the good events of the batch are stored."
)
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "distinct_id"],
    "properties": {
        "event": {"type": "string"},
        "distinct_id": {"type": "string"},
        "properties": {"type": "object"},
        "uuid": {"type": "string", "description": "Deduplication key, per source."},
        "timestamp": {"type": "string", "format": "date-time"},
        "$set": {"type": "object"},
        "api_key": {"type": "string"},
    },
    "additionalProperties": True,
}
_BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "api_key": {"type": "string"},
                "batch": {"type": "array", "items": _EVENT_SCHEMA},
                "sent_at": {"type": "string", "format": "date-time"},
            },
        },
        {"type": "array", "items": _EVENT_SCHEMA},
        _EVENT_SCHEMA,
    ]
}
_CAPTURE_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "compression",
            "in": "query",
            "required": False,
            "description": "How the body is encoded when no header says so.",
            "schema": {"type": "string", "enum": ["gzip-js", "gzip", "base64"]},
        },
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "description": "`gzip` (or `deflate`) for a compressed body; at most 500 KB inflated.",
            "schema": {"type": "string", "enum": ["gzip", "x-gzip", "deflate", "identity"]},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _BODY_SCHEMA},
            "text/plain": {
                "schema": {
                    "type": "string",
                    "description": "The same JSON, or its gzip (posthog-js's `gzip-js`).",
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "description": "The JSON body, base64-encoded (or as is).",
                        },
                        "compression": {"type": "string", "enum": ["base64"]},
                    },
                }
            },
        },
    },
}

NO_FLAGS: dict[str, Any] = {
    "flags": {},
    "featureFlags": {},
    "featureFlagPayloads": {},
    "errorsWhileComputingFlags": False,
    "quotaLimited": [],
}
"""What `/flags` and `/decide` answer: Vigie has no feature flags."""


def remote_config(token: str) -> dict[str, Any]:
    """posthog-js's remote configuration: gzip accepted, and nothing else to load."""
    return {
        "token": token,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "autocaptureExceptions": False,
        "analytics": {"endpoint": "/e/"},
        "elementsChainAsString": True,
        "sessionRecording": False,
        "heatmaps": False,
        "surveys": False,
        "productTours": False,
        "defaultIdentifiedOnly": True,
        "siteApps": [],
    }


class PostHogCapture:
    """Reads PostHog capture requests and appends their events through the `Ingestor`."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def capture(
        self,
        body: bytes,
        *,
        endpoint: str,
        content_type: str | None,
        content_encoding: str | None,
        query: dict[str, str],
    ) -> Outcome:
        """Handle one request to a capture endpoint."""
        busy = self.ingestor.overloaded(endpoint=endpoint)
        if busy is not None:
            return busy
        started = time.perf_counter()
        received_at = self.ingestor.clock.now()
        compression = query.get("compression", "").lower()
        if not content_encoding and (body[:2] == GZIP_MAGIC or compression in ("gzip", "gzip-js")):
            content_encoding = "gzip"
        try:
            body = decompress(body, content_encoding)
            capture = decode_capture(body, content_type=content_type, query=query)
        except PayloadError as exc:
            await self.ingestor.keep_rejection(
                Rejection(reason=exc.reason, field=exc.field, payload=body),
                source=None,
                endpoint=endpoint,
            )
            return _error(exc.status, exc.reason, exc.field)
        key = capture.api_key
        source = self.ingestor.config.source_for_key(key) if key else None
        if source is None:
            reason = (
                "unknown project key (api_key): use a write key of vigie.yaml"
                if key
                else "no project key: send api_key (or token) in the body"
            )
            await self.ingestor.keep_rejection(
                Rejection(reason=reason, field="api_key", payload=body),
                source=None,
                endpoint=endpoint,
            )
            return _error(401, reason, "api_key")
        limited = self.ingestor.over_rate(source, endpoint=endpoint)
        if limited is not None:
            return limited
        events, rejections = convert_capture(
            capture, source=source.name, received_at=received_at, bounds=self.ingestor.bounds
        )
        outcome = await self.ingestor.append(
            events,
            rejections,
            source=source.name,
            endpoint=endpoint,
            received_at=received_at,
            started=started,
            total=len(capture.events),
        )
        if outcome.status == 200:
            outcome.body["status"] = 1
        else:
            first = rejections[0]
            outcome.body.update(
                type="validation_error",
                code="invalid_payload",
                detail=outcome.body["error"],
                attr=first.field,
            )
        return outcome


def _error(status: int, reason: str, field: str | None) -> Outcome:
    """A refused request, in Vigie's shape and PostHog's (`detail` is what clients log)."""
    rejected: dict[str, Any] = {"reason": reason}
    if field:
        rejected["field"] = field
    return Outcome(
        status=status,
        body={
            "success": False,
            "error": reason,
            "rejected": [rejected],
            "type": "authentication_error" if status == 401 else "validation_error",
            "code": "invalid_api_key" if status == 401 else "invalid_payload",
            "detail": reason,
            "attr": field,
        },
    )


def _json(body: Any, *, status: int = 200) -> Response:
    return Response(content=_encode(body), status_code=status, media_type="application/json")


def build_router(ingestor: Ingestor) -> APIRouter:
    """PostHog's capture and feature-flag routes, appending through `ingestor`."""
    router = APIRouter(tags=["ingest"])
    capture = PostHogCapture(ingestor)

    def capture_route(path: str) -> None:
        async def endpoint(request: Request) -> Response:
            outcome = await capture.capture(
                await request.body(),
                endpoint=path,
                content_type=request.headers.get("content-type"),
                content_encoding=request.headers.get("content-encoding"),
                query=dict(request.query_params),
            )
            return _json(outcome.body, status=outcome.status)

        endpoint.__doc__ = "Capture PostHog events (one, an array or a batch)."
        name = "posthog_" + path.strip("/").replace("/", "_")
        for spelling in (path, path.rstrip("/")):
            router.add_api_route(
                spelling,
                endpoint,
                methods=["POST"],
                name=name + ("" if spelling == path else "_no_slash"),
                summary=f"PostHog capture ({path})",
                description=_DESCRIPTION,
                openapi_extra=_CAPTURE_OPENAPI,
                response_class=Response,
                include_in_schema=spelling == path,
            )

    for path in CAPTURE_PATHS:
        capture_route(path)

    async def no_flags(request: Request) -> Response:
        """No feature flags: what posthog-js and posthog-python need to go on without error."""
        await request.body()
        return _json({**NO_FLAGS, "requestId": str(uuid.uuid4())})

    for path in FLAGS_PATHS:
        for spelling in (path, path.rstrip("/")):
            for method in ("POST", "GET"):
                router.add_api_route(
                    spelling,
                    no_flags,
                    methods=[method],
                    name=f"posthog_{spelling.strip('/')}_{method.lower()}"
                    + ("" if spelling == path else "_no_slash"),
                    summary=f"PostHog feature flags ({path}): none",
                    response_class=Response,
                    include_in_schema=spelling == path,
                )

    @router.get("/array/{token}/config", response_class=Response, summary="posthog-js config")
    def config(token: str) -> Response:
        """posthog-js's remote configuration: no flags, recordings or surveys to load."""
        return _json(remote_config(token))

    @router.get("/array/{token}/config.js", response_class=Response, summary="posthog-js config")
    def config_js(token: str) -> Response:
        """The same configuration, as the script posthog-js loads when it can."""
        body = _encode({"config": remote_config(token), "siteApps": []}).decode()
        script = (
            "(function(){var w=window;w._POSTHOG_REMOTE_CONFIG=w._POSTHOG_REMOTE_CONFIG||{};"
            f"w._POSTHOG_REMOTE_CONFIG[{_encode(token).decode()}]={body};}})();"
        )
        return Response(content=script, media_type="application/javascript; charset=utf-8")

    return router
