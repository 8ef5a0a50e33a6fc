"""Time-block alternation, for what cannot be split between visitors (a display, a street, a
shop): the whole place shows one variant per block of time, and the blocks are the units.

Which variant a block shows is fixed by the seed, with no stored state: blocks are numbered
from the experiment's `starts_at`; each cycle of as many blocks as there are variants shows
every variant once, in the order of SHA-256 of `"{seed}:cycle:{n}:{variant}"` (the rule of
`assignment.bucket`). The verdict compares the metric's total per block between variants
with Welch's t-test and its confidence interval (SciPy, statsmodels), on the first planned
blocks of each variant only: a fixed horizon, no peeking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache

import msgspec

from vigie.experiments.assignment import bucket
from vigie.experiments.config import Experiment, TimeBlocks
from vigie.experiments.verdicts import (
    Arm,
    Comparison,
    Verdict,
    complete,
    running,
    with_significance,
)


class Block(msgspec.Struct, kw_only=True, frozen=True):
    """One block of time and the variant the place shows during it."""

    index: int
    variant: str
    starts_at: datetime
    ends_at: datetime


def _design(experiment: Experiment) -> TimeBlocks:
    if experiment.blocks is None:
        raise ValueError(f"experiment {experiment.name!r} does not alternate by time block")
    return experiment.blocks


def variant_of_block(experiment: Experiment, index: int) -> str:
    """The variant block `index` shows (each cycle shows every variant once)."""
    names = [v.name for v in experiment.variants]
    cycle, position = divmod(index, len(names))
    seed = experiment.seed or experiment.name
    order = sorted(names, key=lambda name: bucket(f"{seed}:cycle:{cycle}", name))
    return order[position]


def block_at(experiment: Experiment, at: datetime) -> Block | None:
    """The block `at` falls in, None before the experiment starts."""
    design = _design(experiment)
    length = timedelta(microseconds=design.length_us)
    if at < design.starts_at:
        return None
    index = (at - design.starts_at) // length
    starts = design.starts_at + index * length
    return Block(
        index=index,
        variant=variant_of_block(experiment, index),
        starts_at=starts,
        ends_at=starts + length,
    )


def block_index(experiment: Experiment, at_us: int, starts_us: int) -> int | None:
    """The index of the block of the instant `at_us` (microseconds), None before the start."""
    if at_us < starts_us:
        return None
    return (at_us - starts_us) // _design(experiment).length_us


def planned_blocks(experiment: Experiment) -> int:
    """Blocks per variant needed to detect a change of `mde` in the total per block, with
    `alpha` (two-sided) and `power`, by Welch's t-test (at least two per variant)."""
    design = _design(experiment)
    sd = design.sd or math.sqrt(experiment.baseline)
    return _planned(abs(experiment.mde) / sd, experiment.alpha, experiment.power)


@cache
def _planned(effect: float, alpha: float, power: float) -> int:
    from statsmodels.stats.power import TTestIndPower  # imported when first planned

    size = TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return max(2, math.ceil(float(size)))


def _number(value: float, lang: str) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _signed(value: float, lang: str) -> str:
    text = f"{value:+.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _sentence(
    experiment: Experiment,
    control: float,
    mean: float,
    variant: str,
    interval: tuple[float, float],
    p: float,
) -> dict[str, str]:
    low, high = interval
    length = _design(experiment).length
    level = round((1 - experiment.alpha) * 100)
    lift = mean - control
    verb_en = "raised" if lift > 0 else "lowered"
    en = (
        f"{variant} {verb_en} {experiment.metric} from {_number(control, 'en')} to "
        f"{_number(mean, 'en')} per {length} block, {_signed(lift, 'en')}, {level}% CI "
        f"[{_signed(low, 'en')}; {_signed(high, 'en')}]"
    )
    fr = (
        f"{variant} a fait passer {experiment.metric} de {_number(control, 'fr')} à "
        f"{_number(mean, 'fr')} par bloc de {length}, {_signed(lift, 'fr')}, IC à {level} % "
        f"[{_signed(low, 'fr')} ; {_signed(high, 'fr')}]"
    )
    return with_significance(en, fr, p, significant=p < experiment.alpha)


def _welch(a: Sequence[float], b: Sequence[float], alpha: float) -> tuple[float, float, float]:
    """p-value (two-sided) and confidence interval of mean(a) - mean(b), Welch's."""
    from scipy.stats import ttest_ind
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    diff = sum(a) / len(a) - sum(b) / len(b)
    if len(set(a)) == 1 and len(set(b)) == 1:
        # No spread at all: the difference is exact (the t statistic is infinite or 0/0).
        return (0.0 if diff else 1.0), diff, diff
    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
        alpha=alpha, usevar="unequal"
    )
    return (p if math.isfinite(p) else 1.0), float(low), float(high)


def block_verdict(
    experiment: Experiment,
    totals: Mapping[str, Sequence[float]],
    guardrails: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> Verdict:
    """The verdict from each variant's totals per complete block, oldest first (`guardrails`:
    the same for each guardrail event); only the first planned blocks of each count."""
    planned = planned_blocks(experiment)
    names = [v.name for v in experiment.variants]
    used = {name: list(totals.get(name, ()))[:planned] for name in names}
    arms = [
        Arm(variant=name, exposed=len(used[name]), converted=round(sum(used[name])))
        for name in names
    ]
    least = min(a.exposed for a in arms)
    if least < planned:
        length = _design(experiment).length
        return running(
            experiment,
            planned,
            arms,
            {
                "en": f"Running: {least} of {planned} blocks of {length} for the variant "
                "with the fewest.",
                "fr": f"En cours : {least} sur {planned} blocs de {length} pour la variante "
                "qui en a le moins.",
            },
            design="time_blocks",
        )
    control = used[names[0]]
    comparisons = []
    breaches = []
    for name in names[1:]:
        p, low, high = _welch(used[name], control, experiment.alpha)
        mean, base = sum(used[name]) / planned, sum(control) / planned
        comparisons.append(
            Comparison(
                variant=name,
                lift=mean - base,
                low=low,
                high=high,
                p_value=p,
                significant=p < experiment.alpha,
                sentence=_sentence(experiment, base, mean, name, (low, high), p),
            )
        )
        for guardrail, by_variant in (guardrails or {}).items():
            mine = list(by_variant.get(name, ()))[:planned]
            theirs = list(by_variant.get(names[0], ()))[:planned]
            if len(mine) < 2 or len(theirs) < 2 or len(set(mine) | set(theirs)) == 1:
                continue
            from scipy.stats import ttest_ind

            fell = float(ttest_ind(mine, theirs, equal_var=False, alternative="less").pvalue)
            if math.isfinite(fell) and fell < experiment.alpha:
                breaches.append(f"{name}: {guardrail}")
    return complete(experiment, planned, arms, comparisons, breaches, design="time_blocks")
