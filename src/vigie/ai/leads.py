"""A lead run: score the base, rank it, explain the best, assign them, and keep the result.

A run directory holds `leads.parquet` (the top leads with score, factors, rep, reason and
due time) and `summary.json` (counts, exclusions by reason, score distributions by group,
drift sample, the model version and the ideal customer profile), read by the bias report,
`vigie leads explain` and the `/api/leads` endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from vigie.ai import affinity as affinity_mod
from vigie.ai.assignment import assign
from vigie.ai.models import Model
from vigie.ai.prospects import partitions
from vigie.ai.reps import Rep
from vigie.ai.scoring import Scored, factors, score_base

LEADS_FILE = "leads.parquet"
SUMMARY_FILE = "summary.json"


def customer_ids(history: pl.DataFrame | None, *, won: str = "won") -> np.ndarray:
    """Company ids of existing customers: accounts with a won deal."""
    if history is None or "company_id" not in history.columns or won not in history.columns:
        return np.array([], dtype=np.int64)
    return np.unique(
        history.filter(pl.col(won).cast(pl.Boolean))["company_id"].cast(pl.Int64).to_numpy()
    )


def run_leads(
    *,
    base: Path,
    model: Model,
    history: pl.DataFrame,
    reps: list[Rep],
    now: datetime,
    top_k: int,
    engine: str = "local",
    scheduler: str | None = None,
    on_partition: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, Scored]:
    """Score every prospect, keep the `top_k` best, explain them and assign them to `reps`."""
    step = on_step or (lambda _name: None)
    scored = score_base(
        partitions(base),
        model,
        customers=customer_ids(history),
        top_k=top_k,
        engine=engine,
        scheduler=scheduler,
        on_partition=on_partition,
    )
    step("explain")
    top = scored.top.with_row_index("rank", offset=1)
    top = top.with_columns(factors(model, top))
    step("assign")
    fitted = affinity_mod.estimate(history)
    leads = assign(top, reps, fitted, now=now)
    return leads, scored


def write_run(out: Path, leads: pl.DataFrame, scored: Scored, *, extra: dict[str, Any]) -> None:
    """Keep a run in `out` (leads.parquet and summary.json)."""
    out.mkdir(parents=True, exist_ok=True)
    leads.drop("raw").write_parquet(out / LEADS_FILE)
    summary = {**scored.to_json(), **extra}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, ensure_ascii=False, default=str))


def read_leads(out: Path) -> pl.DataFrame:
    """The leads of the run kept in `out`."""
    path = out / LEADS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no lead run yet; run `vigie leads score` first")
    return pl.read_parquet(path)


def read_summary(out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
    return summary


def lead_record(row: dict[str, Any]) -> dict[str, Any]:
    """One lead as plain JSON-ready data, factors decoded."""
    record = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    record["factors"] = list(row.get("factors") or [])
    for key, value in list(record.items()):
        if isinstance(value, float) and value != value:
            record[key] = None
    return record


def find_lead(leads: pl.DataFrame, company_id: int) -> dict[str, Any] | None:
    """The lead of `company_id`, or None."""
    match = leads.filter(pl.col("company_id") == company_id)
    return lead_record(match.row(0, named=True)) if match.height else None


def todays_leads(
    leads: pl.DataFrame, reps: list[Rep], *, now: datetime, lang: str = "en"
) -> dict[str, list[dict[str, Any]]]:
    """Each rep's leads for today, best expected conversion first, with the reason.

    A rep gets at most their capacity; leads are due at the rep's next working time.
    """
    proposals: dict[str, list[dict[str, Any]]] = {}
    reason = "reason_fr" if lang == "fr" else "reason_en"
    for rep in reps:
        mine = (
            leads.filter(pl.col("rep") == rep.name)
            .sort("expected", descending=True)
            .head(rep.capacity)
        )
        due = rep.next_working_time(now).isoformat()
        proposals[rep.name] = [
            {
                "company_id": row["company_id"],
                "name": row["name"],
                "score": row["score"],
                "expected": round(float(row["expected"]), 4),
                "due_at": due,
                "reason": row[reason],
            }
            for row in mine.iter_rows(named=True)
        ]
    return proposals
