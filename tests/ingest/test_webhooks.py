"""Business sources over HTTP: each vendor's example delivery, signed as the vendor signs,
stored once; a tampered one refused 401 and kept with its reason; the events reach the
catalogue's KPIs and the CRM's interactions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import WRITE_KEY, LiveServer, free_port, make_settings, user_token
from tests.sources.helpers import (
    MAILCHIMP_KEY,
    SHOPIFY_SECRET,
    STRIPE_SECRET,
    TWILIO_TOKEN,
    fixture,
    happening_now,
    shopify_signature,
    stripe_signature,
    twilio_signature,
)
from vigie.config import Config, Source, load_config
from vigie.sources import InboundSource
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

T = TypeVar("T")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """`probe()` once it returns something, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    """A live server with the catalogue's KPIs (as the shipped example carries them) and one
    source of each kind."""
    catalogue = load_config(Path(__file__).parents[2] / "vigie.example.yaml")
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        inbound=[
            InboundSource(name="payments", kind="stripe", secret=STRIPE_SECRET),
            InboundSource(name="shop", kind="shopify", secret=SHOPIFY_SECRET),
            InboundSource(
                name="phones",
                kind="twilio",
                secret=TWILIO_TOKEN,
                agents={"+3225550100": "staff-marie"},
            ),
            InboundSource(name="newsletter", kind="mailchimp", secret=MAILCHIMP_KEY),
        ],
        metrics=catalogue.metrics,
    )
    app = create_app(build_system(make_settings(db_url, config)))
    with BackgroundServer(app, port=free_port()) as running:
        system = app.state.system
        token = user_token(system, username="admin", role="admin")
        yield LiveServer(url=running.url, write_key=WRITE_KEY, system=system, admin_token=token)


def _stripe(server: LiveServer, name: str, *, tamper: bool = False) -> httpx.Response:
    body = happening_now(fixture(name))
    signature = stripe_signature(body, int(time.time()))
    if tamper:
        body = body.replace(b'"amount": ', b'"amount": 9')
    return httpx.post(
        f"{server.url}/hooks/payments",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


def _kpi(server: LiveServer, metric: str) -> float | None:
    rows = [r for r in server.system.alerting.snapshot() if r.get("metric") == metric]
    return rows[0].get("value") if rows else None


def _interactions(server: LiveServer, **query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/interactions", params=query, headers=server.admin)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_stripe_payment_stored_once_mapped_to_kpi_and_interaction(server: LiveServer) -> None:
    """Stripe's example payment: accepted, a re-delivery deduplicated, counted in the
    `payments` KPI and recorded as a payment of the contact whose external id is the
    Stripe customer."""
    contact = httpx.post(
        f"{server.url}/api/contacts",
        json={"first_name": "Jenny", "external_id": "cus_NffrFeUfNV2Hib"},
        headers=server.admin,
    )
    assert contact.status_code in (200, 201), contact.text
    first = _stripe(server, "stripe_payment_intent_succeeded.json")
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 1
    again = _stripe(server, "stripe_payment_intent_succeeded.json")
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    assert eventually(lambda: _kpi(server, "payments"), "the payments KPI") == 20.0
    (payment,) = eventually(lambda: _interactions(server, kind="payment"), "the payment")
    assert payment["contact_id"] == contact.json()["id"]
    assert (payment["amount"], payment["currency"]) == (20.0, "USD")
    assert payment["reference"] == "pi_3MtwBwLkdIwHu7ix28a3tqPa"


def test_a_tampered_delivery_is_refused_and_kept(server: LiveServer) -> None:
    """A body changed after Stripe signed it is answered 401 naming the header, kept in the
    rejected table with the reason, and counted as refused in /metrics."""
    response = _stripe(server, "stripe_charge_dispute_created.json", tamper=True)
    assert response.status_code == 401
    assert response.json()["rejected"][0]["field"] == "Stripe-Signature"
    rejected = httpx.get(f"{server.url}/api/rejected", headers=server.admin).json()["rejected"]
    assert rejected[0]["source"] == "payments"
    assert "no v1 signature matches" in rejected[0]["reason"]
    assert rejected[0]["endpoint"] == "/hooks/payments"
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'vigie_webhook_deliveries_total{outcome="refused",source="payments"} 1.0' in metrics
    assert httpx.get(f"{server.url}/api/events", headers=server.admin).json()["events"] == []


def test_shopify_order_and_twilio_call_reach_kpis_and_the_crm(server: LiveServer) -> None:
    """Shopify's example order counts in `orders` and `revenue`; Twilio's completed call is
    a `Call Ended` in the `calls` KPI and a call interaction of the caller's contact with its
    duration and agent."""
    caller = httpx.post(
        f"{server.url}/api/contacts",
        json={"first_name": "Luc", "phone": "+32470123456"},
        headers=server.admin,
    ).json()
    order = happening_now(fixture("shopify_orders_create.json"))
    response = httpx.post(
        f"{server.url}/hooks/shop",
        content=order,
        headers={
            "X-Shopify-Hmac-Sha256": shopify_signature(order),
            "X-Shopify-Topic": "orders/create",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    call = happening_now(fixture("twilio_call_completed.form"))
    url = f"{server.url}/hooks/phones"
    response = httpx.post(
        url, content=call, headers={**FORM, "X-Twilio-Signature": twilio_signature(url, call)}
    )
    assert response.status_code == 200, response.text
    assert eventually(lambda: _kpi(server, "revenue"), "the revenue KPI") == 388.0
    assert eventually(lambda: _kpi(server, "calls"), "the calls KPI") == 1
    (interaction,) = eventually(lambda: _interactions(server, kind="call"), "the call")
    assert interaction["contact_id"] == caller["id"]
    assert (interaction["staff_id"], interaction["direction"]) == ("staff-marie", "inbound")
    assert interaction["properties"]["duration_s"] == 94


def test_mailchimp_checks_the_url_then_signs_up(server: LiveServer) -> None:
    """Mailchimp's GET check of the URL answers 200; its example sign-up counts in
    `newsletter_signups`; without the key it is refused."""
    url = f"{server.url}/hooks/newsletter"
    assert httpx.get(url).status_code == 200
    assert httpx.get(f"{server.url}/hooks/nobody").status_code == 404
    body = happening_now(fixture("mailchimp_subscribe.form"))
    refused = httpx.post(url, content=body, headers=FORM)
    assert refused.status_code == 401
    response = httpx.post(url, params={"key": MAILCHIMP_KEY}, content=body, headers=FORM)
    assert response.status_code == 200, response.text
    assert eventually(lambda: _kpi(server, "newsletter_signups"), "the sign-ups KPI") == 1


def test_hostile_deliveries_are_refused_with_a_reason(server: LiveServer) -> None:
    """An unknown source is 404, a huge body 413, and neither stops the next delivery."""
    unknown = httpx.post(f"{server.url}/hooks/nobody", content=b"{}")
    assert unknown.status_code == 404
    huge = httpx.post(f"{server.url}/hooks/payments", content=b"x" * 2_000_000)
    assert huge.status_code == 413
    assert "limit" in huge.json()["error"]
    assert _stripe(server, "stripe_charge_dispute_created.json").status_code == 200


def test_ad_reports_import_over_the_api_and_sources_are_listed(server: LiveServer) -> None:
    """`POST /api/ads/import` stores a Google Ads report's hours once (422 naming the rows
    otherwise); `GET /api/sources` lists each inbound source with its deliveries."""
    report = fixture("google_ads_hourly.csv")
    url = f"{server.url}/api/ads/import"
    headers = {**server.admin, "Content-Type": "text/csv"}
    done = httpx.post(url, params={"platform": "google"}, content=report, headers=headers)
    assert done.status_code == 200, done.text
    assert (done.json()["rows"], done.json()["accepted"]) == (3, 3)
    again = httpx.post(url, params={"platform": "google"}, content=report, headers=headers)
    assert again.json()["duplicates"] == 3
    broken = report.replace(b",37,", b",many,")
    refused = httpx.post(url, params={"platform": "google"}, content=broken, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"line": 4, "reason": "clicks 'many' is not a whole number"}
    ]
    zone = httpx.post(
        url, params={"platform": "google", "timezone": "Mars/Olympus"}, content=report,
        headers=headers,
    )  # fmt: skip
    assert zone.status_code == 422
    _stripe(server, "stripe_charge_dispute_created.json", tamper=True)
    _stripe(server, "stripe_charge_dispute_created.json")
    sources = httpx.get(f"{server.url}/api/sources", headers=server.admin).json()["sources"]
    payments = next(s for s in sources if s["name"] == "payments")
    assert payments["kind"] == "stripe" and payments["path"] == "/hooks/payments"
    assert payments["deliveries"] == {"accepted": 1, "duplicate": 0, "refused": 1, "invalid": 0}
    assert payments["last_outcome"] == "accepted"
    assert payments["last_rejection"].startswith("Stripe-Signature: no v1 signature")
    assert {s["name"] for s in sources} == {"payments", "shop", "phones", "newsletter"}


def test_hostile_signatures_and_forms_are_refused_not_crashes(server: LiveServer) -> None:
    """A 12-digit or 5,000-digit Stripe timestamp, a form of 2,000 fields and a body that is
    not UTF-8 are answered 401 or 400 with a reason, each kept; none is a server error."""
    body = fixture("stripe_charge_dispute_created.json")
    for timestamp in ("999999999999", "9" * 5000):
        header = f"t={timestamp},v1={'0' * 64}"
        response = httpx.post(
            f"{server.url}/hooks/payments", content=body, headers={"Stripe-Signature": header}
        )
        assert response.status_code == 401, response.text
    many = "&".join(f"f{i}=x" for i in range(2000)).encode()
    response = httpx.post(
        f"{server.url}/hooks/newsletter", params={"key": MAILCHIMP_KEY}, content=many, headers=FORM
    )
    assert response.status_code == 400 and "1000 fields" in response.json()["error"]
    response = httpx.post(
        f"{server.url}/hooks/phones",
        content=b"CallSid=\xff\xfe",
        headers={**FORM, "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 400 and "UTF-8" in response.json()["error"]
    rejected = httpx.get(f"{server.url}/api/rejected", headers=server.admin).json()["rejected"]
    assert len(rejected) == 4
