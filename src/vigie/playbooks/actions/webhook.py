"""The `webhook` action: a CloudEvents 1.0 event (structured JSON) signed as Standard
Webhooks do, retried with exponential backoff and jitter, and refused for private
addresses unless allowed (SSRF).

Headers: `webhook-id` (the same for every attempt, an idempotency key for the receiver),
`webhook-timestamp` (seconds, of the attempt) and `webhook-signature`
("v1," + base64 HMAC-SHA256 of "id.timestamp.body" keyed by the base64 secret after
"whsec_"). A 410 answer disables the endpoint; 429, 5xx and timeouts are retried, honouring
Retry-After.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import socket
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import msgspec
import sqlalchemy as sa

from vigie.clock import SystemClock
from vigie.playbooks.actions.base import ActionContext, ActionError, ActionSettings, WebhookEndpoint
from vigie.store.schema import Offset, metadata
from vigie.types import to_us

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("message_id", sa.String(300), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("key", "endpoint", name="uq_webhook_deliveries_key"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("disabled_at_us", sa.BigInteger),
    sa.Column("reason", sa.Text),
)


class CloudEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A CloudEvents 1.0 event in the structured JSON format (unset optional attributes are
    left out, as the format asks)."""

    specversion: str
    id: str
    source: str
    type: str
    datacontenttype: str
    time: datetime | None = None
    subject: str | None = None
    data: Any = None


class WebhookParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Send `data` as a CloudEvent of `type` to the endpoint named `endpoint`."""

    endpoint: str
    type: str = "be.vigie.playbook.step"
    subject: str | None = None
    data: dict[str, Any] = {}


class Refused(ActionError):
    """The destination is not allowed (SSRF guard); trying again will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class Gone(Refused):
    """The endpoint answered 410 Gone: it wants no more events, so it is disabled."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_<base64>" secret."""
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError as exc:
        raise ActionError("webhook secret must be 'whsec_' + base64", retryable=False) from exc
    if not key:
        raise ActionError("webhook secret is empty", retryable=False)
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_destination(url: str, *, allow_private: bool) -> str | None:
    """Refuse URLs that are not http(s), or whose host resolves to a private, loopback,
    link-local, multicast or reserved address (every resolved address is checked).

    Returns the checked address to connect to, so that a second DNS answer cannot swap in
    a private one (DNS rebinding); None when private networks are allowed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"{url!r} is not an http(s) URL")
    if allow_private:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ActionError(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if _forbidden(address):
            raise Refused(
                f"{parts.hostname} resolves to {address}, a private or local address; set "
                "actions.allow_private_networks: true to allow it"
            )
    if not addresses:
        raise ActionError(f"{parts.hostname} has no address")
    return str(addresses[0])


def _pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to request, extra headers and httpx extensions to reach `address` while
    presenting the original host name (Host header, TLS SNI and certificate check)."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = parts._replace(netloc=netloc).geturl()
    hostname = parts.hostname or ""
    header = f"{hostname}:{parts.port}" if parts.port else hostname
    extensions = {"sni_hostname": hostname} if parts.scheme == "https" else {}
    return pinned, {"host": header}, extensions


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def deliver(
    *,
    endpoint: WebhookEndpoint,
    event: CloudEvent,
    settings: ActionSettings,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    jitter: Callable[[], float] = random.random,
) -> tuple[int, int]:
    """POST `event` to `endpoint` until it is accepted; returns (status code, attempts).

    Raises `ActionError` when every attempt failed, `Refused` for a forbidden address or a
    410 (the caller disables the endpoint).
    """
    body = msgspec.json.encode(event)
    error = "no attempt made"
    with httpx.Client(timeout=endpoint.timeout_seconds, follow_redirects=False) as client:
        for attempt in range(1, endpoint.max_attempts + 1):
            address = check_destination(endpoint.url, allow_private=settings.allow_private_networks)
            target, host_header, extensions = _pinned(endpoint.url, address)
            moment = now()
            timestamp = int(moment.timestamp())
            headers = {
                "content-type": CONTENT_TYPE,
                "webhook-id": event.id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(endpoint.secret, event.id, timestamp, body),
                **host_header,
            }
            wait: float | None = None
            try:
                response = client.post(target, content=body, headers=headers, extensions=extensions)
            except httpx.TimeoutException as exc:
                error = f"timed out: {exc}"
            except httpx.TransportError as exc:
                error = f"connection failed: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return response.status_code, attempt
                if response.status_code == 410:
                    raise Gone(f"{endpoint.name} answered 410 Gone: endpoint disabled")
                error = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE:
                    raise ActionError(
                        f"{endpoint.name} refused the event: {error}", retryable=False
                    )
                wait = _retry_after(response, moment)
            if attempt == endpoint.max_attempts:
                break
            if wait is None:
                backoff = endpoint.backoff_seconds * 2 ** (attempt - 1)
                wait = min(endpoint.max_backoff_seconds, backoff) * (0.5 + jitter() / 2)
            sleep(min(wait, endpoint.max_backoff_seconds))
    raise ActionError(f"{endpoint.name}: {endpoint.max_attempts} attempts failed, last: {error}")


def is_disabled(engine: sa.Engine, name: str) -> str | None:
    """Why endpoint `name` is disabled, or None when it is enabled."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(webhook_endpoints.c.reason).where(webhook_endpoints.c.name == name)
        ).first()
    return row.reason if row is not None else None


def send_event(
    context: ActionContext, *, endpoint_name: str, type: str, data: Any, subject: str | None = None
) -> dict[str, Any]:
    """Deliver one CloudEvent for this step to an endpoint, once per step key; used by the
    webhook action and by actions that announce what they did."""
    endpoint = context.settings.webhook(endpoint_name)
    if endpoint is None:
        known = ", ".join(w.name for w in context.settings.webhooks) or "none configured"
        raise ActionError(
            f"no webhook endpoint {endpoint_name!r} (actions.webhooks: {known})", retryable=False
        )
    engine = context.engine
    with engine.connect() as conn:
        done = conn.execute(
            sa.select(webhook_deliveries).where(
                webhook_deliveries.c.key == context.key,
                webhook_deliveries.c.endpoint == endpoint.name,
            )
        ).first()
    if done is not None and done.status == "delivered":
        return {
            "endpoint": endpoint.name,
            "id": done.message_id,
            "status": "delivered",
            "status_code": done.status_code,
            "attempts": done.attempts,
        }
    reason = is_disabled(engine, endpoint.name)
    if reason is not None:
        raise ActionError(f"endpoint {endpoint.name} is disabled: {reason}", retryable=False)
    message_id = f"msg_{context.key.replace(':', '_')}"
    event = CloudEvent(
        specversion="1.0",
        datacontenttype="application/json",
        id=message_id,
        source=context.settings.source,
        type=type,
        subject=subject,
        time=context.clock.now(),
        data=data,
    )
    status, code, attempts, error = "failed", None, endpoint.max_attempts, None
    try:
        code, attempts = deliver(
            endpoint=endpoint,
            event=event,
            settings=context.settings,
            # Receivers check webhook-timestamp against their own wall clock (replay
            # protection), so it is the real time even when Vigie runs on simulated time.
            now=SystemClock().now,
            sleep=context.sleep,
        )
        status = "delivered"
    except Gone as exc:
        error, status, code = str(exc), "gone", 410
        _disable(engine, endpoint.name, error, context.clock.now())
        raise
    except Refused as exc:
        error, status = str(exc), "refused"
        raise
    except ActionError as exc:
        error = str(exc)
        raise
    finally:
        _record(engine, context, endpoint.name, message_id, type, status, attempts, code, error)
    return {
        "endpoint": endpoint.name,
        "id": message_id,
        "status": status,
        "status_code": code,
        "attempts": attempts,
    }


def _disable(engine: sa.Engine, name: str, reason: str, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(webhook_endpoints.delete().where(webhook_endpoints.c.name == name))
        conn.execute(
            webhook_endpoints.insert().values(name=name, disabled_at_us=to_us(at), reason=reason)
        )


def _record(
    engine: sa.Engine,
    context: ActionContext,
    endpoint: str,
    message_id: str,
    event_type: str,
    status: str,
    attempts: int,
    code: int | None,
    error: str | None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            webhook_deliveries.delete().where(
                webhook_deliveries.c.key == context.key, webhook_deliveries.c.endpoint == endpoint
            )
        )
        conn.execute(
            webhook_deliveries.insert().values(
                key=context.key,
                endpoint=endpoint,
                message_id=message_id,
                event_type=event_type,
                status=status,
                attempts=attempts,
                status_code=code,
                error=error,
                at_us=to_us(context.clock.now()),
            )
        )


class WebhookAction:
    """`webhook`: send a signed CloudEvent to a configured endpoint."""

    name: ClassVar[str] = "webhook"
    params_type: ClassVar[type[msgspec.Struct]] = WebhookParams

    def run(self, params: WebhookParams, context: ActionContext) -> dict[str, Any]:
        data = params.data or {
            "rule": context.trigger.rule,
            "status": context.trigger.status,
            "labels": context.trigger.labels,
            "values": context.trigger.values,
        }
        return send_event(
            context,
            endpoint_name=params.endpoint,
            type=params.type,
            data=data,
            subject=params.subject,
        )
