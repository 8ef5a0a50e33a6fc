"""The conversion model: LightGBM, isotonic calibration, metrics and a versioned model card.

A model directory (`models/v0003/`) holds `model.txt` (LightGBM's own text format),
`model.json` (features, calibration, training window, reference distributions) and the
model card as `card.json` and `card.md`. Nothing is pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from vigie.ai.features import Encoder, Split, detect_features, split_rows, target_vector

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 20.0,
    "cat_l2": 10.0,
    "max_cat_to_onehot": 8,
    "verbose": -1,
    "num_threads": 2,
}
MAX_ROUNDS = 400


@dataclass
class Calibration:
    """Isotonic map from the booster's raw probability to an observed frequency."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if len(self.x) == 0:
            return raw
        return np.asarray(np.interp(raw, self.x, self.y))


@dataclass
class Model:
    """A trained, calibrated conversion model and what is known about it."""

    booster: lgb.Booster
    encoder: Encoder
    calibration: Calibration
    card: dict[str, Any]
    reference: dict[str, Any]
    path: Path | None = None

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unsaved"))

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, num_threads=PARAMS["num_threads"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of conversion for the rows of an encoded matrix."""
        return self.calibration(self.raw(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions (log-odds, LightGBM pred_contrib); last column is the bias."""
        return np.asarray(self.booster.predict(x, pred_contrib=True))


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, log-loss, Brier score, calibration by decile of prediction and top-decile lift."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    both = len(np.unique(y)) == 2
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, len(p) // 10)]
    base = float(y.mean()) if len(y) else float("nan")
    bins = []
    edges = np.quantile(p, np.linspace(0, 1, 11)) if len(p) else np.array([])
    for lo, hi in pairwise(edges):
        inside = (p >= lo) & (p <= hi)
        if inside.any():
            bins.append(
                {
                    "predicted": round(float(p[inside].mean()), 4),
                    "observed": round(float(y[inside].mean()), 4),
                    "count": int(inside.sum()),
                }
            )
    return {
        "rows": len(y),
        "positive_rate": round(base, 4),
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "log_loss": round(float(log_loss(y, clipped, labels=[0, 1])), 4) if len(y) else None,
        "brier": round(float(brier_score_loss(y, p)), 4) if len(y) else None,
        "top_decile_lift": round(float(y[top].mean()) / base, 3) if base > 0 else None,
        "calibration": bins,
    }


def reference_of(encoder: Encoder, x: np.ndarray) -> dict[str, Any]:
    """Each feature's distribution in the training data, the baseline of drift (PSI)."""
    reference: dict[str, Any] = {}
    for j, feature in enumerate(encoder.features):
        column = x[:, j]
        if feature.kind == "categorical":
            counts = np.bincount(
                np.nan_to_num(column, nan=len(feature.categories)).astype(np.int64),
                minlength=len(feature.categories) + 1,
            )
            reference[feature.name] = {"kind": "categorical", "counts": counts.tolist()}
        else:
            finite = column[np.isfinite(column)]
            edges: list[float] = (
                np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))).tolist()
                if len(finite)
                else []
            )
            reference[feature.name] = {
                "kind": "numeric",
                "edges": [float(e) for e in edges],
                "counts": histogram(column, list(edges)).tolist(),
            }
    return reference


def histogram(column: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts of a numeric column between `edges`, missing values in a last bin."""
    finite = np.isfinite(column)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), column[finite], side="right"),
        minlength=len(edges) + 1,
    )
    return np.append(counts, int((~finite).sum()))


STAGES = ("features", "training", "calibration", "evaluation")
"""The stages of `train`, in order (for a progress bar)."""


def train(
    frame: pl.DataFrame,
    *,
    target: str,
    time_column: str | None = None,
    features: list[str] | None = None,
    exclude: frozenset[str] = frozenset(),
    positive: str | None = None,
    seed: int = 0,
    source: str = "",
    stage: Callable[[str], None] | None = None,
) -> Model:
    """Learn a calibrated conversion model from a table with one outcome per row.

    `features` restricts the columns learnt from (default: all but target, time column and
    `exclude`). With `time_column` the model is trained on the past, calibrated on the
    recent past and evaluated on the most recent period; without it the split is random
    and stratified. `stage` is told when each of the `STAGES` begins.
    """
    tell = stage or (lambda _name: None)
    tell("features")
    if target not in frame.columns:
        raise ValueError(f"--target {target!r} is not a column; columns: {frame.columns}")
    y = target_vector(frame[target], positive=positive)
    if y.sum() < 5 or (len(y) - y.sum()) < 5:
        raise ValueError(f"target {target!r}: at least 5 positive and 5 negative rows needed")
    excluded = {target, *exclude} | ({time_column} if time_column else set())
    encoder = detect_features(frame, exclude=excluded, allowed=features)
    split = split_rows(frame, y, time_column=time_column, seed=seed)
    x = encoder.matrix(frame)
    tell("training")
    booster = _fit(x, y, encoder, split, seed)
    tell("calibration")
    raw_cal = np.asarray(booster.predict(x[split.calibration]))
    calibration = _calibrate(raw_cal, y[split.calibration])
    model = Model(
        booster=booster,
        encoder=encoder,
        calibration=calibration,
        card={},
        reference=reference_of(encoder, x[split.train]),
    )
    tell("evaluation")
    test_p = model.predict(x[split.test])
    model.card = _card(model, frame, y, split, test_p, target, time_column, source)
    return model


def _fit(x: np.ndarray, y: np.ndarray, encoder: Encoder, split: Split, seed: int) -> lgb.Booster:
    # A small history (a few hundred deals) still gets trees: leaves need 40 rows at most.
    min_leaf = int(min(PARAMS["min_data_in_leaf"], max(5, len(split.train) // 50)))
    params = {**PARAMS, "seed": seed, "min_data_in_leaf": min_leaf}
    train_set = lgb.Dataset(
        x[split.train],
        y[split.train],
        feature_name=encoder.names,
        categorical_feature=encoder.categorical_indices,
        free_raw_data=False,
    )
    valid = lgb.Dataset(x[split.calibration], y[split.calibration], reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )


ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_POSITIVES = 50


def _calibrate(raw: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic regression on a large enough slice, Platt's sigmoid on a small one.

    Isotonic regression overfits the extremes of a small slice (a top bin of only wins
    would read as certainty), as scikit-learn's guide warns; both are kept as a monotone
    piecewise-linear map so that applying them is one `np.interp`.
    """
    if len(y) >= ISOTONIC_MIN_ROWS and y.sum() >= ISOTONIC_MIN_POSITIVES:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibration(
            x=np.asarray(iso.X_thresholds_, dtype=np.float64),
            y=np.asarray(iso.y_thresholds_, dtype=np.float64),
        )
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e4).fit(logit(raw)[:, None], y)
    grid = np.concatenate([[0.0], np.quantile(raw, np.linspace(0, 1, 101)), [1.0]])
    grid = np.unique(grid)
    return Calibration(x=grid, y=platt.predict_proba(logit(grid)[:, None])[:, 1])


def importance(model: Model) -> dict[str, float]:
    """Each feature's share of the model's total gain."""
    gain = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = gain.sum() or 1.0
    return {
        name: round(float(g / total), 4) for name, g in zip(model.encoder.names, gain, strict=True)
    }


def _card(
    model: Model,
    frame: pl.DataFrame,
    y: np.ndarray,
    split: Split,
    test_p: np.ndarray,
    target: str,
    time_column: str | None,
    source: str,
) -> dict[str, Any]:
    return {
        "version": "unsaved",
        "algorithm": (
            "LightGBM gradient-boosted trees, calibrated on a held-out slice "
            "(isotonic, or Platt on a small slice)"
        ),
        "source": source,
        "target": target,
        "time_column": time_column,
        "split": split.method,
        "window": split.window,
        "rows": {
            "total": frame.height,
            "train": len(split.train),
            "calibration": len(split.calibration),
            "test": len(split.test),
        },
        "positive_rate": round(float(y.mean()), 4),
        "trees": model.booster.num_trees(),
        "features": model.encoder.to_list(),
        "importance": importance(model),
        "metrics": metrics(y[split.test], test_p),
        "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown, in English and French."""
    m = card["metrics"]
    rows = card["rows"]
    window = card.get("window") or {}
    top = sorted(card["importance"].items(), key=lambda kv: -kv[1])[:8]
    lines = [
        f"# Model card / Fiche du modèle — {card['version']}",
        "",
        f"- Algorithm / Algorithme: {card['algorithm']}",
        f"- Target / Cible: `{card['target']}` (positive rate / taux positif "
        f"{card['positive_rate']:.1%})",
        f"- Data / Données: {card.get('source') or '-'}; {rows['total']} rows / lignes "
        f"(train {rows['train']}, calibration {rows['calibration']}, test {rows['test']})",
        f"- Split / Découpage: {card['split']}"
        + (
            f" — train {window['train_from']} → {window['train_to']}, "
            f"test {window['test_from']} → {window['test_to']}"
            if window
            else ""
        ),
        f"- Trained at / Entraîné le: {card.get('trained_at', '-')}",
        "",
        "## Metrics on the most recent period / Mesures sur la période la plus récente",
        "",
        "| metric / mesure | value / valeur |",
        "|---|---|",
        f"| AUC | {m['auc']} |",
        f"| log-loss | {m['log_loss']} |",
        f"| Brier | {m['brier']} |",
        f"| top-decile lift / lift du premier décile | {m['top_decile_lift']} |",
        "",
        "## Calibration",
        "",
        "| predicted / prédit | observed / observé | rows / lignes |",
        "|---|---|---|",
        *[
            f"| {b['predicted']:.3f} | {b['observed']:.3f} | {b['count']} |"
            for b in m["calibration"]
        ],
        "",
        "## Most important features / Variables les plus importantes",
        "",
        *[f"- `{name}`: {share:.1%}" for name, share in top],
        "",
        "## Use and limits / Usage et limites",
        "",
        "Scores rank prospects for a salesperson's attention; they are not a decision about a "
        "person. Prospects without a legal basis for contact are never scored. / Les scores "
        "ordonnent les prospects pour l'attention d'un commercial ; ce ne sont pas des décisions "
        "sur une personne. Les prospects sans base légale de contact ne sont jamais notés.",
        "",
    ]
    return "\n".join(lines)


def save(model: Model, root: Path, *, trained_at: datetime) -> Path:
    """Write `model` as the next version under `root` and return its directory."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[1:]) for p in root.glob("v[0-9]*") if p.name[1:].isdigit()]
    version = f"v{max(numbers, default=0) + 1:04d}"
    path = root / version
    path.mkdir()
    model.card["version"] = version
    model.card["trained_at"] = trained_at.isoformat()
    model.booster.save_model(str(path / "model.txt"))
    meta = {
        "version": version,
        "features": model.encoder.to_list(),
        "calibration": {"x": model.calibration.x.tolist(), "y": model.calibration.y.tolist()},
        "reference": model.reference,
    }
    (path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    (path / "card.json").write_text(json.dumps(model.card, indent=2), encoding="utf-8")
    (path / "card.md").write_text(card_markdown(model.card), encoding="utf-8")
    model.path = path
    return path


def resolve(path: Path) -> Path:
    """A model directory, or inside a models root the active version (`active.json`, kept
    by `vigie.ai.versions`), else the newest."""
    if (path / "model.txt").exists():
        return path
    active = path / "active.json"
    if active.exists():
        version = str(json.loads(active.read_text(encoding="utf-8")).get("version") or "")
        if version and (path / version / "model.txt").exists():
            return path / version
    versions = sorted(p for p in path.glob("v[0-9]*") if (p / "model.txt").exists())
    if not versions:
        raise FileNotFoundError(f"{path}: no trained model; run `vigie leads train` first")
    return versions[-1]


def load(path: Path) -> Model:
    """Load a saved model (a version directory, or a models root: its active version)."""
    path = resolve(path)
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    return Model(
        booster=lgb.Booster(model_file=str(path / "model.txt")),
        encoder=Encoder.from_list(meta["features"]),
        calibration=Calibration(
            x=np.asarray(meta["calibration"]["x"]), y=np.asarray(meta["calibration"]["y"])
        ),
        card=card,
        reference=meta["reference"],
        path=path,
    )


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(clipped / (1 - clipped)))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))
