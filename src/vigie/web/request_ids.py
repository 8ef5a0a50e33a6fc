"""Request ids: each HTTP request gets one (the caller's `X-Request-ID` when it is sane, a
new one otherwise), bound to every log line written while it is served and sent back in the
response's `X-Request-ID`, so that a user's report and the server's logs meet."""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
logger = logging.getLogger("vigie.requests")


class RequestIds:
    """ASGI middleware binding `request_id` to the logs of a request; the request's line
    (method, path, status, duration) is written at DEBUG, or WARNING for a server error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER, b"")
        request_id = given.decode() if _SANE.match(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                level = logging.WARNING if status >= 500 else logging.DEBUG
                if logger.isEnabledFor(level):
                    logger.log(
                        level,
                        "%s %s %s",
                        scope.get("method"),
                        scope.get("path"),
                        status,
                        extra={
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        },
                    )
