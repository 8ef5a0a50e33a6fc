"""The app factory: serves a built `System` over HTTP; it assembles routes, not parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST

from vigie import __version__
from vigie.crm.service import (
    CrmError,
    Forbidden,
    Invalid,
    NotApplied,
    ProjectionBehind,
    RecordNotFound,
)
from vigie.ingest import http as ingest_http
from vigie.ingest import posthog as ingest_posthog
from vigie.ingest import tracker
from vigie.ingest.cors import TrackerCors
from vigie.rules import triage
from vigie.rules.silences import SilenceNotFound
from vigie.rules.triage import AlertNotFound
from vigie.system import System
from vigie.web import (
    api_alerts,
    api_analytics,
    api_auth,
    api_chat,
    api_crm,
    api_dashboard,
    api_deadletters,
    api_events,
    api_leads,
    api_live,
    api_playbooks,
    api_schedule,
    api_silences,
    ui,
)

STATUS_OF: dict[type[CrmError], int] = {
    RecordNotFound: 404,
    Forbidden: 403,
    Invalid: 422,
    NotApplied: 409,
    ProjectionBehind: 503,
}
"""The HTTP status of each domain error: the one place they are mapped."""


def create_app(system: System) -> FastAPI:
    """The Vigie server for `system`: started with the app and stopped with it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await system.start()
        try:
            yield
        finally:
            await system.stop()

    # FastAPIOffline serves the Swagger UI assets from the installed package: no CDN.
    app = FastAPIOffline(
        title="Vigie",
        version=__version__,
        description="A CRM that works as a real-time internal audit of a company.",
        lifespan=lifespan,
    )
    app.state.system = system
    app.add_exception_handler(CrmError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(AlertNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(SilenceNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(triage.Invalid, _invalid)  # type: ignore[arg-type]
    app.include_router(ingest_http.build_router(system.ingestor))
    app.include_router(ingest_posthog.build_router(system.ingestor))
    app.include_router(api_events.router)
    app.include_router(api_deadletters.router)
    app.include_router(api_auth.router)
    app.include_router(api_alerts.router)
    app.include_router(api_silences.router)
    app.include_router(api_live.router)
    app.include_router(tracker.build_router(system.settings.config))
    app.include_router(api_analytics.router)
    app.add_middleware(TrackerCors)
    app.include_router(api_playbooks.router)
    app.include_router(api_chat.visitor_router)
    app.include_router(api_chat.router)
    app.include_router(api_schedule.router)
    app.include_router(api_dashboard.router)
    app.include_router(api_crm.build_router())
    ui.install(app)
    app.include_router(api_leads.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(content=system.telemetry.render(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _domain_error(_request: Request, exc: CrmError) -> JSONResponse:
    status = next((s for kind, s in STATUS_OF.items() if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": exc.args[0] if exc.args else str(exc)}, status_code=status)


async def _not_found(_request: Request, exc: LookupError) -> JSONResponse:
    return JSONResponse({"detail": exc.args[0] if exc.args else str(exc)}, status_code=404)


async def _invalid(_request: Request, exc: triage.Invalid) -> JSONResponse:
    """A refused input, in the shape of FastAPI's own validation errors: field and reason."""
    detail = [{"loc": ["body", *exc.field.split(".")], "msg": exc.reason, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)
