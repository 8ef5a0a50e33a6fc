"""CORS for the collection endpoints only: a page on the customer's site (another origin)
posts to `/v1/…` (Vigie's tracker, Segment's analytics-next) or to PostHog's capture paths
and reads `/t/config`; the REST API under `/api/` stays same-origin.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from vigie.ingest.posthog import CAPTURE_PATHS, FLAGS_PATHS

PREFIXES = ("/v1/", "/t/", "/t.js", "/array/")
PATHS = frozenset(
    spelling for path in CAPTURE_PATHS + FLAGS_PATHS for spelling in (path, path.rstrip("/"))
)


def is_collection_path(path: str) -> bool:
    """True for the paths a browser on another origin sends events to or reads settings from."""
    return path in PATHS or path.startswith(PREFIXES)


class TrackerCors:
    """Answer preflights and add `Access-Control-Allow-Origin: *` on the collection paths.

    Any request header is allowed: the libraries send their own (analytics-next's
    `X-Retry-Count` on a retry, `Authorization` with the write key) and let the site add
    more (`deliveryStrategy.config.headers`, posthog-js's `request_headers`); a refused
    preflight loses the event. `Retry-After` is readable so a client can honour it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Retry-After"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_collection_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
