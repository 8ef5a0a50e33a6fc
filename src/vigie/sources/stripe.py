"""Stripe: payments, disputes and failed invoices, from Stripe's webhook events.

Stripe signs each delivery in `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=…]`, where `v1`
is the HMAC-SHA256 of `"<t>.<raw body>"` with the endpoint's secret; a timestamp older than
the tolerance (5 minutes by default, as Stripe's libraries) is refused against replays.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.events import Event
from vigie.kpi.durations import parse_duration
from vigie.sources.base import InboundSource, Invalid, Refused, WebhookRequest, event, same

HEADER = "Stripe-Signature"
LATEST = 253_402_300_799
"""9999-12-31T23:59:59Z: the last second a `datetime` holds."""
# Stripe amounts are in the currency's smallest unit: cents, or whole yen.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
EVENTS = {
    "payment_intent.succeeded": "Payment Received",
    "charge.dispute.created": "Payment Disputed",
    "invoice.payment_failed": "Invoice Payment Failed",
}
"""Stripe event types -> Vigie event names (others are kept as `Stripe Event`)."""


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe sends for `body` at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def amount(value: object, currency: str) -> float | None:
    """A Stripe amount (smallest unit) in the currency's main unit."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return float(value)
    return value / (1000 if code in THREE_DECIMAL else 100)


class Stripe:
    """Stripe webhook events (`payment_intent.succeeded`, `charge.dispute.created`,
    `invoice.payment_failed`) as `Payment Received`, `Payment Disputed` and
    `Invoice Payment Failed` interactions of the customer."""

    name = "stripe"

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        header = request.headers.get(HEADER.lower())
        if not header:
            raise Refused(HEADER, "missing; Stripe signs every delivery")
        timestamp: str | None = None
        signatures: list[str] = []
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key == "t":
                timestamp = value
            elif key == "v1":
                signatures.append(value)
        if timestamp is None or not timestamp.isdigit() or len(timestamp) > 12 or not signatures:
            raise Refused(HEADER, "expected t=<timestamp>,v1=<signature>")
        expected = sign(request.body, secret=settings.secret, timestamp=int(timestamp))
        expected_v1 = expected.partition(",v1=")[2]
        if not any(same(expected_v1, given) for given in signatures):
            raise Refused(HEADER, "no v1 signature matches the body signed with this secret")
        tolerance = timedelta(microseconds=parse_duration(settings.tolerance))
        signed_at = datetime.fromtimestamp(min(int(timestamp), LATEST), UTC)
        if signed_at < now - tolerance:
            raise Refused(
                HEADER,
                f"signed at {signed_at.isoformat()}, older than the tolerance "
                f"({settings.tolerance}): a replay?",
            )

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        body = request.json()
        event_id, kind = body.get("id"), body.get("type")
        if not isinstance(event_id, str) or not isinstance(kind, str):
            raise Invalid("id", "a Stripe event has a string id and type")
        data = body.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise Invalid("data.object", "a Stripe event carries its object")
        created = body.get("created")
        at = (
            datetime.fromtimestamp(created, UTC)
            if isinstance(created, int) and 0 < created < 2**34
            else received_at
        )
        name = EVENTS.get(kind, "Stripe Event")
        properties = _properties(kind, obj) | {"stripe_event": event_id, "stripe_type": kind}
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        user = (metadata or {}).get("user_id") or obj.get("customer")
        return [
            event(
                kind=self.name,
                ids=(event_id,),
                name=name,
                settings=settings,
                at=at,
                received_at=received_at,
                user_id=user if isinstance(user, str) and user else None,
                anonymous_id=f"stripe:{obj.get('id') or event_id}",
                properties=properties,
            )
        ]


def _properties(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    given = obj.get("currency")
    currency = given if isinstance(given, str) else "usd"
    out: dict[str, Any] = {"currency": currency.upper()}
    if kind == "payment_intent.succeeded":
        out |= {
            "amount": amount(obj.get("amount_received", obj.get("amount")), currency),
            "reference": obj.get("id"),
            "email": obj.get("receipt_email"),
            "description": obj.get("description"),
        }
    elif kind == "charge.dispute.created":
        out |= {
            "amount": amount(obj.get("amount"), currency),
            "reference": obj.get("id"),
            "charge": obj.get("charge"),
            "reason": obj.get("reason"),
            "status": obj.get("status"),
        }
    elif kind == "invoice.payment_failed":
        out |= {
            "amount": amount(obj.get("amount_due"), currency),
            "invoice_id": obj.get("number") or obj.get("id"),
            "email": obj.get("customer_email"),
            "attempt_count": obj.get("attempt_count"),
            "url": obj.get("hosted_invoice_url"),
        }
    else:
        out = {"object": obj.get("object"), "reference": obj.get("id")}
    return {k: v for k, v in out.items() if v is not None}
