"""Load shedding at the door: at most `ingest.max_in_flight` event requests are worked on at
once; past it, the next is answered 503 with `Retry-After` before its body is read.

The writer's queue and the processors' lag (`vigie.log.pressure`) bound what waits for the
log; this bounds what waits before it, where a flood of requests otherwise queues for the
CPU (reading, parsing, validating) and every answer, the dashboard's included, takes seconds.
A refused request stored nothing, so a client that retries after `Retry-After` loses nothing.
"""

from __future__ import annotations

import json

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from vigie.web.limits import INGEST_BYTES, route_family


def _drainable(scope: Scope) -> bool:
    """Whether the unread body is small enough (declared, at most what an event route reads)
    for the connection to be kept: the server skips it, and the client's next request reuses
    the connection instead of opening another, which a server shedding load can ill afford."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) <= INGEST_BYTES
    return False


class IngestAdmission:
    """Counts the event requests in progress; answers 503 to those past the bound."""

    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, retry_after: int, deferred: Counter
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        self.deferred = deferred
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or route_family(scope["path"]) != "ingest"
        ):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.deferred.labels(scope["path"]).inc()
            await self._refuse(send, close=not _drainable(scope))
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send, *, close: bool) -> None:
        reason = (
            f"busy, nothing was stored: {self.max_in_flight} requests are being worked on "
            f"(ingest.max_in_flight); retry after {self.retry_after} s"
        )
        body = json.dumps(
            {"success": False, "error": reason, "rejected": [{"reason": reason}]}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after).encode()),
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", b"Retry-After"),
        ]
        if close:  # an unread body of unknown or large size is not worth draining
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
