"""Lead runs on disk, read by the bias report, `vigie leads explain` and `/api/leads`.

A run directory holds `leads.parquet` (the top leads with score, factors, rep, reason and
due time) and `summary.json` (counts, exclusions by reason, score distributions by group,
drift sample, the model version and the ideal customer profile). This module stays light
(no model library) so that the web app can import it cheaply.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from vigie.ai.scoring import Scored

LEADS_FILE = "leads.parquet"
SUMMARY_FILE = "summary.json"
SCORED_FILE = "scored.parquet"
"""The rows of the last `vigie leads score --input FILE`, each with its score and factors."""


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


def write_scored(out: Path, scored: pl.DataFrame) -> Path:
    """Keep the last scored file's rows in `out` (for `vigie leads explain --row`)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / SCORED_FILE
    scored.write_parquet(path)
    return path


def find_scored_row(out: Path, row: int) -> dict[str, Any] | None:
    """Row `row` (from 1) of the last scored file, or None when out of range."""
    path = out / SCORED_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no scored file yet; run `vigie leads score --input FILE`")
    match = pl.scan_parquet(path).filter(pl.col("row") == row).collect()
    return lead_record(match.row(0, named=True)) if match.height else None
