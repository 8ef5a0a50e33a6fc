"""The CRM REST contract: writes go through the log, reads see them, lists filter and page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, LiveServer, free_port, make_settings, user_token
from vigie.catalogue import with_catalogue
from vigie.clock import ManualClock
from vigie.config import Config, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.admin, timeout=30)


def _create(client: httpx.Client, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/{entity}", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_write_is_an_event_and_read_back_at_once(live_server: LiveServer) -> None:
    """A created deal is a `Deal Created` event of source crm, readable as soon as 201 returns."""
    with _client(live_server) as client:
        account = _create(client, "accounts", {"name": "Boulangerie Lemaire", "nace": "10.71"})
        deal = _create(
            client, "deals", {"title": "Caisse", "account_id": account["id"], "amount": 990}
        )
        assert client.get(f"/api/deals/{deal['id']}").json() == deal
        logged = client.get("/api/events", params={"source": "crm"}).json()["events"]
        assert [e["event"] for e in logged] == ["Deal Created", "Account Created"]
        assert logged[0]["properties"]["id"] == deal["id"]
        assert logged[0]["offset"] == deal["version"]
        assert logged[0]["context"]["actor"]["name"] == "test-admin"


def test_update_moves_the_pipeline_and_archive_hides(live_server: LiveServer) -> None:
    """PATCH changes only the fields sent (won sets closed_at); DELETE archives the record."""
    with _client(live_server) as client:
        account = _create(client, "accounts", {"name": "Garage Martin", "country": "FR"})
        deal = _create(client, "deals", {"title": "Terminal", "account_id": account["id"]})
        won = client.patch(f"/api/deals/{deal['id']}", json={"stage": "won"}).json()
        assert won["stage"] == "won" and won["title"] == "Terminal"
        assert won["closed_at"] is not None and won["version"] > deal["version"]
        assert client.patch(f"/api/deals/{deal['id']}", json={"title": None}).status_code == 422
        archived = client.delete(f"/api/deals/{deal['id']}").json()
        assert archived["archived_at"] is not None
        assert client.get("/api/deals").json()["total"] == 0
        assert client.get("/api/deals", params={"archived": True}).json()["total"] == 1
        actions = [
            a["action"]
            for a in client.get("/api/audit", params={"entity_id": deal["id"]}).json()["items"]
        ]
        assert actions == ["archive", "update", "create"]


def test_list_filters_sorts_searches_and_pages(live_server: LiveServer) -> None:
    """Filters match exactly, `q` searches names, `sort=-amount` orders, limit/offset page."""
    with _client(live_server) as client:
        account = _create(client, "accounts", {"name": "Hôtel Renard", "country": "BE"})
        for n, stage in enumerate(["qualification", "proposal", "proposal", "won"]):
            _create(
                client,
                "deals",
                {
                    "title": f"Deal {n}",
                    "account_id": account["id"],
                    "amount": 100 * n,
                    "stage": stage,
                },
            )
        page = client.get("/api/deals", params={"stage": "proposal", "sort": "-amount"}).json()
        assert [d["title"] for d in page["items"]] == ["Deal 2", "Deal 1"]
        assert page["total"] == 2
        first = client.get("/api/deals", params={"sort": "amount", "limit": 3}).json()
        second = client.get("/api/deals", params={"sort": "amount", "limit": 3, "offset": 3}).json()
        assert [d["amount"] for d in first["items"] + second["items"]] == [0, 100, 200, 300]
        found = client.get("/api/accounts", params={"q": "renard"}).json()["items"]
        assert [a["name"] for a in found] == ["Hôtel Renard"]
        assert client.get("/api/deals", params={"sort": "password"}).status_code == 422


def test_invalid_input_and_unknown_references_are_422(live_server: LiveServer) -> None:
    """A bad NACE code, an unknown field or a reference to nothing is refused, naming the field."""
    with _client(live_server) as client:
        bad = client.post("/api/accounts", json={"name": "X", "nace": "nope"})
        assert bad.status_code == 422 and "nace" in bad.text
        assert client.post("/api/accounts", json={"name": "X", "colour": "red"}).status_code == 422
        orphan = client.post("/api/deals", json={"title": "X", "account_id": "acc_missing"})
        assert orphan.status_code == 422 and "account_id" in orphan.text
        assert client.get("/api/deals/deal_missing").status_code == 404
        assert client.get("/api/events", params={"source": "crm"}).json()["events"] == []


def test_ticket_sla_targets_follow_priority(live_server: LiveServer) -> None:
    """An urgent ticket gets the configured SLA targets; solving it sets resolved_at."""
    with _client(live_server) as client:
        ticket = _create(client, "tickets", {"subject": "Panne", "priority": "urgent"})
        assert ticket["sla_first_response_minutes"] == 30
        assert ticket["first_response_due_at"] > ticket["opened_at"]
        solved = client.patch(f"/api/tickets/{ticket['id']}", json={"status": "solved"}).json()
        assert solved["resolved_at"] is not None


def _wait_for(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_integration_events_update_the_crm(live_server: LiveServer) -> None:
    """A `Payment Received` event from a source becomes a payment interaction of the contact."""
    with _client(live_server) as client:
        contact = _create(client, "contacts", {"last_name": "Maes", "external_id": "u-maes"})
        event = {
            "type": "track",
            "event": "Payment Received",
            "userId": "u-maes",
            "messageId": "pay-1",
            "properties": {"amount": 250.5, "currency": "EUR", "invoice_id": "FA-1"},
        }
        for _ in range(2):  # sent twice: applied once
            sent = httpx.post(
                live_server.url + "/v1/track", json=event, auth=(live_server.write_key, "")
            )
            assert sent.status_code == 200
        items = _wait_for(
            lambda: client.get("/api/interactions", params={"contact_id": contact["id"]}).json()[
                "items"
            ]
        )
        assert [(i["kind"], i["amount"], i["reference"]) for i in items] == [
            ("payment", 250.5, "FA-1")
        ]
        audit = client.get("/api/audit", params={"entity": "interactions"}).json()["items"]
        assert audit[0]["actor"] == "source:web"


def test_csv_import_over_http_is_all_or_nothing(live_server: LiveServer) -> None:
    """POST /api/import/accounts refuses a file with bad rows (422, every line) or applies all."""
    with _client(live_server) as client:
        bad = "name,country\nBrasserie Dupont,BE\n,FR\nGarage,France\n"
        response = client.post(
            "/api/import/accounts", content=bad, headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 422
        assert [e["line"] for e in response.json()["errors"]] == [3, 4]
        assert client.get("/api/accounts").json()["total"] == 0
        good = "name,country\nBrasserie Dupont,BE\nGarage Martin,FR\n"
        response = client.post(
            "/api/import/accounts", content=good, headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 2
        names = {a["name"] for a in client.get("/api/accounts").json()["items"]}
        assert names == {"Brasserie Dupont", "Garage Martin"}


def test_csv_import_needs_its_content_type(live_server: LiveServer) -> None:
    """Issue 17: an import sent as anything but text/csv is refused (415) and imports nothing."""
    with _client(live_server) as client:
        good = "name,country\nBrasserie Dupont,BE\n"
        for media_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
            response = client.post(
                "/api/import/accounts", content=good, headers={"Content-Type": media_type}
            )
            assert response.status_code == 415, response.text
            assert "text/csv" in response.json()["detail"]
        assert client.get("/api/accounts").json()["total"] == 0
        response = client.post(
            "/api/import/accounts",
            content=good,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        assert response.status_code == 200, response.text


@dataclass
class CatalogueServer:
    """A live server running the shipped catalogue on a clock the test moves."""

    server: LiveServer
    clock: ManualClock


@pytest.fixture
def catalogue_server(db_url: str) -> Iterator[CatalogueServer]:
    """The shipped KPI catalogue and rules, served on a manual clock."""
    clock = ManualClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    config = with_catalogue(Config(sources=[Source(name="web", write_key=WRITE_KEY)]))
    app = create_app(build_system(make_settings(db_url, config), clock=clock))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        token = user_token(system, username="test-admin", role="admin")
        live = LiveServer(url=server.url, write_key=WRITE_KEY, system=system, admin_token=token)
        yield CatalogueServer(server=live, clock=clock)


def _kpi(client: httpx.Client, metric: str) -> dict[str, float]:
    rows = client.get("/api/kpis", params={"metric": metric}).json()["kpis"]
    return {str(r["group"]): r["value"] for r in rows}


def test_a_deal_won_through_the_api_moves_deals_closed(catalogue_server: CatalogueServer) -> None:
    """Issue 14: PATCH stage=won logs `Deal Won` beside `Deal Updated`, once, and the shipped
    `deals_closed` KPI counts it for the deal's owner (a later change logs no second win)."""
    with _client(catalogue_server.server) as client:
        rep = _create(client, "staff", {"name": "Julie Peeters", "role": "sales"})
        account = _create(client, "accounts", {"name": "Boulangerie Lemaire"})
        deal = _create(
            client,
            "deals",
            {"title": "Caisse", "account_id": account["id"], "owner_id": rep["id"], "amount": 990},
        )
        for patch in ({"stage": "won"}, {"amount": 1200}):
            response = client.patch(f"/api/deals/{deal['id']}", json=patch)
            assert response.status_code == 200, response.text
        assert _wait_for(lambda: _kpi(client, "deals_closed")) == {"Julie Peeters": 1}
        logged = client.get("/api/events", params={"source": "crm"}).json()["events"]
        wins = [e for e in logged if e["event"] == "Deal Won"]
        assert len(wins) == 1
        assert wins[0]["properties"]["amount"] == 990 and wins[0]["properties"]["currency"] == "EUR"


def test_a_crm_ticket_unanswered_past_its_sla_fires_the_shipped_rule(
    catalogue_server: CatalogueServer,
) -> None:
    """Issue 14: a ticket created through the API and left without a first response for
    more than 15 minutes fires `support-first-response-sla` for its queue; one answered in
    time does not."""
    with _client(catalogue_server.server) as client:
        left = _create(client, "tickets", {"subject": "Commande perdue", "queue": "orders"})
        answered = _create(client, "tickets", {"subject": "Facture", "queue": "billing"})
        catalogue_server.clock.advance(timedelta(minutes=5))
        reply = {"first_response_at": catalogue_server.clock.now().isoformat()}
        assert client.patch(f"/api/tickets/{answered['id']}", json=reply).status_code == 200
        catalogue_server.clock.advance(timedelta(minutes=11))

        def sla_alerts() -> list[dict[str, Any]]:
            alerts = client.get("/api/alerts", params={"status": "firing"}).json()["alerts"]
            return [a for a in alerts if a["rule"] == "support-first-response-sla"]

        (alert,) = _wait_for(sla_alerts)
        assert alert["labels"]["queue"] == "orders"
        assert left["id"] in alert["values"]["items"]
