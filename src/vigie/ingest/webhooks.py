"""Inbound webhooks of business sources: `POST /hooks/{name}` for each source under
`inbound:` in `vigie.yaml`, verified by its kind (Stripe, Shopify, Twilio, Mailchimp, a
plugin's), its events appended like any other. A request that fails verification is answered
401 and kept in the rejected-events table with the reason; each delivery is counted by
source and outcome (`vigie_webhook_deliveries_total`) and the last one is remembered for the
dashboard's Sources panel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vigie.events import Event, Rejection
from vigie.events.segment import TIMESTAMP_REPLACED
from vigie.ingest.ingestor import Ingestor, Outcome
from vigie.sources import InboundSource, Invalid, Refused, SourceRegistry, WebhookRequest
from vigie.sources.ads import AdRowError, Platform, read_report
from vigie.sources.base import MAX_BODY_BYTES

OUTCOMES = ("accepted", "duplicate", "refused", "invalid")
logger = logging.getLogger(__name__)


class SourceStatus(msgspec.Struct, kw_only=True):
    """A configured inbound source and how its deliveries went since the server started."""

    name: str
    kind: str
    path: str
    description: str | None = None
    deliveries: dict[str, int] = {}
    last_delivery_at: datetime | None = None
    last_outcome: str | None = None
    last_rejection_at: datetime | None = None
    last_rejection: str | None = None


class AdImport(msgspec.Struct, kw_only=True):
    """What an ad report import did: rows read, events stored and already stored (an hour
    imported before), or the rows at fault (then nothing was stored)."""

    platform: str
    rows: int
    accepted: int = 0
    duplicates: int = 0
    errors: list[AdRowError] = []


class Inbound:
    """Verifies, converts and appends the deliveries of the configured business sources."""

    def __init__(
        self,
        sources: Sequence[InboundSource],
        *,
        registry: SourceRegistry,
        ingestor: Ingestor,
    ) -> None:
        self.sources = {source.name: source for source in sources}
        self.registry = registry
        self.ingestor = ingestor
        self._lock = threading.Lock()
        self._status = {
            s.name: SourceStatus(
                name=s.name,
                kind=s.kind,
                path=f"/hooks/{s.name}",
                description=s.description,
                deliveries=dict.fromkeys(OUTCOMES, 0),
            )
            for s in sources
        }

    def knows(self, name: str) -> bool:
        """True when `name` is a configured inbound source."""
        return name in self.sources

    async def receive(self, name: str, request: WebhookRequest) -> Outcome:
        """Handle one delivery to `/hooks/{name}`."""
        started = time.perf_counter()
        endpoint = f"/hooks/{name}"
        settings = self.sources.get(name)
        if settings is None:
            reason = "no inbound source of that name in vigie.yaml (inbound:)"
            await self.ingestor.keep_rejection(
                Rejection(reason=reason, field="name", payload=request.body[:MAX_BODY_BYTES]),
                source=None,
                endpoint=endpoint[:200],
            )
            return _error(404, reason, "name")
        kind = self.registry.get(settings.kind)
        received_at = self.ingestor.clock.now()
        if len(request.body) > MAX_BODY_BYTES:
            too_large = Invalid("body", f"over the {MAX_BODY_BYTES}-byte limit")
            return await self._reject(settings, request, too_large, 413, "invalid", received_at)
        try:
            kind.verify(request, settings, received_at)
            events = kind.events(request, settings, received_at)
        except Refused as exc:
            return await self._reject(settings, request, exc, 401, "refused", received_at)
        except Invalid as exc:
            return await self._reject(settings, request, exc, 400, "invalid", received_at)
        except Exception as exc:
            # A source's own fault (a plugin's bug): the delivery is kept, the sender retries.
            logger.exception("source %s (%s) failed on a delivery", settings.name, settings.kind)
            fault = Invalid("body", f"the {settings.kind} source failed: {exc!r}"[:500])
            return await self._reject(settings, request, fault, 500, "invalid", received_at)
        events = [self._bounded(e, received_at) for e in events]
        outcome = await self.ingestor.append(
            events,
            [],
            source=settings.name,
            endpoint=endpoint,
            received_at=received_at,
            started=started,
            total=len(events),
        )
        duplicate = bool(events) and not outcome.body.get("accepted")
        self._count(settings.name, "duplicate" if duplicate else "accepted", received_at)
        return outcome

    def _bounded(self, event: Event, received_at: datetime) -> Event:
        """`event` with a time outside `ingest.timestamps` replaced by its arrival, as for
        every other source (the sender's time is kept in `original_timestamp`)."""
        bounds = self.ingestor.bounds
        if event.timestamp > received_at + bounds.max_ahead:
            why = "ahead"
        elif event.timestamp < bounds.earliest:
            why = "before"
        else:
            return event
        return msgspec.structs.replace(
            event,
            timestamp=received_at,
            original_timestamp=event.timestamp,
            context={**event.context, TIMESTAMP_REPLACED: why},
        )

    async def _reject(
        self,
        settings: InboundSource,
        request: WebhookRequest,
        exc: Refused | Invalid,
        status: int,
        outcome: str,
        received_at: datetime,
    ) -> Outcome:
        reason = f"{settings.kind}: {exc.reason}"
        await self.ingestor.keep_rejection(
            Rejection(reason=reason, field=exc.field, payload=request.body[:MAX_BODY_BYTES]),
            source=settings.name,
            endpoint=f"/hooks/{settings.name}",
        )
        self._count(settings.name, outcome, received_at, reason=f"{exc.field}: {exc.reason}")
        return _error(status, reason, exc.field)

    def _count(self, name: str, outcome: str, at: datetime, *, reason: str | None = None) -> None:
        with self._lock:
            status = self._status[name]
            status.deliveries[outcome] = status.deliveries.get(outcome, 0) + 1
            status.last_delivery_at, status.last_outcome = at, outcome
            if reason is not None:
                status.last_rejection_at, status.last_rejection = at, reason

    async def import_ads(
        self,
        text: str,
        *,
        platform: Platform,
        timezone: str = "UTC",
        currency: str = "EUR",
    ) -> AdImport:
        """Append an ad platform's CSV report (all rows, or none when one is bad)."""
        started = time.perf_counter()
        received_at = self.ingestor.clock.now()
        report = read_report(
            text, platform=platform, received_at=received_at, timezone=timezone, currency=currency
        )
        if not report.ok:
            return AdImport(platform=platform, rows=0, errors=report.errors)
        source = report.events[0].source
        outcome = await self.ingestor.append(
            report.events,
            [],
            source=source,
            endpoint=f"import:{source}",
            received_at=received_at,
            started=started,
            total=len(report.events),
        )
        return AdImport(
            platform=platform,
            rows=len(report.events),
            accepted=int(outcome.body.get("accepted", 0)),
            duplicates=int(outcome.body.get("duplicates", 0)),
        )

    def statuses(self) -> list[SourceStatus]:
        """Every configured inbound source with its deliveries since start."""
        with self._lock:
            return [
                msgspec.structs.replace(s, deliveries=dict(s.deliveries))
                for s in self._status.values()
            ]


class DeliveryCollector(Collector):
    """`vigie_webhook_deliveries_total{source, outcome}`: deliveries to `/hooks/{source}`
    since start, `accepted`, `duplicate` (a re-delivery), `refused` (bad signature, 401)
    or `invalid` (unreadable, 400)."""

    def __init__(self, inbound: Inbound) -> None:
        self.inbound = inbound

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vigie_webhook_deliveries",
            "Deliveries of business sources' webhooks, by source and outcome.",
            labels=["source", "outcome"],
        )
        for status in self.inbound.statuses():
            for outcome in OUTCOMES:
                family.add_metric([status.name, outcome], status.deliveries.get(outcome, 0))
        yield family


def _error(status: int, reason: str, field: str) -> Outcome:
    return Outcome(
        status=status,
        body={"success": False, "error": reason, "rejected": [{"reason": reason, "field": field}]},
    )


_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    }
}


def build_router(inbound: Inbound) -> APIRouter:
    """`POST /hooks/{name}` (and `GET`, which Mailchimp calls to check the URL)."""
    router = APIRouter(tags=["sources"])

    @router.post("/hooks/{name}", openapi_extra=_OPENAPI)
    async def deliver(name: str, request: Request) -> Response:
        """A delivery of the business source `name` of `vigie.yaml` (`inbound:`), signed as
        its sender signs: Stripe (`Stripe-Signature`), Shopify (`X-Shopify-Hmac-Sha256`),
        Twilio (`X-Twilio-Signature`), Mailchimp (`?key=` in the URL). A bad signature is
        answered 401 and kept with its reason; a re-delivery is stored once."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break
        webhook = WebhookRequest(
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=bytes(body),
            query=dict(request.query_params),
        )
        outcome = await inbound.receive(name, webhook)
        return Response(
            content=msgspec.json.encode(outcome.body),
            status_code=outcome.status,
            media_type="application/json",
            headers=outcome.headers,
        )

    @router.get("/hooks/{name}")
    def check(name: str) -> Response:
        """200 for a configured source (Mailchimp checks a webhook's URL so), else 404."""
        if not inbound.knows(name):
            return Response(status_code=404)
        return Response(content=b'{"ok":true}', media_type="application/json")

    return router
