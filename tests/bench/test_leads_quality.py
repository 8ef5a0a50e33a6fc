"""`vigie bench leads-quality` at a small size: both scenarios, every figure, JSON last."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vigie.cli import app


def test_bench_leads_quality_prints_both_scenarios() -> None:
    """The regime change is flagged and the control is not; each scenario has Vigie's and the
    baselines' test AUC and Vigie's calibration error."""
    result = CliRunner().invoke(app, ["bench", "leads-quality", "--rows", "8000", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    shifted, stationary = figures["scenarios"]
    assert shifted["scenario"] == "regime change" and stationary["scenario"] == "stationary"
    for scenario in (shifted, stationary):
        assert scenario["test_rows"] == 1600
        assert 0.5 < scenario["onehot_logistic"] < 1 and 0.5 < scenario["default_lightgbm"] < 1
        assert scenario["vigie_auc_ci"][0] < scenario["vigie_auc"] < scenario["vigie_auc_ci"][1]
        assert 0 <= scenario["vigie_ece"] < scenario["naive_ece"] + 0.05
    assert shifted["shift_flagged"] and not stationary["shift_flagged"]
    assert shifted["naive_ece"] > 0.1
