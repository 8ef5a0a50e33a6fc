"""Shop analytics: a display's uplift against its baseline, and where to move it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie.sensors.shop import entry_signal, occupancy, peer_rank, recommend, uplift


def test_uplift_is_the_ratio_of_rate_ratios_with_a_wald_interval() -> None:
    """Aisle 40 → 80 pick-ups with the display while the rest of the shop stays at 400:
    +100 %, and the interval is exp(log 2 ± 1.96·√(1/80+1/40+1/400+1/400)) - 1."""
    effect = uplift([40, 80], [400, 400], [False, True])
    assert effect is not None
    assert effect.uplift == pytest.approx(1.0)
    se = math.sqrt(1 / 80 + 1 / 40 + 1 / 400 + 1 / 400)
    assert effect.low == pytest.approx(math.exp(math.log(2) - 1.959964 * se) - 1, rel=1e-5)
    assert effect.high == pytest.approx(math.exp(math.log(2) + 1.959964 * se) - 1, rel=1e-5)
    assert effect.p_value < 0.001


def test_a_shop_wide_rush_is_no_uplift() -> None:
    """Everything doubling on Saturday afternoon (the display's aisle with the rest) is not
    credited to the display."""
    effect = uplift([50, 100], [500, 1000], [False, True])
    assert effect is not None
    assert effect.uplift == pytest.approx(0.0)
    assert effect.low < 0 < effect.high
    assert effect.p_value == pytest.approx(1.0)


def test_no_uplift_without_windows_on_both_sides() -> None:
    """A display that never moved has no baseline of its own aisle without it."""
    assert uplift([3, 4], [10, 10], [True, True]) is None


def test_the_recommendation_names_the_aisle_with_more_interest() -> None:
    """90 pick-ups in aisle 21 against 40 in aisle 4, 42 in aisle 12: move to aisle 21,
    expected +124 % ((90.5 / 40.5) - 1)."""
    advice = recommend("promo", "aisle-4", {"aisle-4": 40, "aisle-12": 42, "aisle-21": 90})
    assert advice.to == "aisle-21"
    assert advice.ranking[0].aisle == "aisle-21"
    assert advice.ranking[0].expected_uplift == pytest.approx(90.5 / 40.5 - 1)
    assert advice.ranking[0].low > 0
    assert not advice.ranking[1].significant


def _simulate(rng: np.random.Generator, *, effect: bool) -> tuple[str | None, str]:
    """One shop: 10 aisles over 8 windows; the display stands in aisle 0. With an effect,
    one aisle draws 1.6 times the interest of the display's aisle, the others 0.8 to 1.2 times."""
    aisles = [f"aisle-{i}" for i in range(10)]
    base = rng.uniform(15, 30)
    rates = {a: base for a in aisles}
    best = aisles[0]
    if effect:
        for a in aisles[1:]:
            rates[a] = base * rng.uniform(0.8, 1.2)
        best = aisles[int(rng.integers(1, 10))]
        rates[best] = base * 1.6
    counts = {a: int(rng.poisson(rates[a] * 8)) for a in aisles}
    return recommend("promo", aisles[0], counts).to, best


def test_simulated_shops_with_an_effect_get_the_true_best_aisle() -> None:
    """In at least 90 % of 400 simulated shops with a clearly better aisle, it is the one
    recommended."""
    rng = np.random.default_rng(20)
    hits = sum(to == best for to, best in (_simulate(rng, effect=True) for _ in range(400)))
    assert hits >= 0.9 * 400


def test_simulated_shops_without_an_effect_get_no_recommendation() -> None:
    """In at least 95 % of 400 simulated shops where every aisle draws the same interest,
    nothing is recommended (Bonferroni over the candidates)."""
    rng = np.random.default_rng(21)
    quiet = sum(to is None for to, _ in (_simulate(rng, effect=False) for _ in range(400)))
    assert quiet >= 0.95 * 400


def test_the_entry_signal_slows_then_stops_entries() -> None:
    """The door screen says open below 90 % of capacity, slow from there, full at it."""
    assert [entry_signal(n, 100) for n in (0, 89, 90, 99, 100, 130)] == [
        "open", "open", "slow", "slow", "full", "full"
    ]  # fmt: skip
    assert occupancy(10, 14) == 0


def test_an_aisle_is_ranked_against_its_peers() -> None:
    """Of 11 aisles, the one with the fewest pick-ups ranks 0.0 (bottom 10 %), the most 1.0,
    and ties share a rank."""
    counts = {f"aisle-{i}": 10 * i for i in range(10)} | {"aisle-4": 2, "aisle-x": 90}
    ranks = peer_rank(counts)
    assert ranks["aisle-0"] == 0.0
    assert ranks["aisle-4"] == 0.1
    assert ranks["aisle-9"] == ranks["aisle-x"] == 0.9
