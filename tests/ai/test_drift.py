"""The population stability index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.ai.drift import level, psi


@settings(deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=12))
def test_same_distribution_is_stable(counts: list[int]) -> None:
    """A histogram compared with itself (at any scale) has a PSI of zero."""
    assert psi(counts, [c * 3 for c in counts]) == pytest.approx(0.0, abs=1e-12)


def test_shift_is_major() -> None:
    """Mass moving from one end to the other is a major shift."""
    value = psi([70, 20, 10], [10, 20, 70])
    assert value > 0.25 and level(value) == "major"
    assert level(0.05) == "stable" and level(0.15) == "moderate"


def test_bins_must_match() -> None:
    """Histograms over different bins are refused."""
    with pytest.raises(ValueError, match="bins"):
        psi([1, 2], [1, 2, 3])


def test_values_outside_the_training_range_are_counted() -> None:
    """A number beyond the training minimum or maximum, or a category training never had,
    counts as outside; missing values do not."""
    from vigie.ai.drift import outside_share
    from vigie.ai.features import Feature

    number = Feature("rate", "numeric")
    train = np.array([3.0, 4.0, 5.0])
    assert outside_share(number, train, np.array([2.0, 4.5, 6.0, np.nan])) == 0.5
    colour = Feature("colour", "categorical", ("red", "blue", "green"))
    assert outside_share(colour, np.array([0.0, 1.0]), np.array([0.0, 2.0, 2.0, 1.0])) == 0.5


def test_warning_names_only_shifted_top_features() -> None:
    """The warning watches important features and names those that moved, in both languages."""
    from vigie.ai.drift import shift
    from vigie.ai.features import Encoder, Feature

    rng = np.random.default_rng(0)
    encoder = Encoder(features=(Feature("rate", "numeric"), Feature("age", "numeric")))
    train = np.column_stack([rng.normal(4, 0.5, 2000), rng.normal(40, 10, 2000)])
    recent = np.column_stack([rng.normal(1, 0.3, 500), rng.normal(40, 10, 500)])
    edges = [list(np.quantile(train[:, j], np.linspace(0.1, 0.9, 9))) for j in (0, 1)]
    from vigie.ai.drift import histogram

    reference = {
        name: {"edges": e, "counts": histogram(train[:, j], e).tolist()}
        for j, (name, e) in enumerate(zip(("rate", "age"), edges, strict=True))
    }
    result = shift(encoder, reference, train, recent, {"rate": 0.3, "age": 0.7})
    assert result["shifted"] == ["rate"]
    assert [r["feature"] for r in result["features"]] == ["age", "rate"]
    assert "rate (PSI" in result["warning"]["en"] and "hors de la plage" in result["warning"]["fr"]
    calm = shift(encoder, reference, train, train[:500], {"rate": 0.3, "age": 0.7})
    assert calm["warning"] is None
