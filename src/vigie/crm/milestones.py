"""The milestones a CRM change reaches (`Deal Won`, `Ticket First Response` …), as the events
the KPI catalogue counts.

A change record (`Deal Updated {stage: won}`) says what was written; a milestone says what it
means for the business, in the words the catalogue's metrics and rules read. Milestones are
found by comparing a record before and after a change, so a deal updated twice while won
reaches `Deal Won` once. Pure functions over plain data: the writer (API or CSV import)
appends them to the log beside the change record, where replay finds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CLOSED_TICKET = ("solved", "closed")

PAYMENT_EVENTS: dict[str, str] = {
    "payment": "Payment Received",
    "late_payment": "Payment Late",
    "dispute": "Payment Disputed",
}
"""Interaction kinds recorded by hand in the CRM -> the catalogue event they stand for."""


@dataclass(frozen=True)
class Names:
    """How ids read on a KPI tile: staff ids -> names, campaign ids -> UTM campaign names."""

    staff: Mapping[str, str] = field(default_factory=dict)
    campaigns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Milestone:
    """One business event a change reaches: its name, properties and event time.

    `key` names the transition (record, milestone, the version it was reached from), so two
    writers that see the same record reach the same milestone with the same message id and
    the log keeps one.
    """

    event: str
    properties: dict[str, Any]
    at: datetime
    key: str

    @property
    def message_id(self) -> str:
        """A message id derived from `key`: the log deduplicates the same transition."""
        return "crm-" + hashlib.sha256(self.key.encode()).hexdigest()[:32]


def record_properties(entity: str, record_id: str, after: Mapping[str, Any]) -> dict[str, Any]:
    """What a change record of `entity` carries beyond the fields sent, for the catalogue.

    A ticket's `Ticket Created` is itself the event the `tickets` KPI and the SLA rule count:
    it carries `ticket_id`, its queue and priority (defaults included) and its subject as
    `text` (read by `ticket_sentiment`).
    """
    if entity != "tickets":
        return {}
    return {
        "ticket_id": record_id,
        "queue": after.get("queue"),
        "priority": after.get("priority"),
        "text": after.get("subject"),
    }


def milestones(
    entity: str,
    record_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    *,
    at: datetime,
    names: Names | None = None,
) -> list[Milestone]:
    """The milestones reached when a record of `entity` goes from `before` (None when it is
    created) to `after`, at `at`; empty when the change reaches none."""
    names = names or Names()
    version = int(before.get("version") or 0) if before else 0
    found: list[tuple[str, dict[str, Any], datetime]] = []
    if entity == "deals":
        found = _deal(record_id, before, after, at, names)
    elif entity == "tickets":
        found = _ticket(record_id, before, after, at, names)
    elif entity == "offers":
        found = _offer(record_id, before, after, at, names)
    elif entity == "interactions" and before is None and after.get("kind") in PAYMENT_EVENTS:
        occurred = _instant(after.get("occurred_at"))
        when = min(occurred, at) if occurred else at
        found = [(PAYMENT_EVENTS[after["kind"]], _payment(record_id, after), when)]
    return [
        Milestone(
            event=event,
            properties=_drop_none(properties),
            at=when,
            key=f"{entity}\x00{record_id}\x00{event}\x00{version}",
        )
        for event, properties, when in found
    ]


def _entered(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], key: str, *values: str
) -> bool:
    """True when `after[key]` is one of `values` and `before[key]` was not."""
    return after.get(key) in values and (before is None or before.get(key) not in values)


def _deal(
    record_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    at: datetime,
    names: Names,
) -> list[tuple[str, dict[str, Any], datetime]]:
    owner = after.get("owner_id")
    campaign_id = after.get("campaign_id")
    common = {
        "deal_id": record_id,
        "title": after.get("title"),
        "account_id": after.get("account_id"),
        "contact_id": after.get("contact_id"),
        "owner_id": owner,
        "agent": names.staff.get(owner, owner) if owner else None,
        "campaign_id": campaign_id,
        "campaign": names.campaigns.get(campaign_id) if campaign_id else None,
        "stage": after.get("stage"),
        "previous_stage": before.get("stage") if before else None,
    }
    money = {"amount": after.get("amount"), "currency": after.get("currency")}
    out: list[tuple[str, dict[str, Any], datetime]] = []
    if _entered(before, after, "stage", "meeting"):
        out.append(("Meeting Booked", common, at))
    if _entered(before, after, "stage", "won"):
        out.append(("Deal Won", common | money, at))
    if _entered(before, after, "stage", "lost"):
        out.append(("Deal Lost", common | money | {"lost_reason": after.get("lost_reason")}, at))
    return out


def _ticket(
    record_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    at: datetime,
    names: Names,
) -> list[tuple[str, dict[str, Any], datetime]]:
    assignee = after.get("assignee_id")
    opened = _instant(after.get("opened_at")) or _instant((before or {}).get("opened_at")) or at
    common = {
        "ticket_id": record_id,
        "queue": after.get("queue"),
        "priority": after.get("priority"),
        "assignee_id": assignee,
        "agent": names.staff.get(assignee, assignee) if assignee else None,
        "contact_id": after.get("contact_id"),
        "account_id": after.get("account_id"),
        "channel": after.get("channel"),
    }
    out: list[tuple[str, dict[str, Any], datetime]] = []
    solved = _entered(before, after, "status", *CLOSED_TICKET)
    resolved_at = min(_instant(after.get("resolved_at")) or at, at)
    answered = _instant(after.get("first_response_at"))
    had_answer = bool(before and before.get("first_response_at"))
    if not had_answer and (answered is not None or solved):
        # Solving a ticket answers it: the SLA item closes even without a separate reply.
        when = min(answered or resolved_at, at)
        out.append(
            (
                "Ticket First Response",
                common | {"first_response_s": max(0.0, (when - opened).total_seconds())},
                when,
            )
        )
    if solved:
        out.append(
            (
                "Ticket Solved",
                common
                | {
                    "status": after.get("status"),
                    "resolution_s": max(0.0, (resolved_at - opened).total_seconds()),
                },
                resolved_at,
            )
        )
    return out


def _offer(
    record_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    at: datetime,
    names: Names,
) -> list[tuple[str, dict[str, Any], datetime]]:
    if not _entered(before, after, "status", "sent"):
        return []
    owner = after.get("owner_id")
    properties = {
        "offer_id": record_id,
        "deal_id": after.get("deal_id"),
        "number": after.get("number"),
        "owner_id": owner,
        "agent": names.staff.get(owner, owner) if owner else None,
        "amount": after.get("amount"),
        "currency": after.get("currency"),
    }
    sent_at = _instant(after.get("sent_at"))
    return [("Proposal Sent", properties, min(sent_at, at) if sent_at else at)]


def _payment(record_id: str, after: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "interaction_id": record_id,
        "contact_id": after.get("contact_id"),
        "account_id": after.get("account_id"),
        "amount": after.get("amount"),
        "currency": after.get("currency"),
        "reference": after.get("reference"),
    }


def _instant(value: Any) -> datetime | None:
    """A datetime from a record's field (a datetime, or ISO text from JSON)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def _drop_none(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if v is not None}
