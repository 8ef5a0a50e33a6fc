"""Turns one raw request into committed events and kept rejections, whatever edge it came by."""

from __future__ import annotations

import base64
import binascii
import time
import zlib
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import msgspec

from vigie.chat.conversations import SERVICE_EVENTS as CHAT_SERVICE_EVENTS
from vigie.clock import Clock
from vigie.config import Config, Source
from vigie.events import Event, Rejection
from vigie.events.segment import (
    MAX_BATCH_BYTES,
    PayloadError,
    TimestampBounds,
    convert_messages,
    decode_envelope,
)
from vigie.ingest.rates import SourceRates
from vigie.kpi.durations import parse_duration
from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendJob
from vigie.log.pressure import Backpressure
from vigie.privacy.erasures import ERASED
from vigie.sensors.rings import CHANGED as RINGS_CHANGED
from vigie.telemetry import Telemetry


class Outcome(msgspec.Struct, kw_only=True):
    """The answer to a request: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = {}


class Ingestor:
    """Validates, normalises, deduplicates and appends; rejects are kept with their reason."""

    def __init__(
        self,
        *,
        config: Config,
        committer: GroupCommitter,
        metrics: Telemetry,
        clock: Clock,
        pressure: Backpressure | None = None,
    ) -> None:
        self.config = config
        self.committer = committer
        self.metrics = metrics
        self.clock = clock
        self.bounds = timestamp_bounds(config)
        self.pressure = pressure
        self.rates = SourceRates(clock=clock)

    def over_rate(self, source: Source, *, endpoint: str) -> Outcome | None:
        """429 with `Retry-After` when `source` sends faster than its `rate_limit`; nothing
        of the request is stored or acknowledged, so a client that retries loses nothing."""
        if source.rate_limit is None:
            return None
        wait = self.rates.retry_after(source.name, rate=source.rate_limit, burst=source.burst)
        if wait is None:
            return None
        self.metrics.ingest_deferred.labels(endpoint).inc()
        return _error(
            429,
            f"source {source.name!r} is over its rate limit of {source.rate_limit:g} requests "
            f"per second; nothing was stored, retry after {wait} s",
            None,
            headers={"Retry-After": str(wait)},
        )

    def overloaded(self, *, endpoint: str) -> Outcome | None:
        """503 with `Retry-After` while the writer or the processors cannot keep up (the
        request is not acknowledged, so a client that retries loses nothing), else None."""
        reason = self.pressure.reason() if self.pressure is not None else None
        if reason is None:
            return None
        self.metrics.ingest_deferred.labels(endpoint).inc()
        retry = str(self.config.ingest.retry_after_seconds)
        return _error(
            503,
            f"busy, nothing was stored: {reason}; retry after {retry} s",
            None,
            headers={"Retry-After": retry},
        )

    async def ingest(
        self,
        body: bytes,
        *,
        endpoint: str,
        authorization: str | None,
        content_encoding: str | None,
        single_type: str | None = None,
    ) -> Outcome:
        """Handle one request to a Segment-compatible endpoint."""
        busy = self.overloaded(endpoint=endpoint)
        if busy is not None:
            return busy
        started = time.perf_counter()
        received_at = self.clock.now()
        header_key = _basic_user(authorization)
        try:
            body = decompress(body, content_encoding)
            envelope = decode_envelope(body, single_type=single_type)
        except PayloadError as exc:
            source_name = self._source_name(header_key)
            await self.keep_rejection(
                Rejection(reason=exc.reason, field=exc.field, payload=body),
                source=source_name,
                endpoint=endpoint,
            )
            return _error(exc.status, exc.reason, exc.field)
        write_key = header_key or envelope.write_key
        if not write_key:
            reason = "no write key: send it as the HTTP Basic user or as writeKey in the body"
            await self.keep_rejection(
                Rejection(reason=reason, field="writeKey", payload=body),
                source=None,
                endpoint=endpoint,
            )
            return _error(
                401, reason, "writeKey", headers={"WWW-Authenticate": 'Basic realm="vigie"'}
            )
        found = self.config.source_for_key(write_key)
        if found is None:
            reason = "unknown write key"
            await self.keep_rejection(
                Rejection(reason=reason, field="writeKey", payload=body),
                source=None,
                endpoint=endpoint,
            )
            return _error(
                401, reason, "writeKey", headers={"WWW-Authenticate": 'Basic realm="vigie"'}
            )

        source = found
        limited = self.over_rate(source, endpoint=endpoint)
        if limited is not None:
            return limited
        events, rejections = convert_messages(
            envelope,
            source=source.name,
            received_at=received_at,
            single_type=single_type,
            bounds=self.bounds,
        )
        return await self.append(
            events,
            rejections,
            source=source.name,
            endpoint=endpoint,
            received_at=received_at,
            started=started,
            total=len(envelope.messages),
            owned=True,
        )

    async def append(
        self,
        events: list[Event],
        rejections: list[Rejection],
        *,
        source: str,
        endpoint: str,
        received_at: datetime,
        started: float,
        total: int,
        owned: bool = False,
    ) -> Outcome:
        """Commit converted events and their batch's rejections, count them, and answer.

        Every wire format (Segment, PostHog) ends here, so they share the log's dedupe, the
        metrics and the shape of the answer; `started` is the request's `perf_counter()`. The
        privacy safeguards (IP truncation, pseudonymised visitor ids) are the log writer's, as
        for every other sender (`vigie.privacy.safeguards.SafeguardedLog`). An event that
        only Vigie's own services append (`RESERVED_EVENTS`) is refused here, whatever edge
        it came by. `owned`: the events were converted for this request alone, so the
        safeguards change them in place (`AppendJob.owned`).
        """
        if any(event.event in RESERVED_EVENTS for event in events):
            events, refused = refuse_reserved(events)
            rejections = [*rejections, *refused]
        result = await self.committer.append(
            AppendJob(
                events=events,
                rejections=rejections,
                source=source,
                endpoint=endpoint,
                received_at=received_at,
                owned=owned,
            )
        )
        self.metrics.ingest_batch_seconds.observe(time.perf_counter() - started)
        if result.accepted:
            self.metrics.events_accepted.labels(source).inc(result.accepted)
        if result.duplicates:
            self.metrics.events_duplicate.labels(source).inc(result.duplicates)
        for rejection in rejections:
            self.metrics.events_rejected.labels(_reason_label(rejection)).inc()
        body_out: dict[str, Any] = {
            "success": not rejections,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
        }
        if rejections:
            body_out["rejected"] = [r.describe() for r in rejections]
            first = rejections[0]
            body_out["error"] = (
                f"{len(rejections)} of {total} message(s) rejected; "
                f"first: {first.field or 'message'}: {first.reason}"
            )
            return Outcome(status=400, body=body_out)
        return Outcome(status=200, body=body_out)

    def _source_name(self, write_key: str | None) -> str | None:
        if not write_key:
            return None
        source = self.config.source_for_key(write_key)
        return source.name if source else None

    async def keep_rejection(
        self, rejection: Rejection, *, source: str | None, endpoint: str
    ) -> None:
        """Keep a request refused as a whole (unreadable, no or unknown key) with its reason."""
        self.metrics.events_rejected.labels(_reason_label(rejection)).inc()
        await self.committer.append(
            AppendJob(
                events=(),
                rejections=(rejection,),
                source=source,
                endpoint=endpoint,
                received_at=self.clock.now(),
            )
        )


RESERVED_EVENTS: dict[str, str] = {
    **dict.fromkeys(CHAT_SERVICE_EVENTS, "Vigie's website chat"),
    ERASED: "Vigie's notices that a person was erased",
    RINGS_CHANGED: "Vigie's notices that the rings' links changed",
}
"""Event names only Vigie's own services append, and whose they are: a client of the public
ingestion that could send them would forge that service's records and KPIs (a website's
write key adding conversations, agents' replies and closed sales to the chat's figures)."""


def refuse_reserved(events: list[Event]) -> tuple[list[Event], list[Rejection]]:
    """`events` without those named as a Vigie service's own (`RESERVED_EVENTS`), and a
    rejection naming the field and the reason for each of those, kept with its message."""
    kept: list[Event] = []
    refused: list[Rejection] = []
    for event in events:
        owner = RESERVED_EVENTS.get(event.event or "")
        if owner is None:
            kept.append(event)
            continue
        refused.append(
            Rejection(
                reason=(
                    f"{event.event!r} is reserved for {owner}: only Vigie itself records it, "
                    "so that no client can forge its records or KPIs; send your event "
                    "under another name"
                ),
                field="event",
                message_id=event.message_id,
                payload=msgspec.json.encode(event),
            )
        )
    return kept, refused


def timestamp_bounds(config: Config) -> TimestampBounds:
    """The event times taken as sent, from `ingest.timestamps` of `vigie.yaml`."""
    settings = config.ingest.timestamps
    return TimestampBounds(
        earliest=datetime.combine(settings.not_before, dt_time(), tzinfo=UTC),
        max_ahead=timedelta(microseconds=parse_duration(settings.max_ahead)),
    )


def _error(
    status: int, reason: str, field: str | None, *, headers: dict[str, str] | None = None
) -> Outcome:
    rejected: dict[str, Any] = {"reason": reason}
    if field:
        rejected["field"] = field
    return Outcome(
        status=status,
        body={"success": False, "error": reason, "rejected": [rejected]},
        headers=headers or {},
    )


def _basic_user(authorization: str | None) -> str | None:
    """The user part of an HTTP Basic header: Segment puts the write key there."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    """`body` inflated as its `Content-Encoding` says, refused past the batch limit."""
    if not content_encoding or content_encoding.strip().lower() in ("identity", ""):
        return body
    encoding = content_encoding.strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise PayloadError(
            f"unsupported Content-Encoding {content_encoding!r}; use gzip", status=415
        )
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, MAX_BATCH_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid {encoding}: {exc}") from exc
    if len(out) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
        raise PayloadError(
            f"decompressed body is over the {MAX_BATCH_BYTES}-byte batch limit", status=413
        )
    return out


def _reason_label(rejection: Rejection) -> str:
    """A low-cardinality label for the rejected counter."""
    reason = rejection.reason
    if "over the" in reason:
        return "too_large"
    if "not valid JSON" in reason or "must be a JSON object" in reason:
        return "malformed_json"
    if "write key" in reason:
        return "auth"
    if reason.startswith("missing required") or "is required" in reason:
        return "missing_field"
    if reason.startswith("Expected") or reason.startswith("Invalid"):
        return "wrong_type"
    if reason.startswith("unknown type"):
        return "unknown_type"
    if "is reserved for" in reason:
        return "reserved"
    return "invalid"
