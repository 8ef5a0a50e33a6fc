"""Shopify: orders from the `orders/create` webhook.

Shopify signs each delivery in `X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the raw
body with the app's secret; the topic comes in `X-Shopify-Topic`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from vigie.events import Event
from vigie.sources.base import InboundSource, Invalid, Refused, WebhookRequest, event, same

HEADER = "X-Shopify-Hmac-Sha256"


def sign(body: bytes, *, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` header Shopify sends for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _number(value: object) -> float | None:
    try:
        return float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return None


class Shopify:
    """Shopify's `orders/create` as `Order Completed` (an invoice interaction of the
    customer, and the order for the revenue KPIs); other topics are kept as
    `Shopify Event`."""

    name = "shopify"

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        given = request.headers.get(HEADER.lower())
        if not given:
            raise Refused(HEADER, "missing; Shopify signs every delivery")
        if not same(sign(request.body, secret=settings.secret), given.strip()):
            raise Refused(HEADER, "does not match the body signed with this secret")

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        topic = request.headers.get("x-shopify-topic", "")
        order = request.json()
        order_id = order.get("id")
        if not isinstance(order_id, int | str) or isinstance(order_id, bool):
            raise Invalid("id", "a Shopify order has an id")
        at = _time(order.get("created_at")) or received_at
        customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
        customer_id = (customer or {}).get("id")
        shop = request.headers.get("x-shopify-shop-domain")
        if topic != "orders/create":
            return [
                event(
                    kind=self.name,
                    ids=(topic, order_id, request.headers.get("x-shopify-webhook-id", "")),
                    name="Shopify Event",
                    settings=settings,
                    at=received_at,
                    received_at=received_at,
                    anonymous_id=f"shopify:{order_id}",
                    properties={"topic": topic, "reference": str(order_id), "shop": shop},
                )
            ]
        currency = order.get("currency") or order.get("presentment_currency")
        properties: dict[str, Any] = {
            "order_id": str(order.get("name") or order_id),
            "shopify_order": str(order_id),
            "total": _number(order.get("total_price")),
            # Segment's e-commerce spec: revenue is before shipping and taxes.
            "revenue": _number(order.get("subtotal_price")),
            "subtotal": _number(order.get("subtotal_price")),
            "tax": _number(order.get("total_tax")),
            "currency": currency.upper() if isinstance(currency, str) else None,
            "email": order.get("email") or (customer or {}).get("email"),
            "financial_status": order.get("financial_status"),
            "shop": shop,
            "products": [_product(item) for item in _list(order.get("line_items"))],
        }
        return [
            event(
                kind=self.name,
                ids=(topic, order_id),
                name="Order Completed",
                settings=settings,
                at=at,
                received_at=received_at,
                user_id=str(customer_id) if customer_id else None,
                anonymous_id=f"shopify:{order_id}",
                properties={k: v for k, v in properties.items() if v is not None},
            )
        ]


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _product(item: dict[str, Any]) -> dict[str, Any]:
    """A line item in the Segment e-commerce spec's product shape."""
    return {
        "product_id": str(item.get("product_id") or item.get("id") or ""),
        "sku": item.get("sku"),
        "name": item.get("title") or item.get("name"),
        "price": _number(item.get("price")),
        "quantity": item.get("quantity"),
    }


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
