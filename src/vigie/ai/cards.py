"""A model card as the dashboard shows it: what a manager needs to trust the active model.

Read from a version's `card.json` (no model library loaded): when it was trained, which
candidate the data chose, its held-out AUC beside the naive baseline's, its calibration,
the shift warning, whether it was refit on every row, and the four-fifths check of the latest
lead run scored with it (the bias report's summary), when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from vigie.ai import fairness
from vigie.ai.runs import read_leads, read_summary

GROUPS = ("nace", "region", "size_band", "country")
"""The columns the bias report checks (as `vigie leads report` does)."""
HELD_OUT = (
    "rows", "auc", "auc_ci", "ece", "mean_predicted", "positive_rate", "log_loss",
    "top_decile_lift",
)  # fmt: skip


def bias(summary: dict[str, Any], leads: pl.DataFrame) -> dict[str, Any]:
    """Per column, the groups whose selection rate is below four fifths of the best group's."""
    columns: list[dict[str, Any]] = []
    flagged = 0
    for column in GROUPS:
        base = {g: sum(h) for g, h in (summary.get("groups") or {}).get(column, {}).items()}
        if not base:
            continue
        selected: dict[str, int] = {}
        if column in leads.columns and leads.height:
            table = leads.group_by(pl.col(column).cast(pl.String)).len()
            selected = {str(k): int(v) for k, v in table.iter_rows()}
        rates = fairness.selection_rates(base, selected)
        flagged += sum(r.flagged for r in rates)
        columns.append(
            {
                "column": column,
                "groups": len(rates),
                "flagged": [
                    {"group": r.group, "ratio_to_best": round(r.ratio_to_best, 3)}
                    for r in rates
                    if r.flagged
                ],
            }
        )
    return {
        "run_at": summary.get("run_at"),
        "leads": leads.height,
        "flagged": flagged,
        "columns": columns,
    }


def card_view(root: Path, version: str, run_dir: Path) -> dict[str, Any]:
    """The card of `version` under `root`, with the bias summary of the latest run in
    `run_dir` when that run was scored with this version (else `bias` is None)."""
    path = root / version / "card.json"
    if not path.exists():
        raise FileNotFoundError(f"no model card for {version!r} under {root}")
    card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    metrics = card.get("metrics") or {}
    naive = card.get("naive") or {}
    shift = card.get("shift") or {}
    refit = card.get("refit") or {}
    report = None
    try:
        summary = read_summary(run_dir)
        if summary.get("model") == version:
            report = bias(summary, read_leads(run_dir))
    except FileNotFoundError:
        pass
    return {
        "version": version,
        "trained_at": card.get("trained_at"),
        "model": card.get("model"),
        "algorithm": card.get("algorithm"),
        "selection": card.get("selection"),
        "split": card.get("split"),
        "window": card.get("window") or {},
        "rows": card.get("rows") or {},
        "target": card.get("target"),
        "held_out": {key: metrics.get(key) for key in HELD_OUT},
        "naive_auc": naive.get("auc"),
        "naive_ece": naive.get("ece"),
        "candidates": [
            {
                "name": c.get("name"),
                "auc": (c.get("test") or {}).get("auc"),
                "ece": (c.get("test") or {}).get("ece"),
            }
            for c in card.get("candidates") or []
        ],
        "calibration": metrics.get("calibration") or [],
        "shift": {
            "shifted": bool(shift.get("shifted")),
            "warning": shift.get("warning"),
            "features": (shift.get("features") or [])[:5],
        },
        "refit": {
            "done": bool(refit.get("done")),
            "rows": refit.get("rows"),
            "through": refit.get("through"),
            "calibration": refit.get("calibration"),
            "calibration_fr": refit.get("calibration_fr"),
        },
        "context": card.get("context") or [],
        "bias": report,
    }
