"""Drift of the input distribution: the population stability index (PSI), the share of
values outside the training range, and a plain-words warning when top features shift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vigie.ai.features import Encoder, Feature

MODERATE = 0.1
MAJOR = 0.25
OUTSIDE = 0.05
"""A share of values outside the training range from which a feature counts as shifted."""
TOP = 5
"""How many of the most important features the warning watches (and any above `WATCHED`)."""
WATCHED = 0.1
"""An importance share from which a feature is watched whatever its rank."""


def psi(expected: Sequence[float], actual: Sequence[float], *, floor: float = 1e-4) -> float:
    """PSI between two histograms over the same bins: sum((a - e) * ln(a / e)) of shares.

    Empty bins are floored at `floor` so that a category that appears or vanishes counts
    heavily instead of dividing by zero. Below 0.1 is stable, above 0.25 a major shift.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"histograms differ in bins: {e.shape} vs {a.shape}")
    if e.sum() == 0 or a.sum() == 0:
        return 0.0
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float) -> str:
    """'stable', 'moderate' or 'major'."""
    return "major" if value >= MAJOR else "moderate" if value >= MODERATE else "stable"


def histogram(column: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts of a numeric column between `edges`, missing values in a last bin."""
    finite = np.isfinite(column)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), column[finite], side="right"),
        minlength=len(edges) + 1,
    )
    return np.append(counts, int((~finite).sum()))


def counts_of(feature: Feature, column: np.ndarray, edges: list[float]) -> np.ndarray:
    """The histogram of an encoded column over a reference's bins."""
    if feature.kind == "categorical":
        codes = np.nan_to_num(column, nan=len(feature.categories)).astype(np.int64)
        return np.bincount(codes, minlength=len(feature.categories) + 1)
    return histogram(column, edges)


def outside_share(feature: Feature, train: np.ndarray, recent: np.ndarray) -> float:
    """Share of `recent` rows whose value never occurs in `train`: a number beyond the
    training minimum or maximum, or a category the training rows do not have."""
    if len(recent) == 0:
        return 0.0
    seen = train[np.isfinite(train)]
    now = recent[np.isfinite(recent)]
    if len(seen) == 0:
        return float(len(now) / len(recent))
    if feature.kind == "categorical":
        outside = ~np.isin(now, np.unique(seen))
    else:
        outside = (now < seen.min()) | (now > seen.max())
    return float(outside.sum() / len(recent))


def shift(
    encoder: Encoder,
    reference: Mapping[str, Any],
    train: np.ndarray,
    recent: np.ndarray,
    importance: Mapping[str, float],
) -> dict[str, Any]:
    """Per feature, PSI and share outside the training range between the training rows and
    the most recent period, most important first, with a warning when a top feature shifted.

    `importance` is each feature's weight in the scores of the most recent period."""
    rows: list[dict[str, Any]] = []
    for j, feature in enumerate(encoder.features):
        ref = reference[feature.name]
        now = counts_of(feature, recent[:, j], ref.get("edges", [])).tolist()
        value = psi(ref["counts"], now)
        rows.append(
            {
                "feature": feature.name,
                "importance": importance.get(feature.name, 0.0),
                "psi": round(value, 3),
                "level": level(value),
                "outside_share": round(outside_share(feature, train[:, j], recent[:, j]), 4),
            }
        )
    rows.sort(key=lambda r: -r["importance"])
    watched = [r for i, r in enumerate(rows) if i < TOP or r["importance"] >= WATCHED]
    shifted = [r for r in watched if r["level"] == "major" or r["outside_share"] >= OUTSIDE]
    return {
        "features": rows,
        "shifted": [r["feature"] for r in shifted],
        "warning": warning(shifted),
    }


def warning(shifted: Sequence[Mapping[str, Any]]) -> dict[str, str] | None:
    """The plain-words warning about shifted top features, in English and French."""
    if not shifted:
        return None
    en = ", ".join(
        f"{r['feature']} (PSI {r['psi']:.2f}, {r['outside_share']:.0%} of values outside the "
        "training range)"
        for r in shifted
    )
    fr = ", ".join(
        f"{r['feature']} (PSI {r['psi']:.2f}, {r['outside_share']:.0%} des valeurs hors de la "
        "plage d'entraînement)"
        for r in shifted
    )
    return {
        "en": f"The most recent period differs from the training data on important features: "
        f"{en}. The model meets values it has rarely or never seen; judge it on the test-period "
        "metrics, watch its calibration and retrain as soon as recent outcomes are known.",
        "fr": f"La période la plus récente diffère des données d'entraînement sur des variables "
        f"importantes : {fr}. Le modèle rencontre des valeurs rares ou jamais vues ; jugez-le "
        "sur les mesures de la période de test, surveillez son calibrage et réentraînez-le dès "
        "que les résultats récents sont connus.",
    }
