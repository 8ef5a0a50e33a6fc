"""Leads in the CRM: a lead run handed to the salespeople, and what they decide.

`lead_payloads` turns a run's assigned leads into CRM lead records (pure): each goes to the
staff member named like its rep, falls due within that person's working hours (the right to
disconnect's own decision, `vigie.schedule.decide`: a lead for someone off duty waits for
their next working period), and a company already proposed once is not proposed again.
`accept`, `reject` (with a reason) and `convert` (into an account and a deal) are the rep's
decisions, written through the CRM service like any other change, so they are logged
events; the CRM bridge (`vigie.ai.bridge`) reads them back as outcomes for the next training.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.auth.roles import Role
from vigie.auth.users import Principal
from vigie.crm import batches, tables
from vigie.crm.entities import ENTITIES, ReadBase
from vigie.crm.processor import CrmProcessor
from vigie.crm.service import CrmService, Invalid
from vigie.crm.sla import CrmConfig
from vigie.log import ProcessorRunner, ServedLog
from vigie.schedule import ScheduleConfig, decide

LEAD = ENTITIES["leads"]
EU_SIZE = {"0-9": "micro", "10-49": "small", "50-249": "medium", "250+": "large"}
"""The prospect base's head-count bands as the EU size classes of a CRM account."""
OPEN = ("new", "accepted")


def lead_id(company_id: int) -> str:
    """The id of a company's lead record: one per company, so a run published twice, or a
    company rejected once, is not proposed again."""
    return f"lead_{company_id}"


def due_in_working_hours(schedule: ScheduleConfig, rep: str, proposed: datetime) -> datetime:
    """When a lead proposed for `proposed` falls due for `rep`: then if they work then, else
    their next working instant (as a held notification would be); `proposed` itself when
    the schedule does not know them (the run already spread it over `ai.reps` hours)."""
    decision = decide(schedule, recipient=rep, urgent=False, at=proposed)[0]
    if decision.outcome in ("deliver", "hold") and decision.deliver_at is not None:
        return decision.deliver_at
    return proposed


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return round(float(value), 4)


def lead_payloads(
    leads: pl.DataFrame,
    *,
    staff: dict[str, str],
    schedule: ScheduleConfig,
    model: str | None,
    existing: set[str],
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The CRM lead records of a run's leads, and counts of those left out or unassigned.

    `staff` maps a rep's name to their staff id; a lead whose rep is not a staff member is
    still published, unassigned, and counted (`unassigned`); a company whose record is in
    `existing` is skipped and counted (`already`).
    """
    records: list[dict[str, Any]] = []
    counts = {"published": 0, "already": 0, "unassigned": 0}
    for row in leads.iter_rows(named=True):
        record_id = lead_id(int(row["company_id"]))
        if record_id in existing:
            counts["already"] += 1
            continue
        rep = row.get("rep")
        owner = staff.get(rep) if rep else None
        proposed = row.get("due_at") or now
        if proposed.tzinfo is None:
            proposed = proposed.replace(tzinfo=UTC)
        due = due_in_working_hours(schedule, rep, proposed) if rep else None
        if owner is None:
            counts["unassigned"] += 1
        factors = [
            {k: f[k] for k in ("feature", "value", "contribution")}
            for f in (row.get("factors") or [])
        ]
        records.append(
            {
                "id": record_id,
                "company_id": int(row["company_id"]),
                "name": str(row.get("name") or row["company_id"])[:200],
                "nace": _text(row.get("nace")),
                "size_band": _text(row.get("size_band")),
                "region": _text(row.get("region")),
                "country": _text(row.get("country")),
                "score": int(row["score"]) if row.get("score") is not None else None,
                "probability": _number(row.get("probability")),
                "expected": _number(row.get("expected")),
                "rep_rate": _number(row.get("rep_rate")),
                "owner_id": owner,
                "due_at": due.isoformat() if due else None,
                "model": model,
                "reason_en": row.get("reason_en"),
                "reason_fr": row.get("reason_fr"),
                "factors": factors,
            }
        )
        counts["published"] += 1
    return records, counts


def publish(
    *,
    engine: sa.Engine,
    log: ServedLog,
    leads: pl.DataFrame,
    schedule: ScheduleConfig,
    model: str | None,
    actor: Actor,
    now: datetime,
    crm_config: CrmConfig | None = None,
) -> dict[str, int]:
    """Publish a run's leads from the command line: checked as an API batch, appended to
    `log` in one transaction (the log the server's writer appends to, with its safeguards:
    `vigie.system.command_log`), applied by the CRM projection; returns the counts."""
    staff, users = tables.staff, tables.leads
    with engine.connect() as conn:
        by_name: dict[str, str] = {}
        for row in conn.execute(sa.select(staff.c.id, staff.c.name, staff.c.email)):
            by_name[row.name] = row.id
            if row.email:
                by_name[row.email] = row.id
        existing = set(conn.execute(sa.select(users.c.id)).scalars())
        payloads, counts = lead_payloads(
            leads, staff=by_name, schedule=schedule, model=model, existing=existing, now=now
        )
        if not payloads:
            return counts
        plan = batches.plan(conn, LEAD, payloads, user=None, actor=actor, now=now)
    if not plan.ok:
        first = plan.errors[0]
        raise ValueError(f"lead {first.index + 1} ({payloads[first.index]['id']}): {first.reason}")
    log.append(plan.events, source=plan.events[0].source, endpoint="cli:leads publish",
               received_at=now)  # fmt: skip
    ProcessorRunner(log, [CrmProcessor(engine, crm_config)], batch_size=5000).run_once()
    return counts


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def staff_by_name(crm: CrmService, user: Principal) -> dict[str, str]:
    """Every staff member the user may see: name (and e-mail) -> staff id."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        page = crm.find(ENTITIES["staff"], user, filters={}, q=None, sort="name", limit=500,
                        offset=offset, archived=False)  # fmt: skip
        for item in page.items:
            found[str(getattr(item, "name"))] = item.id  # noqa: B009
            email = getattr(item, "email", None)
            if email:
                found[str(email)] = item.id
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return found


EVERYONE = Principal(id=0, username="vigie-ai", role=Role.ADMIN)
"""Who asks whether a company was proposed before: every lead counts, including those of
reps the publishing manager does not see (their record must not be overwritten)."""


def existing_ids(crm: CrmService) -> set[str]:
    """The ids of every lead record, archived included, whoever owns them."""
    found: set[str] = set()
    offset = 0
    while True:
        page = crm.find(LEAD, EVERYONE, filters={}, q=None, sort="created_at", limit=500,
                        offset=offset, archived=True)  # fmt: skip
        found.update(item.id for item in page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return found


def _status(lead: ReadBase) -> str:
    return str(getattr(lead, "status"))  # noqa: B009


async def accept(crm: CrmService, record_id: str, user: Principal, actor: Actor) -> ReadBase:
    """The rep takes the lead on: `new` -> `accepted`."""
    lead = crm.get(LEAD, record_id, user)
    if _status(lead) != "new":
        raise Invalid(f"status: lead {record_id!r} is {_status(lead)}, only a new lead is accepted")
    return await crm.update(LEAD, record_id, {"status": "accepted"}, user, actor)


async def reject(
    crm: CrmService, record_id: str, reason: str, user: Principal, actor: Actor
) -> ReadBase:
    """The rep turns the lead down and says why (kept for the next training)."""
    if not reason.strip():
        raise Invalid("reason: say why the lead is rejected / motif requis")
    lead = crm.get(LEAD, record_id, user)
    if _status(lead) not in OPEN:
        raise Invalid(f"status: lead {record_id!r} is already {_status(lead)}")
    patch = {"status": "rejected", "reject_reason": reason.strip()[:200]}
    return await crm.update(LEAD, record_id, patch, user, actor)


async def convert(
    crm: CrmService,
    record_id: str,
    user: Principal,
    actor: Actor,
    *,
    title: str | None = None,
    amount: float = 0.0,
) -> tuple[ReadBase, ReadBase, ReadBase]:
    """Turn the lead into an account (unless it already has one) and a deal in qualification,
    both owned by the lead's rep; the lead then points at them. Returns (lead, account, deal).
    """
    lead = crm.get(LEAD, record_id, user)
    if _status(lead) not in OPEN:
        raise Invalid(f"status: lead {record_id!r} is already {_status(lead)}")
    data = lead.model_dump()
    owner = data.get("owner_id")
    if data.get("account_id"):
        account = crm.get(ENTITIES["accounts"], data["account_id"], user)
    else:
        fields: dict[str, Any] = {
            "name": data["name"],
            "vat_number": str(data["company_id"])[:20] if data.get("company_id") else None,
            "nace": data.get("nace"),
            "size_band": EU_SIZE.get(str(data.get("size_band"))),
            "region": data.get("region"),
            "country": data.get("country"),
            "owner_id": owner,
        }
        account = await crm.create(
            ENTITIES["accounts"], {k: v for k, v in fields.items() if v is not None}, user, actor
        )
    deal_fields: dict[str, Any] = {
        "title": (title or f"{data['name']} (lead)")[:200],
        "account_id": account.id,
        "owner_id": owner,
        "amount": amount,
    }
    deal = await crm.create(
        ENTITIES["deals"], {k: v for k, v in deal_fields.items() if v is not None}, user, actor
    )
    patch = {"status": "converted", "account_id": account.id, "deal_id": deal.id}
    updated = await crm.update(LEAD, record_id, patch, user, actor)
    return updated, account, deal
