"""Shopify's order webhook: its HMAC and its example order mapped to `Order Completed`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.sources.helpers import SHOPIFY_SECRET, fixture, shopify_signature
from vigie.sources import InboundSource, Refused, WebhookRequest
from vigie.sources.shopify import Shopify

SOURCE = InboundSource(name="shop", kind="shopify", secret=SHOPIFY_SECRET)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _request(body: bytes, signature: str | None, topic: str = "orders/create") -> WebhookRequest:
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": "example.myshopify.com"}
    if signature is not None:
        headers["x-shopify-hmac-sha256"] = signature
    return WebhookRequest(url="https://vigie.example/hooks/shop", headers=headers, body=body)


def test_the_hmac_of_the_body_is_accepted_and_a_tampered_one_refused() -> None:
    """The base64 HMAC-SHA256 of the raw body passes; one byte changed, it does not."""
    body = fixture("shopify_orders_create.json")
    Shopify().verify(_request(body, shopify_signature(body)), SOURCE, NOW)
    for signature in (shopify_signature(body.replace(b"403.00", b"4.03")), None, "", "x\x00"):
        with pytest.raises(Refused) as refused:
            Shopify().verify(_request(body, signature), SOURCE, NOW)
        assert refused.value.field == "X-Shopify-Hmac-Sha256"


def test_an_order_is_an_order_completed_in_segment_shape() -> None:
    """Shopify's example order #9999: total, revenue, currency, products and its time."""
    body = fixture("shopify_orders_create.json")
    (event,) = Shopify().events(_request(body, None), SOURCE, NOW)
    assert event.event == "Order Completed"
    assert event.user_id == "115310627314723954"
    props = event.properties
    assert (props["order_id"], props["total"], props["revenue"]) == ("#9999", 403.0, 388.0)
    assert props["currency"] == "USD"
    assert [p["sku"] for p in props["products"]] == ["IPOD2008PINK", "IPOD2008PINK"]
    assert props["products"][0]["price"] == 199.0
    assert event.timestamp == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)


def test_other_topics_are_kept_as_shopify_events() -> None:
    """A topic Vigie does not map is stored with its topic, not dropped."""
    body = fixture("shopify_orders_create.json")
    (event,) = Shopify().events(_request(body, None, topic="orders/paid"), SOURCE, NOW)
    assert (event.event, event.properties["topic"]) == ("Shopify Event", "orders/paid")
