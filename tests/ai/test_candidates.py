"""The candidate models, rolling-origin folds and monotone constraints (issue 22)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from vigie.ai import candidates
from vigie.ai.features import detect_features, split_rows


def dated(n: int = 5000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    calls = rng.integers(1, 12, n).astype(float)
    noise = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 - 0.4 * calls + 0.3 * noise)))).astype(int)
    day = [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 700, n)]
    return pl.DataFrame({"day": day, "calls": calls, "noise": noise}), y


def test_folds_roll_forward_and_never_look_ahead() -> None:
    """Each fold validates on the rows right after its training rows; the last is the
    training period against the calibration period."""
    frame, y = dated()
    split = split_rows(frame, y, time_column="day")
    folds = candidates.rolling_folds(split)
    assert len(folds) == candidates.FOLDS
    days = frame["day"].to_numpy()
    for fold in folds:
        assert days[fold.fit].max() <= days[fold.valid].min()
        assert len(fold.valid) == len(split.calibration)
    assert np.array_equal(folds[-1].fit, split.train)
    assert np.array_equal(folds[-1].valid, split.calibration)
    assert [len(f.fit) for f in folds] == sorted(len(f.fit) for f in folds)


def test_random_split_has_one_fold() -> None:
    """Without a time column the held-out slice is the only fold."""
    frame, y = dated()
    split = split_rows(frame, y, time_column=None)
    assert len(candidates.rolling_folds(split)) == 1


def test_monotone_constraint_holds() -> None:
    """With calls declared decreasing, the trees' probability never rises with calls."""
    frame, y = dated(seed=1)
    encoder = detect_features(frame, exclude={"day"})
    x = encoder.matrix(frame)
    rows = np.arange(len(y))
    trees = candidates.fit_trees(
        x, y, encoder, rows[:4000], rows[4000:], seed=0, monotone={"calls": -1}
    )
    grid = np.repeat(x[:50], 11, axis=0)
    grid[:, encoder.names.index("calls")] = np.tile(np.arange(1, 12), 50)
    p = trees.predict(grid).reshape(50, 11)
    assert (np.diff(p, axis=1) <= 1e-12).all()


def test_monotone_names_a_bad_column() -> None:
    """A declared column that is not a numeric feature is refused by name."""
    frame, _ = dated()
    frame = frame.with_columns(kind=pl.lit("a"), other=pl.Series(["x", "y"] * 2500))
    encoder = detect_features(frame, exclude={"day"})
    with pytest.raises(ValueError, match="'nope': not a feature"):
        candidates.monotone_vector(encoder, {"nope": 1})
    with pytest.raises(ValueError, match="'other': only a numeric"):
        candidates.monotone_vector(encoder, {"other": 1})


def test_recency_weights_halve_every_half_life() -> None:
    """The latest row weighs 1, a row half the period older 0.5 with a half-life of 0.5."""
    weights = candidates.recency_weights(1001, 0.5)
    assert weights is not None
    assert weights[-1] == pytest.approx(1.0)
    assert weights[500] == pytest.approx(0.5, rel=1e-2)
    assert (np.diff(weights) > 0).all()
    assert candidates.recency_weights(10, None) is None
    with pytest.raises(ValueError, match="--recency -1"):
        candidates.recency_weights(10, -1)


def test_recency_is_recorded_and_changes_the_fit() -> None:
    """Training with --recency keeps it in the card and weighs the fit differently."""
    from vigie.ai import models

    frame, y = dated(3000, seed=3)
    data = frame.with_columns(won=pl.Series(y))
    plain = models.train(data, target="won", time_column="day")
    recent = models.train(data, target="won", time_column="day", recency=0.3)
    assert recent.card["recency_half_life"] == 0.3 and plain.card["recency_half_life"] is None
    x = plain.encoder.matrix(data.head(100))
    assert not np.allclose(plain.raw(x), recent.raw(x))
