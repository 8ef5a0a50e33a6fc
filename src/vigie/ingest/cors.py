"""CORS for the tracker's endpoints only: a page on the customer's site (another origin)
posts to `/v1/…` and reads `/t/config`; the REST API under `/api/` stays same-origin.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

TRACKER_PREFIXES = ("/v1/", "/t/", "/t.js")


class TrackerCors:
    """Answer preflights and add `Access-Control-Allow-Origin: *` on the tracker's paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["content-type", "content-encoding", "authorization"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(TRACKER_PREFIXES):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
