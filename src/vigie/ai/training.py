"""The training set: one row per closed deal, built from the CRM's tables.

The model learns from the documented deal history shape (see `vigie.ai.history`). This module
assembles that shape from separate CRM tables, as the CRM part stores them:

- `deals`: `deal_id`, `company_id`, `rep`, `closed_at`, `won`;
- `accounts`: `company_id` and the prospect columns (`vigie.ai.prospects.FEATURES`);
- optional activity tables, each with `company_id` and a timestamp column `at`:
  `interactions` (one row per e-mail, call or meeting, with a boolean `replied` when known),
  `tickets` (one row per support ticket) and `payments` (one row per invoice paid, with
  `days_late`).

Activity counts only what happened before the deal closed, so that the model never learns
from the future (no leakage from after the outcome).
"""

from __future__ import annotations

import polars as pl

DEAL_COLUMNS = ("deal_id", "company_id", "rep", "closed_at", "won")


def _before_close(deals: pl.DataFrame, activity: pl.DataFrame, name: str) -> pl.DataFrame:
    missing = [c for c in ("company_id", "at") if c not in activity.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}")
    return (
        deals.select("deal_id", "company_id", "closed_at")
        .join(activity, on="company_id", how="inner")
        .filter(pl.col("at").cast(pl.Datetime("us")) < pl.col("closed_at").cast(pl.Datetime("us")))
    )


def build_training_set(
    deals: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    interactions: pl.DataFrame | None = None,
    tickets: pl.DataFrame | None = None,
    payments: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Join deals with their accounts and with activity aggregated up to each deal's close."""
    missing = [c for c in DEAL_COLUMNS if c not in deals.columns]
    if missing:
        raise ValueError(f"deals table lacks column(s) {missing}")
    if "company_id" not in accounts.columns:
        raise ValueError("accounts table lacks column 'company_id'")
    frame = deals.select(DEAL_COLUMNS).join(accounts, on="company_id", how="left")
    if interactions is not None:
        replied = (
            pl.col("replied").cast(pl.Float64).mean()
            if "replied" in interactions.columns
            else pl.lit(None, dtype=pl.Float64)
        )
        per_deal = (
            _before_close(deals, interactions, "interactions")
            .group_by("deal_id")
            .agg(interactions=pl.len(), email_reply_rate=replied)
        )
        frame = frame.join(per_deal, on="deal_id", how="left").with_columns(
            pl.col("interactions").fill_null(0)
        )
    if tickets is not None:
        per_deal = (
            _before_close(deals, tickets, "tickets")
            .group_by("deal_id")
            .agg(support_tickets=pl.len())
        )
        frame = frame.join(per_deal, on="deal_id", how="left").with_columns(
            pl.col("support_tickets").fill_null(0)
        )
    if payments is not None:
        if "days_late" not in payments.columns:
            raise ValueError("payments table lacks column 'days_late'")
        per_deal = (
            _before_close(deals, payments, "payments")
            .group_by("deal_id")
            .agg(avg_days_late=pl.col("days_late").cast(pl.Float64).mean())
        )
        frame = frame.join(per_deal, on="deal_id", how="left")
    return frame.sort("closed_at")
