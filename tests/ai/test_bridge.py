"""The CRM bridge: the training set as each deal stood when it was decided (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vigie.ai.bridge import SCHEMA, crm_training_set
from vigie.auth.audit import Actor
from vigie.crm import batches
from vigie.crm.entities import ENTITIES
from vigie.crm.processor import CrmProcessor
from vigie.log import ProcessorRunner, SqlEventLog

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    return START + timedelta(days=n)


def write(engine: sa.Engine, entity: str, record: dict[str, Any], at: datetime) -> None:
    """Write one record through the CRM's own path (an event, then the projection) at `at`."""
    with engine.connect() as conn:
        plan = batches.plan(conn, ENTITIES[entity], [record], user=None,
                            actor=Actor(name="test", role="admin"), now=at)  # fmt: skip
    assert plan.ok, plan.errors
    log = SqlEventLog(engine)
    log.append(plan.events, source="crm", endpoint="test", received_at=at)
    ProcessorRunner(log, [CrmProcessor(engine)]).run_once()


def talk(n: int, kind: str, occurred: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"int_{n}", "kind": kind, "account_id": "acc_a",
            "occurred_at": day(occurred).isoformat(), **extra}  # fmt: skip


def test_each_deal_sees_only_what_was_known_at_its_decision(engine: sa.Engine) -> None:
    """Nothing recorded or happening after a deal's decision reaches its row: not a later
    change of the account, nor a later call, ticket or late payment, nor a call recorded
    later but dated before; stage durations come from the deal's own events."""
    write(engine, "staff", {"id": "st_alice", "name": "Alice", "role": "sales"}, day(0))
    write(engine, "accounts", {"id": "acc_a", "name": "A", "vat_number": "BE0123.456.789",
          "nace": "62.01", "size_band": "small", "region": "Antwerpen", "country": "BE"},
          day(0))  # fmt: skip
    write(engine, "deals", {"id": "deal_1", "title": "One", "account_id": "acc_a",
          "owner_id": "st_alice", "amount": 900}, day(2))  # fmt: skip
    write(engine, "interactions", talk(1, "call", 3, sentiment=0.5, direction="inbound"), day(3))
    write(engine, "interactions", talk(2, "email", 3, direction="outbound"), day(3))
    write(engine, "deals", {"id": "deal_1", "stage": "proposal"}, day(4))
    write(engine, "tickets", {"id": "tk_1", "subject": "Help", "account_id": "acc_a",
          "opened_at": day(5).isoformat()}, day(5))  # fmt: skip
    write(engine, "interactions", talk(3, "payment", 5, amount=10), day(5))
    write(engine, "deals", {"id": "deal_1", "stage": "won"}, day(6))
    # After the first decision:
    write(engine, "accounts", {"id": "acc_a", "size_band": "large"}, day(7))
    write(engine, "interactions", talk(4, "call", 7, sentiment=-1.0), day(7))
    write(engine, "interactions", talk(5, "call", 4, sentiment=-1.0), day(8))  # backdated
    write(engine, "tickets", {"id": "tk_2", "subject": "Again", "account_id": "acc_a",
          "opened_at": day(8).isoformat()}, day(8))  # fmt: skip
    write(engine, "interactions", talk(6, "late_payment", 8, amount=10), day(8))
    write(engine, "deals", {"id": "deal_2", "title": "Two", "account_id": "acc_a",
          "owner_id": "st_alice"}, day(8))  # fmt: skip
    write(engine, "deals", {"id": "deal_2", "stage": "lost", "lost_reason": "price"}, day(9))
    write(engine, "leads", {"id": "lead_7", "name": "Seven", "company_id": 7, "nace": "56.10",
          "size_band": "0-9", "owner_id": "st_alice"}, day(9))  # fmt: skip
    write(engine, "leads", {"id": "lead_7", "status": "rejected", "reject_reason": "closed"},
          day(10))  # fmt: skip
    write(engine, "deals", {"id": "deal_3", "title": "Open", "account_id": "acc_a"}, day(10))

    frame = crm_training_set(engine)
    assert frame.columns == list(SCHEMA)
    assert frame["deal_id"].to_list() == ["deal_1", "deal_2", "lead_7"]
    one, two, lead = frame.rows(named=True)
    assert one["won"] is True and one["rep"] == "Alice" and one["company_id"] == 123456789
    assert one["size_band"] == "10-49" and one["nace"] == "62.01"
    assert (one["calls"], one["emails"], one["interactions"]) == (1, 1, 2)
    assert one["sentiment"] == 0.5 and one["inbound_share"] == 0.5
    assert (one["support_tickets"], one["payments"], one["late_payments"]) == (1, 1, 0)
    assert one["days_qualification"] == 2.0 and one["days_proposal"] == 2.0
    assert one["days_in_pipeline"] == 4.0
    assert two["won"] is False and two["size_band"] == "250+"
    assert (two["calls"], two["support_tickets"], two["late_payments"]) == (3, 2, 1)
    assert lead["source"] == "rejected lead" and lead["won"] is False
    assert lead["company_id"] == 7 and lead["size_band"] == "0-9"
    assert crm_training_set(engine, include_rejected=False).height == 2
