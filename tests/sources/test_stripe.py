"""Stripe's webhooks: the signature as Stripe documents it, and its example events mapped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.sources.helpers import STRIPE_SECRET, fixture, stripe_signature
from vigie.sources import InboundSource, Invalid, Refused, WebhookRequest
from vigie.sources.stripe import Stripe, amount

SOURCE = InboundSource(name="payments", kind="stripe", secret=STRIPE_SECRET)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def _request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"stripe-signature": signature} if signature is not None else {}
    return WebhookRequest(url="https://vigie.example/hooks/payments", headers=headers, body=body)


def test_a_signature_made_with_the_secret_is_accepted() -> None:
    """A body signed as Stripe signs it passes, also among rotated v1 signatures."""
    body = fixture("stripe_payment_intent_succeeded.json")
    Stripe().verify(_request(body, stripe_signature(body, T)), SOURCE, NOW)
    rotated = stripe_signature(body, T) + ",v1=" + "0" * 64
    Stripe().verify(_request(body, rotated), SOURCE, NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("body", "no v1 signature matches"),
        ("secret", "no v1 signature matches"),
        ("old", "older than the tolerance"),
        ("missing", "missing"),
        ("garbled", "expected t="),
    ],
)
def test_a_tampered_or_replayed_delivery_is_refused(change: str, reason: str) -> None:
    """Another body, another secret, a timestamp past the tolerance or no header: refused."""
    body = fixture("stripe_payment_intent_succeeded.json")
    signature: str | None = stripe_signature(body, T)
    if change == "body":
        body = body.replace(b"2000", b"9000")
    elif change == "secret":
        signature = stripe_signature(body, T, secret="whsec_someone_else_entirely")
    elif change == "old":
        signature = stripe_signature(body, T - 301)
    elif change == "missing":
        signature = None
    elif change == "garbled":
        signature = "v1=abc\x00,t=x"
    with pytest.raises(Refused) as refused:
        Stripe().verify(_request(body, signature), SOURCE, NOW)
    assert refused.value.field == "Stripe-Signature"
    assert reason in refused.value.reason


def test_the_tolerance_is_the_sources() -> None:
    """A source may allow older timestamps (a queue in between), in its own words."""
    body = fixture("stripe_payment_intent_succeeded.json")
    patient = InboundSource(name="p", kind="stripe", secret=STRIPE_SECRET, tolerance="1h")
    old = stripe_signature(body, int((NOW - timedelta(minutes=30)).timestamp()))
    Stripe().verify(_request(body, old), patient, NOW)


def test_a_succeeded_payment_intent_is_a_payment_received() -> None:
    """Stripe's example: 2000 cents of usd by cus_NffrFeUfNV2Hib -> 20.00 USD received."""
    body = fixture("stripe_payment_intent_succeeded.json")
    (event,) = Stripe().events(_request(body, None), SOURCE, NOW)
    assert event.event == "Payment Received"
    assert event.source == "payments"
    assert event.user_id == "cus_NffrFeUfNV2Hib"
    assert event.properties["amount"] == 20.0
    assert event.properties["currency"] == "USD"
    assert event.properties["reference"] == "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    assert event.timestamp == datetime.fromtimestamp(1680800505, UTC)


def test_a_dispute_and_a_failed_invoice_are_mapped() -> None:
    """A dispute is a `Payment Disputed`; a failed invoice an `Invoice Payment Failed` of
    the user its metadata names, in euros."""
    dispute = fixture("stripe_charge_dispute_created.json")
    (event,) = Stripe().events(_request(dispute, None), SOURCE, NOW)
    assert (event.event, event.properties["amount"]) == ("Payment Disputed", 10.0)
    assert event.properties["reason"] == "general"
    invoice = fixture("stripe_invoice_payment_failed.json")
    (event,) = Stripe().events(_request(invoice, None), SOURCE, NOW)
    assert event.event == "Invoice Payment Failed"
    assert event.user_id == "u-4821"
    assert (event.properties["amount"], event.properties["currency"]) == (19.99, "EUR")
    assert event.properties["invoice_id"] == "EAB8E34B-0001"


def test_a_re_delivery_has_the_same_message_id() -> None:
    """Stripe re-sends an event with its id: the log stores it once."""
    body = fixture("stripe_charge_dispute_created.json")
    first = Stripe().events(_request(body, None), SOURCE, NOW)[0]
    again = Stripe().events(_request(body, None), SOURCE, NOW + timedelta(hours=1))[0]
    assert first.message_id == again.message_id


def test_amounts_follow_the_currency_decimals() -> None:
    """Yen have no cents, dinars have three decimals."""
    assert amount(500, "jpy") == 500
    assert amount(1500, "kwd") == 1.5
    assert amount(1999, "eur") == 19.99
    assert amount("12", "eur") is None


def test_other_event_types_are_kept_and_nonsense_is_invalid() -> None:
    """An event type Vigie does not map is kept as `Stripe Event`; a body that is not a
    Stripe event is refused with the field."""
    body = json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {}}})
    (event,) = Stripe().events(_request(body.encode(), None), SOURCE, NOW)
    assert (event.event, event.properties["stripe_type"]) == ("Stripe Event", "customer.created")
    with pytest.raises(Invalid) as invalid:
        Stripe().events(_request(b'{"id": 3}', None), SOURCE, NOW)
    assert invalid.value.field == "id"
    with pytest.raises(Invalid):
        Stripe().events(_request(b"[" * 10_000, None), SOURCE, NOW)


def test_a_deeply_nested_object_is_invalid_not_a_crash() -> None:
    """Hostile nesting inside a JSON object answers Invalid, not a RecursionError."""
    body = b'{"id": "evt_1", "type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(Invalid) as invalid:
        Stripe().events(_request(body, None), SOURCE, NOW)
    assert "nested" in invalid.value.reason
