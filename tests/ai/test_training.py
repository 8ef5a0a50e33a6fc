"""The training set built from separate CRM tables."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from vigie.ai.training import build_training_set


def crm() -> dict[str, pl.DataFrame]:
    deals = pl.DataFrame(
        {
            "deal_id": ["d1", "d2"],
            "company_id": [1, 2],
            "rep": ["Ann", "Bob"],
            "closed_at": [date(2026, 3, 1), date(2026, 5, 1)],
            "won": [True, False],
        }
    )
    accounts = pl.DataFrame({"company_id": [1, 2], "nace": ["47.11", "41.20"]})
    interactions = pl.DataFrame(
        {
            "company_id": [1, 1, 1, 2],
            "at": [
                datetime(2026, 1, 5),
                datetime(2026, 2, 1),
                datetime(2026, 4, 1),
                datetime(2026, 4, 2),
            ],
            "replied": [True, False, True, False],
        }
    )
    tickets = pl.DataFrame(
        {"company_id": [2, 2], "at": [datetime(2026, 1, 1), datetime(2026, 6, 1)]}
    )
    payments = pl.DataFrame(
        {
            "company_id": [1, 1],
            "at": [datetime(2026, 1, 1), datetime(2026, 9, 1)],
            "days_late": [2, 60],
        }
    )
    return {
        "deals": deals,
        "accounts": accounts,
        "interactions": interactions,
        "tickets": tickets,
        "payments": payments,
    }


def test_activity_counts_only_before_the_close() -> None:
    """Interactions, tickets and payments after a deal closed do not leak into its row."""
    t = crm()
    frame = build_training_set(
        t["deals"],
        t["accounts"],
        interactions=t["interactions"],
        tickets=t["tickets"],
        payments=t["payments"],
    )
    d1 = frame.filter(pl.col("deal_id") == "d1").row(0, named=True)
    d2 = frame.filter(pl.col("deal_id") == "d2").row(0, named=True)
    assert d1["interactions"] == 2 and d1["email_reply_rate"] == 0.5
    assert d1["avg_days_late"] == 2.0 and d1["support_tickets"] == 0
    assert d2["interactions"] == 1 and d2["support_tickets"] == 1
    assert d2["avg_days_late"] is None
    assert d1["nace"] == "47.11"


def test_missing_columns_are_named() -> None:
    """A deals table without its outcome names the missing column."""
    t = crm()
    with pytest.raises(ValueError, match="won"):
        build_training_set(t["deals"].drop("won"), t["accounts"])
