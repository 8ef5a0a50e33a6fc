"""Batch writes (`/api/<entity>/batch`, issue 25): all or nothing, one log append, the same
checks, audit trail and projection as single writes."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from tests.conftest import LiveServer
from vigie.auth.audit import audit_log
from vigie.crm.entities import ENTITIES
from vigie.crm.processor import CrmProcessor
from vigie.log import ProcessorRunner, SqlEventLog


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.admin, timeout=30)


def _crm_events(client: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get(
        "/api/events", params={"source": "crm", "limit": 500}
    ).json()["events"]
    return events


def test_batch_creates_and_upserts_by_id_and_external_id(live_server: LiveServer) -> None:
    """One POST creates new records and changes those named by id or external_id, in one
    append, answered with every record as stored and audited like single writes."""
    with _client(live_server) as client:
        first = client.post(
            "/api/contacts/batch",
            json={
                "records": [
                    {"last_name": "Dupont", "external_id": "erp-1"},
                    {"id": "con_mine", "last_name": "Martin"},
                ]
            },
        )
        assert first.status_code == 200, first.text
        assert (first.json()["created"], first.json()["updated"]) == (2, 0)
        dupont = first.json()["items"][0]
        assert first.json()["items"][1]["id"] == "con_mine"
        second = client.post(
            "/api/contacts/batch",
            json={
                "records": [
                    {"external_id": "erp-1", "first_name": "Anne"},
                    {"id": "con_mine", "email": "martin@example.be"},
                    {"last_name": "Nouveau"},
                ]
            },
        )
        assert second.status_code == 200, second.text
        body = second.json()
        assert (body["created"], body["updated"]) == (1, 2)
        anne, martin, _ = body["items"]
        assert anne["id"] == dupont["id"] and anne["last_name"] == "Dupont"
        assert anne["first_name"] == "Anne" and martin["email"] == "martin@example.be"
        assert martin["last_name"] == "Martin"
        assert client.get(f"/api/contacts/{anne['id']}").json() == anne
        assert client.get("/api/contacts").json()["total"] == 3
        logged = client.get("/api/events", params={"source": "crm"}).json()["events"]
        assert {e["offset"] for e in logged} >= {anne["version"], martin["version"]}
        actions = [
            a["action"]
            for a in client.get("/api/audit", params={"entity_id": dupont["id"]}).json()["items"]
        ]
        assert actions == ["update", "create"]


def test_one_bad_record_applies_nothing_and_is_named(live_server: LiveServer) -> None:
    """A batch with one bad record writes nothing and lists each bad record's index and why."""
    with _client(live_server) as client:
        account = client.post("/api/accounts", json={"name": "Boulangerie Lemaire"}).json()
        before = len(_crm_events(client))
        response = client.post(
            "/api/deals/batch",
            json={
                "records": [
                    {"title": "Caisse", "account_id": account["id"]},
                    {"title": "Terminal", "account_id": "acc_nowhere"},
                    {"title": "Balance", "account_id": account["id"], "amount": -5},
                    {"title": "Stock", "account_id": account["id"]},
                ]
            },
        )
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert [e["index"] for e in errors] == [1, 2]
        assert "acc_nowhere" in errors[0]["reason"]
        assert errors[1]["reason"].startswith("amount")
        assert client.get("/api/deals").json()["total"] == 0
        assert len(_crm_events(client)) == before


def test_patch_batch_changes_existing_records_only(live_server: LiveServer) -> None:
    """PATCH changes the records named by id; an unknown id refuses the whole batch."""
    with _client(live_server) as client:
        made = client.post(
            "/api/tickets/batch", json={"records": [{"subject": "A"}, {"subject": "B"}]}
        ).json()["items"]
        refused = client.patch(
            "/api/tickets/batch",
            json={"records": [{"id": made[0]["id"], "status": "solved"}, {"id": "tic_none"}]},
        )
        assert refused.status_code == 422, refused.text
        assert [e["index"] for e in refused.json()["errors"]] == [1]
        assert client.get(f"/api/tickets/{made[0]['id']}").json()["status"] != "solved"
        changed = client.patch(
            "/api/tickets/batch",
            json={"records": [{"id": t["id"], "status": "solved"} for t in made]},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["updated"] == 2
        assert all(t["resolved_at"] for t in changed.json()["items"])
        no_id = client.patch("/api/tickets/batch", json={"records": [{"status": "open"}]})
        assert no_id.status_code == 422
        too_many = client.post("/api/tickets/batch", json={"records": [{"subject": "x"}] * 1001})
        assert too_many.status_code == 422


def test_replaying_the_log_rebuilds_the_same_tables(live_server: LiveServer) -> None:
    """The CRM tables batches wrote are rebuilt identically by replaying the log from the
    start, and the append-only audit trail keeps one entry per applied event."""
    with _client(live_server) as client:
        accounts = client.post(
            "/api/accounts/batch",
            json={"records": [{"id": f"acc_{n}", "name": f"Account {n}"} for n in range(20)]},
        ).json()["items"]
        deals = client.post(
            "/api/deals/batch",
            json={
                "records": [
                    {"title": f"Deal {n}", "account_id": a["id"], "amount": n}
                    for n, a in enumerate(accounts)
                ]
            },
        ).json()["items"]
        response = client.patch(
            "/api/deals/batch",
            json={"records": [{"id": d["id"], "stage": "won"} for d in deals[:5]]},
        )
        assert response.status_code == 200, response.text
    engine = live_server.system.engine
    names = ("accounts", "deals")

    applied = audit_log.c.log_offset.is_not(None)

    def snapshot() -> dict[str, list[dict[str, Any]]]:
        with engine.connect() as conn:
            tables = {
                name: [
                    dict(row._mapping)
                    for row in conn.execute(
                        sa.select(ENTITIES[name].table).order_by(ENTITIES[name].table.c.id)
                    )
                ]
                for name in names
            }
            trail = sa.select(audit_log).where(applied).order_by(audit_log.c.log_offset)
            tables["audit"] = [
                {k: v for k, v in row._mapping.items() if k != "id"} for row in conn.execute(trail)
            ]
            return tables

    before = snapshot()
    with engine.begin() as conn:
        for name in ("deals", "accounts"):
            conn.execute(sa.delete(ENTITIES[name].table))
    replay = CrmProcessor(engine)
    replay.name = "crm-replay"
    ProcessorRunner(SqlEventLog(engine), [replay]).run_once()
    assert snapshot() == before
    assert len(before["deals"]) == 20 and len(before["audit"]) >= 45
