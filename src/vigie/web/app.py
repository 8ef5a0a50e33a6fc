"""The app factory: serves a built `System` over HTTP; it assembles routes, not parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST

from vigie import __version__
from vigie.auth.throttle import Throttled
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
from vigie.ingest import sensors as ingest_sensors
from vigie.ingest import tracker
from vigie.ingest import webhooks as ingest_webhooks
from vigie.ingest.cors import TrackerCors
from vigie.log.eventlog import LogUnavailable
from vigie.privacy import PrivacyError, SubjectNotFound
from vigie.rules import triage
from vigie.rules.silences import SilenceNotFound
from vigie.rules.triage import AlertNotFound
from vigie.rules.versions import NotApplicable, RuleNotFound
from vigie.system import System
from vigie.web import (
    api_actions,
    api_alerts,
    api_analytics,
    api_auth,
    api_chat,
    api_crm,
    api_dashboard,
    api_deadletters,
    api_events,
    api_experiments,
    api_leads,
    api_live,
    api_playbooks,
    api_privacy,
    api_processing,
    api_reports,
    api_schedule,
    api_sensors,
    api_silences,
    api_sources,
    ui,
)
from vigie.web.admission import IngestAdmission
from vigie.web.headers import OpsGuard, SecurityHeaders
from vigie.web.limits import BodyLimit, NulGuard
from vigie.web.request_ids import RequestIds

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
    app.add_exception_handler(RuleNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(SilenceNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(triage.Invalid, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotApplicable, _not_applicable)  # type: ignore[arg-type]
    app.add_exception_handler(SubjectNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(PrivacyError, _conflict)
    app.add_exception_handler(RequestValidationError, _unprocessable)  # type: ignore[arg-type]
    app.add_exception_handler(Throttled, _throttled)  # type: ignore[arg-type]
    app.add_exception_handler(LogUnavailable, _log_unavailable)  # type: ignore[arg-type]
    app.include_router(ingest_http.build_router(system.ingestor))
    app.include_router(ingest_posthog.build_router(system.ingestor))
    app.include_router(ingest_webhooks.build_router(system.inbound))
    app.include_router(ingest_sensors.build_router(system.sensor_intake))
    # FastAPI matches a request against every route of every router included before the one
    # that serves it (0.5 ms before a CRM write when the CRM came last): the API's hottest
    # routers come right after ingestion. The run's and the workflow's fixed paths come
    # before the CRM's `/api/leads/{id}`; no other path overlaps the CRM's (checked by
    # `tests/web/test_routes.py`).
    app.include_router(api_leads.router)
    app.include_router(api_leads.workflow)
    app.include_router(api_crm.build_router())
    app.include_router(api_events.router)
    app.include_router(api_deadletters.router)
    app.include_router(api_processing.router)
    app.include_router(api_sources.router)
    app.include_router(api_auth.router)
    app.include_router(api_alerts.router)
    app.include_router(api_silences.router)
    app.include_router(api_live.router)
    app.include_router(tracker.build_router(system.settings.config))
    app.include_router(api_analytics.router)
    app.include_router(api_experiments.router)
    app.include_router(api_experiments.holdouts_router)
    app.add_middleware(TrackerCors)
    app.add_middleware(RequestIds)
    app.include_router(api_playbooks.router)
    app.include_router(api_actions.router)
    app.include_router(api_chat.visitor_router)
    app.include_router(api_chat.router)
    app.include_router(api_schedule.router)
    app.include_router(api_schedule.inbox_router)
    app.include_router(api_reports.router)
    app.include_router(api_sensors.router)
    app.include_router(api_dashboard.router)
    ui.install(app)
    app.include_router(api_privacy.router)
    http_settings = system.settings.config.http
    app.add_middleware(BodyLimit, settings=http_settings, refused=system.telemetry.bodies_refused)
    ingest_settings = system.settings.config.ingest
    app.add_middleware(
        IngestAdmission,
        max_in_flight=ingest_settings.max_in_flight,
        retry_after=ingest_settings.retry_after_seconds,
        deferred=system.telemetry.ingest_deferred,
    )
    app.add_middleware(NulGuard)
    app.add_middleware(OpsGuard, settings=http_settings)
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests (answered on the event loop itself, without
        a hand-off to a worker thread)."""
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        tags=["ops"],
        response_class=Response,
        responses={503: {"description": "Not ready: `reasons` says why."}},
    )
    def readyz() -> Response:
        """Readiness: the store and the log answer, and every processor is less than
        `readiness.max_lag` behind the log; 503 with the reasons otherwise."""
        found = system.readiness.check()
        return Response(
            content=msgspec.json.encode(found),
            status_code=200 if found.ready else 503,
            media_type="application/json",
        )

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


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": exc.args[0] if exc.args else str(exc)}, status_code=409)


async def _throttled(_request: Request, exc: Throttled) -> JSONResponse:
    """Too many failed sign-ins: 429, and when to try again."""
    return JSONResponse(
        {
            "detail": f"too many failed sign-ins; try again in {exc.retry_after} s "
            f"/ trop d'essais, réessayez dans {exc.retry_after} s"
        },
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


ECHO_CHARS = 200
"""How much of a refused input a 422 answer repeats: enough to see it, never a whole body."""


async def _unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors (field and reason), with the input cut short and never a
    secret: a large body is not sent back whole, a password not at all."""
    errors = []
    for error in exc.errors():
        error = dict(error)
        error.pop("ctx", None)
        if "input" in error:
            if any("password" in str(part) for part in error.get("loc", ())):
                error["input"] = "(hidden)"
            else:
                shown = jsonable_encoder(error["input"])
                text = shown if isinstance(shown, str) else msgspec.json.encode(shown).decode()
                if len(text) > ECHO_CHARS:
                    error["input"] = text[:ECHO_CHARS] + "…"
        errors.append(jsonable_encoder(error))
    return JSONResponse({"detail": errors}, status_code=422)


async def _invalid(_request: Request, exc: triage.Invalid) -> JSONResponse:
    """A refused input, in the shape of FastAPI's own validation errors: field and reason."""
    detail = [{"loc": ["body", *exc.field.split(".")], "msg": exc.reason, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _not_applicable(_request: Request, exc: NotApplicable) -> JSONResponse:
    """A rule version the rules could not put in place: refused (409), naming the field,
    the rule and why, as a validation error reads."""
    detail = [{"loc": ["body", *exc.field.split(".")], "msg": exc.reason, "type": "conflict"}]
    return JSONResponse({"detail": detail}, status_code=409)


async def _log_unavailable(_request: Request, exc: LogUnavailable) -> JSONResponse:
    """The log's server is away: nothing was acknowledged, send it again later."""
    return JSONResponse(
        {"success": False, "detail": f"{exc}; nothing was stored, retry later"},
        status_code=503,
        headers={"Retry-After": str(exc.retry_after)},
    )
