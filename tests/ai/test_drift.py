"""The population stability index."""

from __future__ import annotations

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
