"""Lead runs kept on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from vigie.ai.runs import find_lead, lead_record, read_leads, read_summary, write_run
from vigie.ai.scoring import Scored


def test_run_round_trip(tmp_path: Path) -> None:
    """A written run reads back: leads by id with decoded factors, NaN as None, the summary."""
    leads = pl.DataFrame(
        {
            "company_id": [7, 8],
            "raw": [0.5, 0.4],
            "expected": [0.3, float("nan")],
            "due_at": [datetime(2026, 11, 30, 8, tzinfo=UTC), None],
            "factors": [[{"feature": "nace", "value": "47.11", "contribution": 0.4}], []],
        }
    )
    write_run(tmp_path, leads, Scored(rows=10, scored=2), extra={"model": "v0001"})
    back = read_leads(tmp_path)
    assert "raw" not in back.columns
    lead = find_lead(back, 8)
    assert lead is not None and lead["expected"] is None and lead["factors"] == []
    assert lead_record(back.row(0, named=True))["due_at"] == "2026-11-30T08:00:00+00:00"
    assert find_lead(back, 9) is None
    assert read_summary(tmp_path)["model"] == "v0001"


def test_missing_run_says_what_to_do(tmp_path: Path) -> None:
    """Reading a run that does not exist tells the user to score first."""
    with pytest.raises(FileNotFoundError, match="vigie leads score"):
        read_leads(tmp_path)
