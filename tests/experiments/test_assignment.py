"""Deterministic assignment (issue 21): the same unit lands in the same variant every time,
the split follows the weights, and the published rule reproduces it."""

from __future__ import annotations

import hashlib

from scipy.stats import chisquare

from vigie.experiments import Experiment, Variant, assign

EXP = Experiment(
    name="display-aisle",
    metric="Product Picked",
    variants=[Variant(name="aisle-4"), Variant(name="aisle-21"), Variant(name="none", weight=2)],
)


def test_the_same_unit_always_gets_the_same_variant() -> None:
    """Assigning a unit twice, or from a copy of the experiment, gives the same variant."""
    copy = Experiment(name=EXP.name, metric=EXP.metric, variants=list(EXP.variants))
    for unit in (f"visitor-{i}" for i in range(200)):
        assert assign(EXP, unit) == assign(EXP, unit) == assign(copy, unit)


def test_the_split_follows_the_weights() -> None:
    """Over 40,000 units the 1:1:2 split passes a chi-square test of the declared weights."""
    counts = {"aisle-4": 0, "aisle-21": 0, "none": 0}
    for i in range(40_000):
        counts[assign(EXP, f"u{i}")] += 1
    assert chisquare(list(counts.values()), [10_000, 10_000, 20_000]).pvalue > 0.001


def test_the_published_rule_reproduces_the_assignment() -> None:
    """The rule in the module's docstring, written here from the text alone, agrees."""
    for i in range(300):
        unit = f"v{i}"
        point = (
            int.from_bytes(hashlib.sha256(f"display-aisle:{unit}".encode()).digest()[:8]) / 2**64
        )
        expected = "aisle-4" if point < 0.25 else "aisle-21" if point < 0.5 else "none"
        assert assign(EXP, unit) == expected
