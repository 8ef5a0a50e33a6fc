"""Optimal lead assignment under capacity, with reasons and due times."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.ai.affinity import estimate
from vigie.ai.assignment import (
    assign,
    evidence_weight,
    expected_conversion,
    optimal,
    optimal_by_slots,
)
from vigie.ai.reps import Rep

from .conftest import World


def total(values: np.ndarray, chosen: np.ndarray) -> float:
    rows = np.flatnonzero(chosen >= 0)
    return float(values[rows, chosen[rows]].sum())


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 25),
    st.lists(st.integers(0, 8), min_size=1, max_size=5),
    st.integers(0, 10_000),
)
def test_min_cost_flow_matches_linear_sum_assignment(
    leads: int, caps: list[int], seed: int
) -> None:
    """The flow solution reaches linear_sum_assignment's optimum on capacity slots."""
    values = np.random.default_rng(seed).random((leads, len(caps))) + 0.01
    capacities = np.array(caps)
    chosen = optimal(values, capacities)
    load = np.bincount(chosen[chosen >= 0], minlength=len(caps))
    assert (load <= capacities).all()
    assert (chosen >= 0).sum() == min(leads, sum(caps))
    assert np.isclose(
        total(values, chosen), total(values, optimal_by_slots(values, capacities)), atol=1e-4
    )


def test_expected_conversion_moves_with_rep_skill() -> None:
    """A rep better than the segment raises the expectation, a worse one lowers it."""
    p = np.array([0.2])
    better = expected_conversion(p, np.array([[0.4]]), np.array([[0.2]]), 0.5)
    worse = expected_conversion(p, np.array([[0.1]]), np.array([[0.2]]), 0.5)
    same = expected_conversion(p, np.array([[0.2]]), np.array([[0.2]]), 0.5)
    assert worse[0, 0] < same[0, 0] < better[0, 0] < 1
    assert np.isclose(same[0, 0], 0.2)


def test_assignment_respects_capacity_and_explains(world: World) -> None:
    """Leads go to reps within capacity, each with a reason in both languages and a due time."""
    reps_names = sorted(world.history["rep"].unique().to_list())
    reps = [Rep(name=n, capacity=5) for n in reps_names]
    leads = world.history.head(60).with_columns(
        probability=pl.lit(0.3), score=pl.lit(30, dtype=pl.Int16)
    )
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    out = assign(leads, reps, estimate(world.history), now=now)
    counts = out.filter(pl.col("rep").is_not_null()).group_by("rep").len()
    assert counts["len"].max() <= 5
    assert out["rep"].is_not_null().sum() == 5 * len(reps)
    assigned = out.filter(pl.col("rep").is_not_null())
    assert assigned["reason_en"].str.contains("expected conversion").all()
    assert assigned["reason_fr"].str.contains("conversion attendue").all()
    first = assigned.group_by("rep").agg(pl.col("due_at").min())["due_at"]
    assert (first == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)).all()
    assert assigned["due_at"].dt.hour().is_between(8, 16).all()
    unassigned = out.filter(pl.col("rep").is_null())
    assert unassigned["reason_en"].str.contains("no rep has capacity").all()


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0.0, 1.0),
    rep=st.floats(0.001, 0.999),
    seg=st.floats(0.001, 0.999),
    deals=st.integers(0, 500),
    strength=st.floats(1.0, 200.0),
    low=st.floats(0.0, 0.5),
    high=st.floats(0.5, 1.0),
)
def test_expected_conversion_stays_coherent(
    p: float, rep: float, seg: float, deals: int, strength: float, low: float, high: float
) -> None:
    """Issue 22: the expected conversion is p moved by at most the rep's measured advantage
    (rep - segment), weighted by their deals, and never leaves the calibrated range; an
    average rep leaves p as it is (written from the formula, not from the code)."""
    weight = evidence_weight(np.array([[float(deals)]]), strength)
    got = float(expected_conversion(np.array([p]), np.array([[rep]]), np.array([[seg]]),
                                    weight, bounds=(low, high))[0, 0])  # fmt: skip
    w = deals / (deals + strength)
    assert low - 1e-12 <= got <= high + 1e-12
    unclipped = p + w * (rep - seg)
    assert got == pytest.approx(min(max(unclipped, low), high), abs=1e-9)
    assert abs(got - min(max(p, low), high)) <= abs(rep - seg) + 1e-9
    same = expected_conversion(np.array([p]), np.array([[seg]]), np.array([[seg]]), weight)
    assert same[0, 0] == pytest.approx(p)


def test_the_reason_shows_the_formula_in_range(world: World) -> None:
    """Issue 22: a lead's reason states the terms of its expected conversion, and no rep is
    shown an expectation outside the calibrated range."""
    reps = [Rep(name=n, capacity=20) for n in sorted(world.history["rep"].unique().to_list())]
    leads = world.history.head(80).with_columns(
        probability=pl.lit(0.5), score=pl.lit(50, dtype=pl.Int16)
    )
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    out = assign(leads, reps, estimate(world.history), now=now, bounds=(0.02, 0.55))
    assigned = out.filter(pl.col("rep").is_not_null())
    assert assigned["expected"].min() >= 0.02 and assigned["expected"].max() <= 0.55
    assert all("= 50% + " in reason for reason in assigned["reason_en"])
