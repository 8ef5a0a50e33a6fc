"""Drift of the input distribution since training: the population stability index (PSI)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODERATE = 0.1
MAJOR = 0.25


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
