"""The `webhook` action: a CloudEvents 1.0 event (structured JSON) signed as Standard
Webhooks do, retried with exponential backoff and jitter, and refused for private
addresses unless allowed (SSRF).

Headers: `webhook-id` (the same for every attempt, an idempotency key for the receiver),
`webhook-timestamp` (seconds, of the attempt) and `webhook-signature`
("v1," + base64 HMAC-SHA256 of "id.timestamp.body" keyed by the base64 secret after
"whsec_"). A 410 answer disables the endpoint; 429, 5xx and timeouts are retried, honouring
Retry-After. What each step delivered, and which endpoints are disabled, the port records
(`ActionPort.send_event`), so that a step re-run after a crash does not deliver twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
import msgspec

from vigie import destinations
from vigie.playbooks.actions.base import ActionContext, ActionError, ActionSettings, WebhookEndpoint

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


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


def check_destination(url: str, *, allow_private: bool) -> str | None:
    """The shared SSRF guard (`vigie.destinations.check_destination`) as action errors: a
    refused destination is not retried, an unresolved host name is."""
    try:
        return destinations.check_destination(
            url, allow_private=allow_private, setting="actions.allow_private_networks"
        )
    except destinations.DestinationRefused as exc:
        raise Refused(str(exc)) from exc
    except destinations.DestinationUnresolved as exc:
        raise ActionError(str(exc)) from exc


_pinned = destinations.pinned


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
        return context.port.send_event(
            endpoint=params.endpoint,
            type=params.type,
            data=data,
            subject=params.subject,
        )
