"""Verdicts you can trust (issue 21): simulated experiments where the truth is known. With no
real effect the false-positive rate stays at alpha even when the page is refreshed every day;
with the declared effect the power reaches the declared 80 %; a broken split is flagged."""

from __future__ import annotations

import numpy as np

from vigie.experiments import Arm, Experiment, planned_size, verdict

EXP = Experiment(name="checkout-button", metric="Order Completed", baseline=0.12, mde=0.03)
RUNS = 400


def _simulate(rng: np.random.Generator, rates: tuple[float, float], n: int) -> list[Arm]:
    return [
        Arm(variant=v, exposed=n, converted=int(rng.binomial(n, rate)))
        for v, rate in zip(("control", "treatment"), rates, strict=True)
    ]


def test_the_planned_sample_matches_the_textbook_formula() -> None:
    """Units per arm for 12 % -> 15 % at alpha 0.05 and power 0.8, against the classic
    normal-approximation formula written here by hand: Cohen's h, whose estimate has a
    variance of 1/n per arm, so n = 2 ((z_0.975 + z_0.8) / h)^2 (about 2,000)."""
    from math import asin, ceil, sqrt

    h = abs(2 * asin(sqrt(0.15)) - 2 * asin(sqrt(0.12)))
    expected = ceil(2 * ((1.959964 + 0.841621) / h) ** 2)
    assert abs(planned_size(EXP) - expected) <= 1


def test_no_verdict_before_the_planned_sample() -> None:
    """Half-way, even a large observed gap gives no p-value: the status is running."""
    half = planned_size(EXP) // 2
    arms = [Arm(variant="control", exposed=half, converted=half // 10),
            Arm(variant="treatment", exposed=half, converted=half // 4)]  # fmt: skip
    found = verdict(EXP, arms)
    assert found.status == "running" and found.comparisons == []
    assert "no peeking" in found.sentence["en"]


def test_false_positives_stay_at_alpha_with_daily_refreshes() -> None:
    """400 A/A experiments, each looked at on each of 14 days as the sample grows: only the
    final look can declare a winner, and it does in about 5 % of them (binomial bound)."""
    rng = np.random.default_rng(21)
    n = planned_size(EXP)
    positives = 0
    for _ in range(RUNS):
        declared = False
        for day in range(1, 15):
            size = n * day // 14
            found = verdict(EXP, _simulate(rng, (0.12, 0.12), size))
            declared = declared or any(c.significant for c in found.comparisons)
        positives += declared
    rate = positives / RUNS
    assert rate <= 0.05 + 3 * (0.05 * 0.95 / RUNS) ** 0.5, rate


def test_the_declared_effect_is_found_with_the_declared_power() -> None:
    """With a true lift of 3 points the verdict is significant in at least 80 % of runs
    (less three binomial standard errors), and the interval covers the true lift."""
    rng = np.random.default_rng(2121)
    n = planned_size(EXP)
    hits = covered = 0
    for _ in range(RUNS):
        (comparison,) = verdict(EXP, _simulate(rng, (0.12, 0.15), n)).comparisons
        hits += comparison.significant and comparison.lift > 0
        covered += comparison.low <= 0.03 <= comparison.high
    assert hits / RUNS >= 0.8 - 3 * (0.8 * 0.2 / RUNS) ** 0.5
    assert covered / RUNS >= 0.95 - 3 * (0.95 * 0.05 / RUNS) ** 0.5


def test_a_sample_ratio_mismatch_is_flagged() -> None:
    """A 50/50 experiment that exposed 5,000 and 4,600 units is flagged, and the sentence
    says not to trust it; 5,000 and 4,960 is not flagged."""
    n = planned_size(EXP)
    bad = [Arm(variant="control", exposed=n + 3000, converted=600),
           Arm(variant="treatment", exposed=n + 2600, converted=600)]  # fmt: skip
    found = verdict(EXP, bad)
    assert found.sample_ratio_mismatch and "do not trust" in found.sentence["en"]
    fine = [Arm(variant="control", exposed=n + 3000, converted=600),
            Arm(variant="treatment", exposed=n + 2960, converted=600)]  # fmt: skip
    assert not verdict(EXP, fine).sample_ratio_mismatch


def test_the_sentence_reads_in_both_languages() -> None:
    """A significant result is said plainly in English and French with its interval."""
    n = planned_size(EXP)
    arms = [Arm(variant="control", exposed=n, converted=round(n * 0.12)),
            Arm(variant="treatment", exposed=n, converted=round(n * 0.16))]  # fmt: skip
    found = verdict(EXP, arms)
    (comparison,) = found.comparisons
    assert comparison.significant
    assert (
        "raised Order Completed conversion from 12.0% to 16.0%, +4.0 points, 95% CI ["
        in (comparison.sentence["en"])
    )
    assert "de 12,0 % à 16,0 %, +4,0 points, IC à 95 % [" in comparison.sentence["fr"]
