"""Model versions and which one is active: a promotion gate, explicit promotion, rollback.

A newly trained model is saved as the next version but replaces the active one only if it is
not worse on the same recent holdout: both are scored on the newest rows of the data the new
one was trained on (its own test period, which its held-out model never saw), and the new one
must reach the active one's AUC less `tolerance`. Otherwise the active model stays and the new
version waits for `vigie leads promote VERSION`. Every change of the active version is kept in
`models/active.json` with when, how and why, which is what `rollback` walks back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from vigie.ai.models import Model, load

ACTIVE_FILE = "active.json"
GATE_FILE = "gate.json"


def _versions(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("v[0-9]*") if (p / "model.json").exists())


def registry(root: Path) -> dict[str, Any]:
    """The record of activations: {"version": active, "history": [...]} (empty when none)."""
    path = root / ACTIVE_FILE
    if not path.exists():
        return {"version": None, "history": []}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def active_version(root: Path) -> str | None:
    """The active version: the last one activated, else (an installation from before the
    gate) the newest one; None without any model."""
    version = registry(root).get("version")
    if version and (root / version / "model.json").exists():
        return str(version)
    found = _versions(root)
    return found[-1].name if found else None


def activate(root: Path, version: str, *, how: str, reason: str, at: datetime) -> None:
    """Make `version` the active model, keeping the change in the history."""
    if not (root / version / "model.json").exists():
        known = ", ".join(p.name for p in _versions(root)) or "none"
        raise ValueError(f"no model version {version!r} under {root} (versions: {known})")
    data = registry(root)
    data["version"] = version
    data["history"].append({"version": version, "how": how, "reason": reason, "at": at.isoformat()})
    (root / ACTIVE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")


def rollback(root: Path, *, at: datetime) -> str:
    """Reactivate the version that was active before the current one; return it."""
    data = registry(root)
    current = active_version(root)
    earlier = [h["version"] for h in data["history"] if h["version"] != current]
    if not earlier:
        raise ValueError("no earlier active version to roll back to")
    previous = str(earlier[-1])
    activate(root, previous, how="rollback", reason=f"rolled back from {current}", at=at)
    return previous


def listing(root: Path) -> list[dict[str, Any]]:
    """Every version, oldest first: when trained, its test metrics, its gate, whether active."""
    active = active_version(root)
    out = []
    for path in _versions(root):
        card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        gate = path / GATE_FILE
        metrics = card.get("metrics", {})
        out.append(
            {
                "version": path.name,
                "trained_at": card.get("trained_at"),
                "source": card.get("source"),
                "auc": metrics.get("auc"),
                "log_loss": metrics.get("log_loss"),
                "active": path.name == active,
                "gate": json.loads(gate.read_text(encoding="utf-8")) if gate.exists() else None,
            }
        )
    return out


def holdout_metrics(model: Model, frame: pl.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """AUC and log-loss of `model` on `frame` (rows of the holdout) against outcomes `y`."""
    from sklearn.metrics import log_loss, roc_auc_score

    missing = [name for name in model.encoder.names if name not in frame.columns]
    p = np.clip(model.predict(model.encoder.matrix(frame)), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "rows": len(y),
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4) if len(y) else None,
        "missing_columns": missing,
    }


def _incumbent(root: Path, candidate: str) -> str | None:
    """The version the candidate must beat: the active one, or (before any activation was
    recorded) the newest other version."""
    version = registry(root).get("version")
    if version and version != candidate and (root / version / "model.json").exists():
        return str(version)
    if version == candidate:
        return None
    others = [p.name for p in _versions(root) if p.name != candidate]
    return others[-1] if others else None


@dataclass(frozen=True)
class GateDecision:
    """Whether a new version became active, against which one, on which rows, and why."""

    candidate: str
    incumbent: str | None
    promoted: bool
    reason: str
    reason_fr: str
    candidate_metrics: dict[str, Any]
    incumbent_metrics: dict[str, Any] | None
    holdout: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(
    root: Path,
    candidate: Model,
    holdout: pl.DataFrame,
    y: np.ndarray,
    *,
    at: datetime,
    tolerance: float = 0.0,
    holdout_label: str = "",
) -> GateDecision:
    """Activate the saved `candidate` if it is not worse than the active model on `holdout`.

    Each side is judged by its held-out model (before the refit on every row, which saw
    the holdout): the gate compares what each training would have predicted on rows it
    had not seen. The first model is activated as it is. An active model that lacks some of
    the holdout's columns cannot be compared fairly: the new version then waits for an
    explicit promotion.
    """
    if candidate.path is None:
        raise ValueError("save the candidate before gating it")
    name = candidate.path.name
    incumbent_name = _incumbent(root, name)
    ours = holdout_metrics(candidate.held_out or candidate, holdout, y)
    theirs: dict[str, Any] | None = None
    if incumbent_name is None:
        promoted, reason = True, "first model: nothing to compare with"
        reason_fr = "premier modèle : rien à comparer"
    else:
        incumbent = load(root / incumbent_name)
        theirs = holdout_metrics(incumbent.held_out or incumbent, holdout, y)
        if theirs["missing_columns"]:
            promoted = False
            columns = ", ".join(theirs["missing_columns"])
            reason = (
                f"{incumbent_name} lacks column(s) {columns} of this data, so the two cannot "
                "be compared: promote explicitly if intended"
            )
            reason_fr = (
                f"{incumbent_name} n'a pas la ou les colonnes {columns} de ces données : "
                "comparaison impossible, activez à la main si c'est voulu"
            )
        elif ours["auc"] is None or theirs["auc"] is None:
            promoted, reason = False, "the holdout has one outcome only: no AUC to compare"
            reason_fr = "l'échantillon de contrôle n'a qu'une seule issue : pas d'AUC à comparer"
        elif ours["auc"] + tolerance >= theirs["auc"]:
            promoted = True
            reason = f"AUC {ours['auc']} vs {theirs['auc']} for {incumbent_name}: not worse"
            reason_fr = (
                f"AUC {ours['auc']} contre {theirs['auc']} pour {incumbent_name} : pas moins bon"
            )
        else:
            promoted = False
            reason = (
                f"AUC {ours['auc']} vs {theirs['auc']} for {incumbent_name}: worse, "
                f"{incumbent_name} stays active"
            )
            reason_fr = (
                f"AUC {ours['auc']} contre {theirs['auc']} pour {incumbent_name} : moins bon, "
                f"{incumbent_name} reste actif"
            )
    decision = GateDecision(
        candidate=name,
        incumbent=incumbent_name,
        promoted=promoted,
        reason=reason,
        reason_fr=reason_fr,
        candidate_metrics=ours,
        incumbent_metrics=theirs,
        holdout=holdout_label,
    )
    (candidate.path / GATE_FILE).write_text(json.dumps(decision.to_dict(), indent=2), "utf-8")
    if promoted:
        activate(root, name, how="gate", reason=reason, at=at)
    elif incumbent_name is not None and registry(root).get("version") is None:
        # Before any recorded activation the newest version is loaded: record the incumbent
        # so that the candidate, now the newest, does not become active by default.
        activate(root, incumbent_name, how="gate", reason=f"kept: {reason}", at=at)
    return decision


def recent_holdout(
    frame: pl.DataFrame,
    *,
    target: str,
    time_column: str | None,
    positive: str | None,
    seed: int,
) -> tuple[pl.DataFrame, np.ndarray, str]:
    """The rows a model trained on `frame` was tested on (its most recent period with a
    time column, its random test slice without), their outcomes, and a label saying which."""
    from vigie.ai.features import split_rows, target_vector

    y = target_vector(frame[target], positive=positive)
    split = split_rows(frame, y, time_column=time_column, seed=seed)
    window = split.window
    label = (
        f"{len(split.test)} most recent rows ({window.get('test_from')} → {window.get('test_to')})"
        if window
        else f"{len(split.test)} held-out rows ({split.method})"
    )
    return frame[split.test], y[split.test], label
