"""The milestones a CRM change reaches: once per transition, in the catalogue's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.auth.audit import Actor
from vigie.crm.commands import write_events
from vigie.crm.entities import ENTITIES
from vigie.crm.milestones import Names, milestones

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(name="alice", role="sales")
DEAL = {"title": "Caisse", "account_id": "acc_1", "owner_id": "st_1", "stage": "proposal",
        "amount": 990.0, "currency": "EUR", "version": 7}  # fmt: skip
NAMES = Names(staff={"st_1": "Julie Peeters"}, campaigns={"cmp_1": "lunch-deal"})


def test_a_deal_won_reaches_deal_won_once() -> None:
    """Moving to won reaches `Deal Won` with amount, currency and the owner's name as agent;
    a later change of a deal already won reaches nothing."""
    won = DEAL | {"stage": "won", "campaign_id": "cmp_1"}
    (reached,) = milestones("deals", "deal_1", DEAL, won, at=NOW, names=NAMES)
    assert reached.event == "Deal Won" and reached.at == NOW
    assert reached.properties["agent"] == "Julie Peeters"
    assert (reached.properties["amount"], reached.properties["currency"]) == (990.0, "EUR")
    assert reached.properties["campaign"] == "lunch-deal"
    assert reached.properties["deal_id"] == "deal_1"
    assert milestones("deals", "deal_1", won | {"version": 8}, won | {"amount": 5.0}, at=NOW) == []


def test_the_same_transition_seen_twice_has_one_message_id() -> None:
    """Two writers that read the same version reach the same milestone with the same message
    id (the log keeps one); winning again after a loss is a new milestone."""
    won = DEAL | {"stage": "won"}
    (first,) = milestones("deals", "deal_1", DEAL, won, at=NOW)
    (again,) = milestones("deals", "deal_1", DEAL, won, at=NOW + timedelta(seconds=1))
    assert first.message_id == again.message_id
    lost = DEAL | {"stage": "lost", "version": 9}
    (rewon,) = milestones("deals", "deal_1", lost, won, at=NOW)
    assert rewon.event == "Deal Won" and rewon.message_id != first.message_id


def test_lost_and_meeting_stages() -> None:
    """A deal lost reaches `Deal Lost` with its reason; entering the meeting stage reaches
    `Meeting Booked`; a deal created won reaches `Deal Won`."""
    (lost,) = milestones(
        "deals", "d", DEAL, DEAL | {"stage": "lost", "lost_reason": "price"}, at=NOW
    )
    assert (lost.event, lost.properties["lost_reason"]) == ("Deal Lost", "price")
    (meeting,) = milestones("deals", "d", DEAL, DEAL | {"stage": "meeting"}, at=NOW)
    assert meeting.event == "Meeting Booked"
    assert [m.event for m in milestones("deals", "d", None, DEAL | {"stage": "won"}, at=NOW)] == [
        "Deal Won"
    ]


def test_ticket_first_response_and_solved() -> None:
    """A first response reaches `Ticket First Response` with `ticket_id`, queue and the
    seconds since opening; solving an unanswered ticket answers it and solves it."""
    opened = NOW - timedelta(minutes=20)
    ticket = {"subject": "Panne", "queue": "orders", "priority": "high", "status": "open",
              "opened_at": opened, "first_response_at": None, "version": 3}  # fmt: skip
    answer = NOW - timedelta(minutes=5)
    (first,) = milestones("tickets", "tk_1", ticket, ticket | {"first_response_at": answer}, at=NOW)
    assert first.event == "Ticket First Response" and first.at == answer
    assert first.properties["ticket_id"] == "tk_1" and first.properties["queue"] == "orders"
    assert first.properties["first_response_s"] == 15 * 60
    solved = milestones("tickets", "tk_1", ticket, ticket | {"status": "solved"}, at=NOW)
    assert [m.event for m in solved] == ["Ticket First Response", "Ticket Solved"]
    assert solved[1].properties["resolution_s"] == 20 * 60
    answered = ticket | {"first_response_at": answer, "version": 4}
    closed = milestones("tickets", "tk_1", answered, answered | {"status": "closed"}, at=NOW)
    assert [m.event for m in closed] == ["Ticket Solved"]


def test_offers_sent_and_payments_recorded_by_hand() -> None:
    """An offer marked sent reaches `Proposal Sent`; a payment recorded as an interaction
    reaches `Payment Received` with its amount."""
    offer = {"deal_id": "deal_1", "amount": 500.0, "currency": "EUR", "status": "draft"}
    (sent,) = milestones("offers", "off_1", offer, offer | {"status": "sent"}, at=NOW)
    assert sent.event == "Proposal Sent" and sent.properties["amount"] == 500.0
    payment = {"kind": "payment", "amount": 120.0, "currency": "EUR"}
    (paid,) = milestones("interactions", "int_1", None, payment, at=NOW)
    assert (paid.event, paid.properties["amount"]) == ("Payment Received", 120.0)
    assert milestones("interactions", "int_1", None, {"kind": "call"}, at=NOW) == []


def test_a_write_appends_its_change_record_then_its_milestones() -> None:
    """`write_events` gives the change record first (a created ticket carries `ticket_id`,
    its queue and its subject as text for the catalogue), then the milestones."""
    tickets = ENTITIES["tickets"]
    events = write_events(
        entity=tickets,
        operation="create",
        record_id="tk_9",
        data={"subject": "Terminal en panne"},
        before=None,
        actor=ACTOR,
        now=NOW,
    )
    (created,) = events
    assert created.event == "Ticket Created" and created.source == "crm"
    assert created.properties["ticket_id"] == "tk_9" and created.properties["id"] == "tk_9"
    assert created.properties["queue"] == "general"
    assert created.properties["text"] == "Terminal en panne"
    deals = ENTITIES["deals"]
    change, won = write_events(
        entity=deals,
        operation="update",
        record_id="deal_1",
        data={"stage": "won"},
        before=DEAL,
        actor=ACTOR,
        now=NOW,
        names=NAMES,
    )
    assert change.event == "Deal Updated" and change.properties == {"id": "deal_1", "stage": "won"}
    assert won.event == "Deal Won" and won.properties["agent"] == "Julie Peeters"
    assert won.context["actor"]["name"] == "alice"
