"""Watching live scores: how far each lead run's scores and inputs moved, as events for rules.

The first run scored by a model version keeps its score distribution as that version's live
baseline (`models/vNNNN/live.json`); every later run is compared with it (the population
stability index of the 0-100 scores, and of each input against the training data). The result
goes into the run's summary and, as a `Lead Scores Checked` event, into the event log, where
the catalogue's `lead_score_drift` metric and `lead-score-drift` rule raise an alert when the
scores shift (PSI at or above 0.25) like any other KPI.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigie.ai.config import SOURCE
from vigie.ai.drift import level, psi
from vigie.events import Event

if TYPE_CHECKING:
    from vigie.ai.models import Model

LIVE_FILE = "live.json"
EVENT = "Lead Scores Checked"
__all__ = ["EVENT", "LIVE_FILE", "SOURCE", "check", "drift_event", "record", "score_histogram"]


def score_histogram(summary: dict[str, Any]) -> list[int]:
    """The run's scored prospects per score bin (summed over one grouping of the run)."""
    groups: dict[str, dict[str, list[int]]] = summary.get("groups") or {}
    for hist in groups.values():
        rows = list(hist.values())
        if rows:
            return [sum(column) for column in zip(*rows, strict=True)]
    return []


def check(model: Model, summary: dict[str, Any], *, at: datetime) -> dict[str, Any]:
    """Compare a run (its summary) with the model's live baseline and training inputs.

    The first run of a version becomes the baseline (PSI 0). Returns the scores' PSI and
    level, and each input's PSI against the training data, largest first.
    """
    scores = score_histogram(summary)
    baseline_path = model.path / LIVE_FILE if model.path is not None else None
    if baseline_path is not None and baseline_path.exists():
        baseline = json.loads(baseline_path.read_text(encoding="utf-8"))
    else:
        baseline = {"scores": scores, "at": at.isoformat(), "run_at": summary.get("run_at")}
        if baseline_path is not None and scores:
            baseline_path.write_text(json.dumps(baseline), encoding="utf-8")
    reference = baseline["scores"]
    score_psi = psi(reference, scores) if scores and len(reference) == len(scores) else 0.0
    features: dict[str, float] = {}
    for name, counts in (summary.get("drift") or {}).items():
        expected = (model.reference.get(name) or {}).get("counts")
        if expected and len(expected) == len(counts):
            features[name] = round(psi(expected, counts), 4)
    ranked = dict(sorted(features.items(), key=lambda kv: -kv[1]))
    return {
        "model": model.version,
        "baseline_at": baseline.get("at"),
        "psi": round(score_psi, 4),
        "level": level(score_psi),
        "features": ranked,
        "shifted": [name for name, value in ranked.items() if level(value) == "major"],
    }


def drift_event(result: dict[str, Any], *, at: datetime) -> Event:
    """The `Lead Scores Checked` event of one check, for the KPI engine and its rules."""
    return Event(
        message_id=uuid.uuid4().hex,
        type="track",
        source=SOURCE,
        event=EVENT,
        timestamp=at,
        received_at=at,
        properties={
            "psi": result["psi"],
            "level": result["level"],
            "model": result["model"],
            "feature_psi": max(result["features"].values(), default=0.0),
            "shifted": result["shifted"],
        },
    )


def record(out: Path, result: dict[str, Any]) -> None:
    """Add the check to the run's summary (`monitoring`)."""
    path = out / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary["monitoring"] = result
    path.write_text(json.dumps(summary, ensure_ascii=False, default=str), encoding="utf-8")
