"""The training set from Vigie's own CRM, as each deal stood when it was decided.

One row per decided deal (won or lost) and per rejected lead, with what was known at the
decision date and nothing after it:

- the account as it was then (its `Account Created/Updated` events replayed from the log up
  to the decision; the stored record when the log holds none): sector, size, region, country;
- the deal: outcome (`won`), amount, owner (`rep`), days in the pipeline and in each stage
  (from its `Deal Created/Updated` events);
- interactions of the account or the deal that happened *and* were recorded before the
  decision: calls, e-mails, chats, meetings, their mean sentiment and the share inbound;
- support tickets opened and recorded before it; payments and late payments before it;
- a lead the rep rejected counts as a lost opportunity at the date of the rejection (with
  `source` = `rejected lead`), so the next training learns from the reps' decisions too.

Sizes are written as the prospect base's head-count bands and the company number is read from
the account's VAT number, so the set joins the prospect base and the rep affinity as the
synthetic history does. Stage durations describe a deal in progress: a prospect has none,
so `vigie leads retrain` learns only from the columns the prospect base also has.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from vigie.crm import tables
from vigie.crm.commands import RESERVED_SOURCE
from vigie.crm.models import DEAL_STAGES
from vigie.events.event import decode_event
from vigie.store.schema import events as event_table

BASE_SIZE = {"micro": "0-9", "small": "10-49", "medium": "50-249", "large": "250+"}
STAGES = [s for s in DEAL_STAGES if s not in ("won", "lost")]
CHANNELS = ("call", "email", "chat", "meeting")
ACCOUNT_FIELDS = ("nace", "size_band", "region", "country", "vat_number")
DAY = 86_400.0


def _history(
    engine: sa.Engine, names: list[str]
) -> dict[str, list[tuple[datetime, dict[str, Any]]]]:
    """Each record's changes from the log (its CRM events named `names`), oldest first."""
    query = (
        sa.select(event_table.c.body)
        .where(event_table.c.source == RESERVED_SOURCE, event_table.c.event.in_(names))
        .order_by(event_table.c.log_offset)
    )
    found: dict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    with engine.connect() as conn:
        for (body,) in conn.execute(query):
            event = decode_event(bytes(body))
            record_id = event.properties.get("id")
            if record_id:
                found[str(record_id)].append((event.timestamp, dict(event.properties)))
    return found


def _as_of(changes: list[tuple[datetime, dict[str, Any]]], at: datetime) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for moment, change in changes:
        if moment > at:
            break
        state.update(change)
    return state


def _stage_days(
    changes: list[tuple[datetime, dict[str, Any]]], created: datetime, closed: datetime
) -> dict[str, float]:
    """Days the deal spent in each open stage before `closed`, and in the pipeline."""
    days = dict.fromkeys(STAGES, 0.0)
    stage, since = "qualification", created
    for moment, change in changes:
        if moment > closed:
            break
        if "stage" in change and change["stage"] != stage:
            if stage in days:
                days[stage] += max((moment - since).total_seconds(), 0.0) / DAY
            stage, since = change["stage"], moment
    if stage in days:
        days[stage] += max((closed - since).total_seconds(), 0.0) / DAY
    out = {f"days_{name}": round(value, 3) for name, value in days.items()}
    out["days_in_pipeline"] = round(max((closed - created).total_seconds(), 0.0) / DAY, 3)
    return out


def _company_id(vat: str | None) -> int | None:
    digits = "".join(c for c in (vat or "") if c.isdigit())
    return int(digits) if digits and len(digits) <= 18 else None


def _activity(
    account_id: str | None, deal_id: str | None, at: datetime, found: dict[str, list[Any]]
) -> dict[str, Any]:
    """Counts of what happened and was recorded before `at`, for an account or a deal."""
    rows = [
        r
        for key in {account_id, deal_id} - {None}
        for r in found.get(str(key), [])
        if r["occurred_at"] < at and r["created_at"] <= at
    ]
    unique = {r["id"]: r for r in rows}.values()
    kinds = [r["kind"] for r in unique]
    talks = [r for r in unique if r["kind"] in CHANNELS]
    moods = [r["sentiment"] for r in talks if r["sentiment"] is not None]
    inbound = [r for r in talks if r["direction"] == "inbound"]
    out: dict[str, Any] = {f"{kind}s": kinds.count(kind) for kind in CHANNELS}
    out["interactions"] = len(talks)
    out["sentiment"] = round(sum(moods) / len(moods), 4) if moods else None
    out["inbound_share"] = round(len(inbound) / len(talks), 4) if talks else None
    out["payments"] = kinds.count("payment")
    out["late_payments"] = kinds.count("late_payment")
    return out


def _tickets(account_id: str | None, at: datetime, found: dict[str, list[Any]]) -> int:
    return sum(
        1 for t in found.get(str(account_id), []) if t["opened_at"] < at and t["created_at"] <= at
    )


def crm_training_set(engine: sa.Engine, *, include_rejected: bool = True) -> pl.DataFrame:
    """The CRM's decided deals (and rejected leads) with what was known at each decision."""
    d, a, s, i, t, ld = (tables.deals, tables.accounts, tables.staff, tables.interactions,
                         tables.tickets, tables.leads)  # fmt: skip
    with engine.connect() as conn:
        deals = [dict(r._mapping) for r in conn.execute(
            sa.select(d).where(d.c.stage.in_(["won", "lost"]), d.c.closed_at.is_not(None))
        )]  # fmt: skip
        accounts = {r.id: dict(r._mapping) for r in conn.execute(sa.select(a))}
        staff = {r.id: r.name for r in conn.execute(sa.select(s.c.id, s.c.name))}
        by_key: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(
            sa.select(i.c.id, i.c.kind, i.c.occurred_at, i.c.created_at, i.c.sentiment,
                      i.c.direction, i.c.account_id, i.c.deal_id)
        ):  # fmt: skip
            item = dict(row._mapping)
            for key in {item["account_id"], item["deal_id"]} - {None}:
                by_key[str(key)].append(item)
        tickets: dict[str, list[Any]] = defaultdict(list)
        for ticket in conn.execute(sa.select(t.c.account_id, t.c.opened_at, t.c.created_at)):
            tickets[str(ticket.account_id)].append(dict(ticket._mapping))
        rejected = (
            [dict(r._mapping) for r in conn.execute(sa.select(ld).where(ld.c.status == "rejected"))]
            if include_rejected
            else []
        )
    account_log = _history(engine, ["Account Created", "Account Updated"])
    deal_log = _history(engine, ["Deal Created", "Deal Updated"])
    rows: list[dict[str, Any]] = []
    for deal in deals:
        closed: datetime = deal["closed_at"]
        stored = accounts.get(deal["account_id"], {})
        then = _as_of(account_log.get(deal["account_id"], []), closed) or stored
        rows.append(
            {
                "deal_id": deal["id"],
                "account_id": deal["account_id"],
                "company_id": _company_id(then.get("vat_number")),
                "rep": staff.get(deal["owner_id"], deal["owner_id"]),
                "closed_at": closed,
                "won": deal["stage"] == "won",
                "source": "deal",
                "amount": deal["amount"],
                **_segment(then),
                **_stage_days(deal_log.get(deal["id"], []), deal["created_at"], closed),
                **_activity(deal["account_id"], deal["id"], closed, by_key),
                "support_tickets": _tickets(deal["account_id"], closed, tickets),
            }
        )
    for lead in rejected:
        decided: datetime = lead["updated_at"]
        rows.append(
            {
                "deal_id": lead["id"],
                "account_id": lead["account_id"],
                "company_id": lead["company_id"],
                "rep": staff.get(lead["owner_id"], lead["owner_id"]),
                "closed_at": decided,
                "won": False,
                "source": "rejected lead",
                "amount": None,
                **_segment(lead),
                **_activity(lead["account_id"], None, decided, by_key),
                "support_tickets": _tickets(lead["account_id"], decided, tickets),
            }
        )
    return pl.DataFrame(rows, schema=SCHEMA).sort("closed_at")


def _segment(record: dict[str, Any]) -> dict[str, Any]:
    size = record.get("size_band")
    return {
        "nace": record.get("nace"),
        "size_band": BASE_SIZE.get(str(size), size),
        "region": record.get("region"),
        "country": record.get("country"),
    }


SCHEMA: dict[str, pl.DataType] = {
    "deal_id": pl.String(),
    "account_id": pl.String(),
    "company_id": pl.Int64(),
    "rep": pl.String(),
    "closed_at": pl.Datetime("us", "UTC"),
    "won": pl.Boolean(),
    "source": pl.String(),
    "amount": pl.Float64(),
    "nace": pl.String(),
    "size_band": pl.String(),
    "region": pl.String(),
    "country": pl.String(),
    **{f"days_{stage}": pl.Float64() for stage in STAGES},
    "days_in_pipeline": pl.Float64(),
    **{f"{kind}s": pl.Int64() for kind in CHANNELS},
    "interactions": pl.Int64(),
    "sentiment": pl.Float64(),
    "inbound_share": pl.Float64(),
    "payments": pl.Int64(),
    "late_payments": pl.Int64(),
    "support_tickets": pl.Int64(),
}
"""The columns of the CRM training set, in order."""
