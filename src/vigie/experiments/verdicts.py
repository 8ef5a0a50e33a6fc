"""Verdicts: the effect of each variant on the conversion rate against the control, with a
confidence interval and a p-value, only once the planned sample is reached (a fixed horizon
the interface enforces, so refreshing the page does not inflate false positives), and a
sample-ratio-mismatch check that flags a broken assignment or exposure.

Statistics come from statsmodels and SciPy, not hand-written distributions; they are imported
when a verdict or a plan is first computed (statsmodels costs a second of every start-up).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Literal

import msgspec

from vigie.experiments.config import Experiment

SRM_ALPHA = 0.001
"""Below this p-value the observed split is too far from the declared weights to be chance."""


class Arm(msgspec.Struct, kw_only=True, frozen=True):
    """What one variant saw: units exposed, and how many converted (within the horizon)."""

    variant: str
    exposed: int
    converted: int
    guardrails: dict[str, int] = {}

    @property
    def rate(self) -> float | None:
        """The conversion rate, None before any exposure."""
        return self.converted / self.exposed if self.exposed else None


class Comparison(msgspec.Struct, kw_only=True, frozen=True):
    """One variant against the control: absolute lift, its confidence interval, p-value."""

    variant: str
    lift: float
    low: float
    high: float
    p_value: float
    significant: bool
    sentence: dict[str, str]


class Verdict(msgspec.Struct, kw_only=True, frozen=True):
    """Where an experiment stands and, once its sample is complete, what it found."""

    experiment: str
    status: Literal["running", "complete"]
    planned_per_arm: int
    arms: list[Arm]
    sample_ratio_mismatch: bool
    srm_p_value: float | None
    comparisons: list[Comparison]
    guardrail_breaches: list[str]
    sentence: dict[str, str]
    design: Literal["units", "time_blocks"] = "units"
    """`time_blocks`: the arms count blocks (`exposed`) and the metric's total (`converted`),
    and the lift is in the metric's units per block, not a share."""


def planned_size(experiment: Experiment) -> int:
    """Units per arm needed to detect `mde` over `baseline` with `alpha` (two-sided) and
    `power`, by the normal approximation for two proportions (Cohen's h)."""
    return _planned(experiment.baseline, experiment.mde, experiment.alpha, experiment.power)


@cache
def _planned(baseline: float, mde: float, alpha: float, power: float) -> int:
    """Solving for the size is a root search: done once per design, not per page view."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = abs(proportion_effectsize(baseline + mde, baseline))
    size = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(size))


def _pct(value: float, lang: str) -> str:
    text = f"{value * 100:.1f}"
    return (text.replace(".", ",") + " %") if lang == "fr" else text + "%"


def _points(value: float, lang: str) -> str:
    text = f"{value * 100:+.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _sentence(
    exp: Experiment, control: Arm, arm: Arm, low: float, high: float, p: float
) -> dict[str, str]:
    assert control.rate is not None and arm.rate is not None
    lift = arm.rate - control.rate
    significant = p < exp.alpha
    level = round((1 - exp.alpha) * 100)
    en = (
        f"{arm.variant} {'raised' if lift > 0 else 'lowered'} {exp.metric} conversion from "
        f"{_pct(control.rate, 'en')} to {_pct(arm.rate, 'en')}, {_points(lift, 'en')} points, "
        f"{level}% CI [{_points(low, 'en')}; {_points(high, 'en')}]"
    )
    fr = (
        f"{arm.variant} a fait {'passer' if lift else 'rester'} la conversion {exp.metric} de "
        f"{_pct(control.rate, 'fr')} à {_pct(arm.rate, 'fr')}, {_points(lift, 'fr')} points, "
        f"IC à {level} % [{_points(low, 'fr')} ; {_points(high, 'fr')}]"
    )
    return with_significance(en, fr, p, significant=significant)


def with_significance(en: str, fr: str, p: float, *, significant: bool) -> dict[str, str]:
    """A comparison's sentence in both languages, ending with its p-value and, when it is
    not significant, that no difference is shown."""
    if significant:
        return {"en": f"{en} (p = {p:.3f})", "fr": f"{fr} (p = {p:.3f})"}
    return {
        "en": f"{en}: not significant (p = {p:.2f}); no difference shown",
        "fr": f"{fr} : non significatif (p = {p:.2f}) ; aucune différence démontrée",
    }


def running(
    experiment: Experiment,
    planned: int,
    arms: list[Arm],
    sentence: dict[str, str],
    *,
    srm_p: float | None = None,
    design: Literal["units", "time_blocks"] = "units",
) -> Verdict:
    """The verdict of an experiment still short of its planned sample: no comparison yet."""
    return Verdict(
        experiment=experiment.name,
        status="running",
        planned_per_arm=planned,
        arms=arms,
        sample_ratio_mismatch=srm_p is not None and srm_p < SRM_ALPHA,
        srm_p_value=srm_p,
        comparisons=[],
        guardrail_breaches=[],
        sentence={
            "en": sentence["en"] + " No verdict before the planned sample (no peeking).",
            "fr": sentence["fr"] + " Pas de verdict avant l'échantillon prévu (pas de coup d'œil).",
        },
        design=design,
    )


def complete(
    experiment: Experiment,
    planned: int,
    arms: list[Arm],
    comparisons: list[Comparison],
    breaches: list[str],
    *,
    srm_p: float | None = None,
    design: Literal["units", "time_blocks"] = "units",
) -> Verdict:
    """The verdict once every arm has its planned sample: each comparison's sentence after
    a head that warns of a sample ratio mismatch."""
    srm = srm_p is not None and srm_p < SRM_ALPHA
    head_en = "Complete." + (" Sample ratio mismatch: do not trust the result." if srm else "")
    head_fr = "Terminée." + (
        " Déséquilibre des groupes : ne pas se fier au résultat." if srm else ""
    )
    return Verdict(
        experiment=experiment.name,
        status="complete",
        planned_per_arm=planned,
        arms=arms,
        sample_ratio_mismatch=srm,
        srm_p_value=srm_p,
        comparisons=comparisons,
        guardrail_breaches=breaches,
        sentence={
            "en": " ".join([head_en, *(c.sentence["en"] + "." for c in comparisons)]),
            "fr": " ".join([head_fr, *(c.sentence["fr"] + "." for c in comparisons)]),
        },
        design=design,
    )


def verdict(experiment: Experiment, arms: list[Arm]) -> Verdict:
    """The verdict for `arms` (in the order of the experiment's variants)."""
    from scipy.stats import chisquare
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    planned = planned_size(experiment)
    weights = [v.weight for v in experiment.variants]
    total = sum(a.exposed for a in arms)
    srm_p: float | None = None
    if total >= 100:
        expected = [total * w / sum(weights) for w in weights]
        srm_p = float(chisquare([a.exposed for a in arms], expected).pvalue)
    least = min(a.exposed for a in arms)
    if least < planned:
        return running(
            experiment,
            planned,
            arms,
            {
                "en": f"Running: {least} of {planned} units in the smallest arm.",
                "fr": f"En cours : {least} sur {planned} unités dans le plus petit groupe.",
            },
            srm_p=srm_p,
        )
    control = arms[0]
    comparisons: list[Comparison] = []
    breaches: list[str] = []
    for arm in arms[1:]:
        _z, p = proportions_ztest(
            [arm.converted, control.converted], [arm.exposed, control.exposed]
        )
        low, high = confint_proportions_2indep(
            arm.converted,
            arm.exposed,
            control.converted,
            control.exposed,
            compare="diff",
            method="newcomb",
            alpha=experiment.alpha,
        )
        p_value = float(p) if math.isfinite(float(p)) else 1.0
        assert arm.rate is not None and control.rate is not None
        comparisons.append(
            Comparison(
                variant=arm.variant,
                lift=arm.rate - control.rate,
                low=float(low),
                high=float(high),
                p_value=p_value,
                significant=p_value < experiment.alpha,
                sentence=_sentence(experiment, control, arm, float(low), float(high), p_value),
            )
        )
        for guardrail in experiment.guardrails:
            a, c = arm.guardrails.get(guardrail, 0), control.guardrails.get(guardrail, 0)
            _gz, gp = proportions_ztest(
                [a, c], [arm.exposed, control.exposed], alternative="smaller"
            )
            if math.isfinite(float(gp)) and float(gp) < experiment.alpha:
                breaches.append(f"{arm.variant}: {guardrail}")
    return complete(experiment, planned, arms, comparisons, breaches, srm_p=srm_p)
