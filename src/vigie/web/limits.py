"""Request bodies are bounded per route family before any work is done on them.

An ASGI middleware, outside routing, parsing and authentication: a declared
`Content-Length` over the limit is answered 413 without reading a byte, and a body sent
without one (chunked) is counted while it streams and refused as soon as it passes the
limit, so a client with no credentials cannot make the server hold or parse a large body.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec
from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigie.config import HttpSettings
from vigie.events.segment import MAX_BATCH_BYTES
from vigie.ingest.posthog import CAPTURE_PATHS, FLAGS_PATHS

INGEST_BYTES = 2 * MAX_BATCH_BYTES
"""The largest body the event routes read: twice the 500 KB a batch may hold once inflated,
so that a batch just over the limit still reaches the ingestor and is kept, with its reason,
among the rejected input; beyond, it is refused at the door."""

_POSTHOG = frozenset(p for path in (*CAPTURE_PATHS, *FLAGS_PATHS) for p in (path, path[:-1]))


def route_family(path: str) -> str:
    """The family a path belongs to, for its body limit: `ingest`, `import` or `api`."""
    if path.startswith("/v1/") or path in _POSTHOG:
        return "ingest"
    if path.startswith("/api/import/"):
        return "import"
    return "api"


class BodyTooLarge(HTTPException):
    """The body passed its route family's limit while it was read."""

    def __init__(self, family: str, limit: int) -> None:
        super().__init__(
            413,
            f"request body over the {limit}-byte limit of {family} requests "
            f"/ corps de requête trop grand (max {limit} octets)",
        )


class BodyLimit:
    """Refuses bodies over their route family's limit (413) before the app reads them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: HttpSettings,
        refused: Counter,
    ) -> None:
        self.app = app
        self.settings = settings
        self.refused = refused

    def limit_of(self, family: str) -> int:
        """The limit of `family`, in bytes."""
        settings = self.settings
        return {
            "ingest": INGEST_BYTES,
            "import": settings.max_import_bytes,
        }.get(family, settings.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        family = route_family(scope["path"])
        limit = self.limit_of(family)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            self.refused.labels(family).inc()
            await _refuse(send, BodyTooLarge(family, limit))
            return
        seen = 0
        unread = True

        async def counted() -> Message:
            nonlocal seen, unread
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                unread = message.get("more_body", False)
                if seen > limit:
                    self.refused.labels(family).inc()
                    raise BodyTooLarge(family, limit)
            return message

        async def closing(message: Message) -> None:
            # An answer given before the body was read to its end (refused, or 401 before
            # reading): the connection closes, so the server does not drain the rest.
            if unread and message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], _CLOSE]}
            await send(message)

        await self.app(scope, counted, closing)


_CLOSE = (b"connection", b"close")


NUL_REASON = "NUL characters are not allowed (the store cannot hold them) / caractère NUL refusé"


class NulGuard:
    """Refuses a NUL character in the path or a query parameter (422, naming the parameter)
    on every route at once: PostgreSQL can neither store nor compare one, so it would
    otherwise surface as a server error deep in a query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            where = _nul_in(scope)
            if where is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = msgspec.json.encode(
                    {"detail": [{"loc": where, "msg": NUL_REASON, "type": "value_error"}]}
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 422,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> list[str] | None:
    """Where a NUL character sits: `["path"]`, `["query", name]`, or None."""
    if "\x00" in scope["path"]:
        return ["path"]
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return ["query", name.replace("\x00", "")]
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, exc: BodyTooLarge) -> None:
    body = msgspec.json.encode({"detail": exc.detail, "success": False, "error": exc.detail})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                _CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
