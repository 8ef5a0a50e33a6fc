"""The app factory: one FastAPI app per `Settings`, nothing built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST

from vigie import __version__
from vigie.clock import Clock
from vigie.ingest.cors import TrackerCors
from vigie.ingest.http import router as ingest_router
from vigie.ingest.tracker import router as tracker_router
from vigie.log import Processor
from vigie.settings import Settings
from vigie.web import (
    api_alerts,
    api_analytics,
    api_auth,
    api_crm,
    api_dashboard,
    api_events,
    api_leads,
    api_live,
    api_playbooks,
    api_schedule,
    ui,
)
from vigie.web.runtime import Runtime


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: sa.Engine | None = None,
    processors: Sequence[Processor] = (),
) -> FastAPI:
    """Build the Vigie server for `settings`; the store is migrated when it starts."""
    runtime = Runtime(settings, clock=clock, engine=engine, processors=processors)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # FastAPIOffline serves the Swagger UI assets from the installed package: no CDN.
    app = FastAPIOffline(
        title="Vigie",
        version=__version__,
        description="A CRM that works as a real-time internal audit of a company.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.ingestor = runtime.ingestor
    app.include_router(ingest_router)
    app.include_router(api_events.router)
    app.include_router(api_auth.router)
    app.include_router(api_alerts.router)
    app.include_router(api_live.router)
    app.include_router(tracker_router)
    app.include_router(api_analytics.router)
    app.add_middleware(TrackerCors)
    app.include_router(api_playbooks.router)
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
        return Response(content=runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
