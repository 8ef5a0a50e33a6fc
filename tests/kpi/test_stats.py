"""The shared check suite, run over every streaming statistic (river-style)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigie.kpi.stats import Count, DistinctCount, Mean, Quantile, Ratio, Statistic, Sum

Values = st.lists(st.integers(-1000, 1000).map(float), max_size=60)


def _count(xs: list[Any]) -> float | None:
    return float(len(xs))


def _sum(xs: list[Any]) -> float | None:
    return float(sum(xs))


def _mean(xs: list[Any]) -> float | None:
    return float(np.mean(xs)) if xs else None


def _distinct(xs: list[Any]) -> float | None:
    return float(len(set(xs)))


def _ratio(xs: list[Any]) -> float | None:
    den = sum(b for _, b in xs)
    return sum(a for a, _ in xs) / den if den > 1e-12 else None


def _p90(xs: list[Any]) -> float | None:
    return float(np.quantile(xs, 0.9)) if xs else None


CASES: list[
    tuple[Callable[[], Statistic], Callable[[list[Any]], float | None], Callable[[float], Any]]
] = [
    (Count, _count, lambda x: x),
    (Sum, _sum, lambda x: x),
    (Mean, _mean, lambda x: x),
    (DistinctCount, _distinct, lambda x: int(x) % 7),
    (Ratio, _ratio, lambda x: (float(abs(x) % 3 == 0), 1.0)),
    (lambda: Quantile(0.9), _p90, lambda x: x),
]
IDS = ["count", "sum", "mean", "distinct", "ratio", "p90"]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


@pytest.mark.parametrize(("make", "batch", "shape"), CASES, ids=IDS)
@given(xs=Values, cut=st.integers(0, 60))
def test_update_matches_batch(make: Any, batch: Any, shape: Any, xs: list[float], cut: int) -> None:
    """Updating with a stream gives the batch result over the same values."""
    stat = make()
    values = [shape(x) for x in xs]
    for v in values:
        stat.update(v)
    assert _close(stat.get(), batch(values))


@pytest.mark.parametrize(("make", "batch", "shape"), CASES, ids=IDS)
@given(xs=Values, cut=st.integers(0, 60))
def test_revert_undoes_update(make: Any, batch: Any, shape: Any, xs: list[float], cut: int) -> None:
    """Reverting the first values leaves the batch result over the rest."""
    stat = make()
    values = [shape(x) for x in xs]
    cut = min(cut, len(values))
    for v in values:
        stat.update(v)
    for v in values[:cut]:
        stat.revert(v)
    assert _close(stat.get(), batch(values[cut:]))


@pytest.mark.parametrize(("make", "batch", "shape"), CASES, ids=IDS)
@given(xs=Values, cut=st.integers(0, 60))
def test_merge_and_unmerge_panes(
    make: Any, batch: Any, shape: Any, xs: list[float], cut: int
) -> None:
    """Merging two panes equals one stream; unmerging one pane leaves the other."""
    values = [shape(x) for x in xs]
    cut = min(cut, len(values))
    left, right, total = make(), make(), make()
    for v in values[:cut]:
        left.update(v)
    for v in values[cut:]:
        right.update(v)
    total.merge(left)
    total.merge(right)
    assert _close(total.get(), batch(values))
    total.unmerge(left)
    assert _close(total.get(), batch(values[cut:]))


@pytest.mark.parametrize(("make", "batch", "shape"), CASES, ids=IDS)
def test_pickles_and_empties(make: Any, batch: Any, shape: Any) -> None:
    """A statistic survives pickling, and `empty()` gives a fresh one of the same kind."""
    stat = make()
    for x in (1.0, 5.0, 3.0):
        stat.update(shape(x))
    again = pickle.loads(pickle.dumps(stat))
    assert _close(again.get(), stat.get())
    fresh = stat.empty()
    assert type(fresh) is type(stat)
    assert _close(fresh.get(), batch([]))


# Per statistic, what lies behind its value.
WEIGHTS: list[Callable[[list[Any]], float]] = [
    len,
    len,
    len,
    lambda xs: len(set(xs)),
    lambda xs: sum(b for _, b in xs),
    len,
]


@pytest.mark.parametrize(("case", "weight"), list(zip(CASES, WEIGHTS, strict=True)), ids=IDS)
@given(xs=Values, cut=st.integers(0, 60))
def test_weight_is_what_lies_behind_the_value(
    case: Any, weight: Any, xs: list[float], cut: int
) -> None:
    """`weight` is the values counted (the distinct ones for a distinct count, the
    denominator for a ratio), through updates and reverts alike."""
    make, _, shape = case
    stat = make()
    values = [shape(x) for x in xs]
    cut = min(cut, len(values))
    for v in values:
        stat.update(v)
    for v in values[:cut]:
        stat.revert(v)
    assert _close(stat.weight(), float(weight(values[cut:])))
