"""The CRM processor applies CRM events idempotently and keeps what it cannot apply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from vigie.auth.audit import Actor, list_audit
from vigie.crm.commands import crm_event
from vigie.crm.entities import ENTITIES
from vigie.crm.processor import CrmProcessor, derive
from vigie.crm.sla import CrmConfig
from vigie.events import Event
from vigie.log import SqlEventLog

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(name="alice", role="sales", ip="192.0.2.7")


def _deal_rows(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(ENTITIES["deals"].table))]


def test_replaying_a_batch_changes_nothing(engine: sa.Engine) -> None:
    """The same events processed twice leave one row, the same version and one audit line each."""
    deals = ENTITIES["deals"]
    log = SqlEventLog(engine)
    events = [
        crm_event(
            entity=deals,
            operation="create",
            record_id="deal_1",
            data={"title": "Caisse", "account_id": "acc_1"},
            actor=ACTOR,
            now=NOW,
        ),
        crm_event(
            entity=deals,
            operation="update",
            record_id="deal_1",
            data={"stage": "won"},
            actor=ACTOR,
            now=NOW,
        ),
    ]
    log.append(events, source="crm")
    processor = CrmProcessor(engine)
    stored = log.read(1)
    processor.process(stored)
    first = _deal_rows(engine)
    processor.process(stored)
    assert _deal_rows(engine) == first
    assert first[0]["stage"] == "won" and first[0]["version"] == 2
    audit = list_audit(engine=engine)
    assert [(a.action, a.actor, a.ip) for a in audit] == [
        ("update", "alice", "192.0.2.7"),
        ("create", "alice", "192.0.2.7"),
    ]


def test_unappliable_events_are_kept_as_rejections(engine: sa.Engine) -> None:
    """An update of a record that does not exist is kept in rejected events with the reason."""
    log = SqlEventLog(engine)
    event = crm_event(
        entity=ENTITIES["deals"],
        operation="update",
        record_id="deal_x",
        data={"stage": "won"},
        actor=ACTOR,
        now=NOW,
    )
    log.append([event], source="crm")
    CrmProcessor(engine).process(log.read(1))
    rejected = log.rejected()
    assert len(rejected) == 1 and "does not exist" in rejected[0].reason
    assert _deal_rows(engine) == []


def test_a_replayed_rejection_is_kept_once(engine: sa.Engine) -> None:
    """After a crash the runner replays the events past its last saved checkpoint: an event
    already rejected is not kept a second time, while another one of the replay is."""
    log = SqlEventLog(engine)
    first, second = (
        crm_event(
            entity=ENTITIES["deals"],
            operation="update",
            record_id=record_id,
            data={"stage": "won"},
            actor=ACTOR,
            now=NOW,
        )
        for record_id in ("deal_x", "deal_y")
    )
    log.append([first], source="crm")
    CrmProcessor(engine).process(log.read(1))
    log.append([second], source="crm")
    CrmProcessor(engine).process(log.read(1))  # a new process, from an old checkpoint
    reasons = sorted(r.reason for r in log.rejected())
    assert len(reasons) == 2
    assert "deal_x" in reasons[0] and "deal_y" in reasons[1]


def test_derive_closes_deals_and_sets_sla_due_times() -> None:
    """Won deals get a close date; tickets get due times from their priority's SLA."""
    config = CrmConfig()
    deal = derive("deals", None, {"stage": "won", "closed_at": None}, NOW, config)
    assert deal["closed_at"] == NOW
    reopened = derive("deals", deal, {"stage": "proposal", "closed_at": NOW}, NOW, config)
    assert reopened["closed_at"] is None
    ticket = derive("tickets", None, {"priority": "high", "status": "open"}, NOW, config)
    assert (ticket["first_response_due_at"] - NOW).total_seconds() == 2 * 3600


def test_transient_database_errors_are_retried_not_rejected(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock or connection error fails the batch (the runner retries it); nothing is rejected.

    Regression: `vigie demo` once turned SQLite's 'database is locked' into rejected events.
    """
    log = SqlEventLog(engine)
    event = crm_event(
        entity=ENTITIES["deals"],
        operation="create",
        record_id="deal_1",
        data={"title": "Caisse", "account_id": "acc_1"},
        actor=ACTOR,
        now=NOW,
    )
    log.append([event], source="crm")
    processor = CrmProcessor(engine)

    def locked(*_args: object, **_kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(processor, "_apply", locked)
    with pytest.raises(sa.exc.OperationalError):
        processor.process(log.read(1))
    assert log.rejected() == []
    monkeypatch.undo()
    processor.process(log.read(1))
    assert [row["id"] for row in _deal_rows(engine)] == ["deal_1"]


def _fact(message_id: str, name: str, user_id: str | None) -> Event:
    return Event(
        message_id=message_id,
        type="track",
        source="stripe",
        timestamp=NOW,
        received_at=NOW,
        event=name,
        user_id=user_id,
        properties={"amount": 12.5, "currency": "EUR"},
    )


def test_facts_of_one_batch_meet_the_contacts_created_before_them(engine: sa.Engine) -> None:
    """Integration facts applied together still find the contact a command earlier in the same
    batch created, and none created after them; a replay adds nothing (issue 16)."""
    contacts = ENTITIES["contacts"]
    log = SqlEventLog(engine)
    create_u1 = crm_event(
        entity=contacts,
        operation="create",
        record_id="con_1",
        data={"first_name": "Ann", "external_id": "u1"},
        actor=ACTOR,
        now=NOW,
    )
    create_u2 = crm_event(
        entity=contacts,
        operation="create",
        record_id="con_2",
        data={"first_name": "Bob", "external_id": "u2", "account_id": "acc_9"},
        actor=ACTOR,
        now=NOW,
    )
    log.append([create_u1], source="crm")
    log.append(
        [
            _fact("m1", "Order Completed", "u1"),
            _fact("m2", "Payment Received", "u2"),
            _fact("m3", "Invoice Issued", None),
        ],
        source="stripe",
    )
    log.append([create_u2], source="crm")
    log.append([_fact("m4", "Invoice Issued", "u2")], source="stripe")
    processor = CrmProcessor(engine)
    stored = log.read(1)
    processor.process(stored)
    table = ENTITIES["interactions"].table
    query = sa.select(
        table.c.version, table.c.kind, table.c.contact_id, table.c.account_id
    ).order_by(table.c.version)
    with engine.connect() as conn:
        first = [tuple(row) for row in conn.execute(query)]
    assert first == [
        (2, "invoice", "con_1", None),
        (3, "payment", None, None),
        (4, "invoice", None, None),
        (6, "invoice", "con_2", "acc_9"),
    ]
    audited = len(list_audit(engine=engine, limit=100))
    processor.process(stored)
    with engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(query)] == first
    assert len(list_audit(engine=engine, limit=100)) == audited == 6
