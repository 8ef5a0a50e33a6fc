"""The one-hot / spline logistic regression kept as additive shapes (issue 22)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from vigie.ai import additive
from vigie.ai.features import detect_features


def table(n: int = 3000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pl.DataFrame(
        {
            "a": a,
            "b": rng.choice(["x", "y", "z"], n),
            "flag": rng.integers(0, 2, n).astype(float),
            "d": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(size=n)),
        }
    )
    logit = a**2 - 1 + (frame["b"] == "x").to_numpy() - 0.5 * frame["flag"].to_numpy()
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def test_shapes_reproduce_scikit_learn_inside_the_training_range() -> None:
    """The saved shapes give exactly the log-odds of scikit-learn's fitted model."""
    frame, y = table()
    encoder = detect_features(frame, exclude=set())
    x = encoder.matrix(frame)
    model = additive.fit(x, y, encoder, penalty=1.0)
    reference = LogisticRegression(C=1.0, max_iter=2000, solver="newton-cholesky")
    reference.fit(additive.design_matrix(x, encoder), y)
    expected = reference.decision_function(additive.design_matrix(x, encoder))
    assert np.allclose(model.logit(x), expected, atol=1e-6)


def test_contributions_add_up_to_the_log_odds() -> None:
    """Each row's contributions plus the bias are its log-odds, missing values included."""
    frame, y = table()
    encoder = detect_features(frame, exclude=set())
    x = encoder.matrix(frame)
    model = additive.fit(x, y, encoder)
    contrib = model.contributions(x)
    assert contrib.shape == (len(x), len(encoder.features) + 1)
    assert np.allclose(contrib.sum(axis=1), model.logit(x))
    assert np.allclose(contrib[:, :-1].mean(axis=0), 0.0, atol=1e-9)


@settings(deadline=None, max_examples=20)
@given(st.floats(0.01, 50.0), st.booleans())
def test_beyond_the_range_the_trend_continues(distance: float, above: bool) -> None:
    """Past the training range a number's effect is a straight line from the edge whose
    slope is the least-squares slope of its learnt effect over the training values."""
    frame, y = table(seed=2)
    encoder = detect_features(frame, exclude=set())
    x = encoder.matrix(frame)
    model = additive.fit(x, y, encoder)
    j = encoder.names.index("d")
    shape = model.shapes[j]
    seen = x[:, j][np.isfinite(x[:, j])].astype(np.float64)
    slope = np.polyfit(seen, shape(seen), 1)[0]
    edge = seen.max() if above else seen.min()
    beyond = edge + distance if above else edge - distance
    got = shape(np.array([beyond])) - shape(np.array([edge]))
    assert got[0] == pytest.approx(slope * (beyond - edge), rel=1e-6, abs=1e-9)


def test_unknown_and_missing_categories_share_one_slot() -> None:
    """A category never seen and a missing one get the same learnt log-odds."""
    frame, y = table()
    encoder = detect_features(frame, exclude=set())
    x = encoder.matrix(frame)
    model = additive.fit(x, y, encoder)
    j = encoder.names.index("b")
    unknown = model.shapes[j](np.array([np.nan, 99.0]))
    assert unknown[0] == unknown[1]


def test_round_trip_through_json() -> None:
    """A model rebuilt from its dictionary predicts the same."""
    frame, y = table()
    encoder = detect_features(frame, exclude=set())
    x = encoder.matrix(frame)
    model = additive.fit(x, y, encoder)
    again = additive.SplineLogit.from_dict(model.to_dict())
    assert np.array_equal(again.predict(x), model.predict(x))
