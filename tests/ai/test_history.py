"""The synthetic CRM history: outcomes that depend on the features, noisily."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from vigie.ai.history import CRM_COLUMNS, history_for_base, rep_strengths
from vigie.ai.prospects import FEATURES


def test_history_has_documented_columns() -> None:
    """Every deal carries its rep, date, outcome, account attributes and CRM behaviour."""
    deals = history_for_base(first_partition_rows=3000, seed=1, deals=1000, end=date(2026, 6, 1))
    for column in ["deal_id", "company_id", "rep", "closed_at", "won", *FEATURES, *CRM_COLUMNS]:
        assert column in deals.columns
    assert deals["closed_at"].max() <= date(2026, 6, 1)
    assert 0.05 < deals["won"].mean() < 0.5


def test_outcome_depends_on_features() -> None:
    """Companies with a website and a CRM win more often than those with neither."""
    deals = history_for_base(first_partition_rows=40000, seed=2, deals=20000, end=date(2026, 6, 1))
    equipped = deals.filter(pl.col("has_website") & pl.col("uses_crm"))["won"].mean()
    bare = deals.filter(~pl.col("has_website") & ~pl.col("uses_crm"))["won"].mean()
    assert equipped > bare * 1.3


def test_reps_have_specialities() -> None:
    """Each rep is clearly better in two or three sectors than in the rest."""
    strengths = rep_strengths(8, seed=4)
    top = np.sort(strengths, axis=1)[:, -2:]
    assert (top.mean(axis=1) - np.median(strengths, axis=1) > 0.4).all()
