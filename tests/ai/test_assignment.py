"""Optimal lead assignment under capacity, with reasons and due times."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.ai.affinity import estimate
from vigie.ai.assignment import assign, expected_conversion, optimal, optimal_by_slots
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
    better = expected_conversion(p, np.array([[0.4]]), np.array([[0.2]]))
    worse = expected_conversion(p, np.array([[0.1]]), np.array([[0.2]]))
    same = expected_conversion(p, np.array([[0.2]]), np.array([[0.2]]))
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
