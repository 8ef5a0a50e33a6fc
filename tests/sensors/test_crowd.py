"""Crowds: congestion with hysteresis, and the quietest neighbour."""

from __future__ import annotations

import itertools

import numpy as np

from vigie.sensors.crowd import Congestion, quietest


def _changes(states: list[bool]) -> int:
    return sum(a != b for a, b in itertools.pairwise(states))


def test_a_noisy_density_around_the_threshold_does_not_flap() -> None:
    """A density rising from 0.5 to 1.0 and falling back, with noise of ±0.08 around it,
    becomes congested once and clears once; a single threshold would flap many times."""
    rng = np.random.default_rng(7)
    trend = np.concatenate([np.linspace(0.5, 1.0, 300), np.linspace(1.0, 0.5, 300)])
    series = trend + rng.uniform(-0.08, 0.08, trend.size)
    tracker = Congestion(above=0.9, below=0.7)
    states = [tracker.update(float(d)) for d in series]
    single = [bool(d >= 0.9) for d in series]
    assert _changes(states) == 2
    assert states[0] is False and states[-1] is False and any(states)
    assert _changes(single) > 10


def test_congestion_clears_only_below_the_lower_threshold() -> None:
    """Once congested at 0.9, a density of 0.75 keeps it congested; 0.69 clears it."""
    tracker = Congestion(above=0.9, below=0.7)
    assert [tracker.update(d) for d in (0.85, 0.92, 0.75, 0.89, 0.69, 0.8)] == [
        False, True, True, True, False, False
    ]  # fmt: skip


def test_the_quietest_neighbour_comes_from_live_densities() -> None:
    """The least dense counted neighbour wins; uncounted neighbours are not guessed at."""
    densities = {"rue-neuve": 0.95, "monnaie": 0.4, "fripiers": 0.2}
    assert quietest(["monnaie", "fripiers"], densities) == "fripiers"
    assert quietest(["monnaie", "unknown"], densities) == "monnaie"
    assert quietest(["unknown"], densities) is None
