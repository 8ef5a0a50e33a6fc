"""The browser tracker: `/t.js` (hand-written, no third-party code) and the per-source
settings it reads at start (`/t/config`): whether consent is required, which form fields
may be sent with their values.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Response

from vigie.config import Config


@lru_cache(maxsize=1)
def tracker_script() -> bytes:
    """The tracker's source, shipped inside the package."""
    return files("vigie.ingest").joinpath("tracker.js").read_bytes()


def script() -> Response:
    """The browser tracker; install it with one tag:
    `<script src="https://vigie.example/t.js" data-write-key="…" async></script>`."""
    return Response(
        content=tracker_script(),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def build_router(config: Config) -> APIRouter:
    """The tracker's routes, serving the sources of `config`."""
    router = APIRouter(tags=["ingest"])
    router.add_api_route("/t.js", script, methods=["GET"], response_class=Response)

    @router.get("/t/config", response_class=Response)
    def tracker_config(write_key: Annotated[str, Query(alias="writeKey")]) -> Response:
        """The tracker settings of the source whose write key is given (404 when unknown)."""
        return _tracker_settings(config, write_key)

    return router


def _tracker_settings(config: Config, write_key: str) -> Response:
    source = config.source_for_key(write_key)
    if source is None:
        return Response(
            content=msgspec.json.encode({"error": "unknown write key / clé d'écriture inconnue"}),
            status_code=404,
            media_type="application/json",
        )
    settings = source.tracker
    body = {
        "consentRequired": settings.consent_required,
        "formFields": settings.form_fields,
        "chat": settings.chat,
    }
    return Response(
        content=msgspec.json.encode(body),
        media_type="application/json",
        headers={"Cache-Control": "max-age=60"},
    )
