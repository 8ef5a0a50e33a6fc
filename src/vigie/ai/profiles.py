"""The ideal customer profile: what the model and the CRM say a good customer looks like.

Traits come from the model: for each important feature, the values whose mean contribution
(in log-odds, over the training history) is highest, weighted by the feature's share of all
contributions. Context columns declared at training (the economy, the campaign, the date)
help the model but describe the moment, not the customer: they are never traits.
Behaviours come from the CRM columns the prospect base does not have (answers e-mail, pays
on time): won and lost accounts compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

from vigie.ai.features import target_vector
from vigie.ai.labels import BOOLEAN_TRAITS, Lang, feature_name, value_name
from vigie.ai.models import Model

MIN_SUPPORT = 0.02
PHRASED = {"nace", "country", "size_band", "region", "legal_form", *BOOLEAN_TRAITS}
BEHAVIOURS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    # column: (phrase when won accounts are higher, phrase when they are lower)
    "email_reply_rate": (("answers e-mail", "répond aux e-mails"), ("", "")),
    "avg_days_late": (("", ""), ("pays on time", "paie à temps")),
    "interactions": (("engages often", "interagit souvent"), ("", "")),
    "support_tickets": (
        ("uses support actively", "sollicite le support"),
        ("needs little support", "sollicite peu le support"),
    ),
}


@dataclass(frozen=True)
class Trait:
    """One trait of the ideal customer: a feature, its best values, and its weight."""

    feature: str
    values: tuple[str, ...]
    weight: float
    source: str

    def phrase(self, lang: Lang) -> str:
        if self.source == "crm":
            return self.values[0 if lang == "en" else 1]
        joiner = " and " if lang == "en" else " et "
        if self.feature in PHRASED:
            return joiner.join(value_name(self.feature, v, lang) for v in self.values)
        return f"{feature_name(self.feature, lang)}: {joiner.join(self.values)}"

    def to_dict(self, lang: Lang) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "feature_label": feature_name(self.feature, lang),
            "values": list(self.values) if self.source == "model" else [],
            "phrase": self.phrase(lang),
            "weight": round(self.weight, 3),
            "source": self.source,
        }


@dataclass(frozen=True)
class Profile:
    """The ideal customer profile: traits by decreasing weight."""

    traits: tuple[Trait, ...]

    def text(self, lang: Lang) -> str:
        return ", ".join(t.phrase(lang) for t in self.traits)

    def to_dict(self) -> dict[str, Any]:
        return {
            lang: {"text": self.text(lang), "traits": [t.to_dict(lang) for t in self.traits]}
            for lang in ("en", "fr")
        }


def _round(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _numeric_bins(column: np.ndarray, contrib: np.ndarray) -> tuple[str, float] | None:
    finite = np.isfinite(column)
    if finite.sum() < 10:
        return None
    values = np.unique(column[finite])
    if set(values.tolist()) <= {0.0, 1.0}:
        means = [(str(int(v)), float(contrib[finite][column[finite] == v].mean())) for v in values]
        return max(means, key=lambda m: m[1])
    edges = np.unique(np.quantile(column[finite], np.linspace(0, 1, 6)))
    best: tuple[str, float] | None = None
    for lo, hi in pairwise(edges):
        inside = finite & (column >= lo) & (column <= hi)
        if inside.mean() < MIN_SUPPORT:
            continue
        mean = float(contrib[inside].mean())
        if best is None or mean > best[1]:
            best = (f"{_round(lo)}-{_round(hi)}", mean)
    return best


def ideal_customer_profile(
    model: Model, history: pl.DataFrame, *, target: str | None = None, top: int = 6
) -> Profile:
    """Describe the ideal customer from `model` and the `history` it learnt from.

    `target` defaults to the model's; the model's context columns are left out.
    """
    target = target or str(model.card.get("target") or "won")
    context = set(model.card.get("context") or [])
    x = model.encoder.matrix(history)
    contrib = model.contributions(x)[:, :-1]
    strength = np.abs(contrib).mean(axis=0)
    share = strength / (strength.sum() or 1.0)
    traits: list[Trait] = []
    customer = [j for j in np.argsort(-share) if model.encoder.features[j].name not in context]
    for j in customer[:top]:
        feature = model.encoder.features[j]
        column = x[:, j]
        if feature.kind == "categorical":
            candidates = []
            for code, name in enumerate(feature.categories):
                inside = column == code
                if inside.mean() >= MIN_SUPPORT:
                    candidates.append((name, float(contrib[inside, j].mean())))
            candidates.sort(key=lambda c: -c[1])
            if not candidates or candidates[0][1] <= 0:
                continue
            chosen = [candidates[0][0]]
            if len(candidates) > 1 and candidates[1][1] >= 0.7 * candidates[0][1]:
                chosen.append(candidates[1][0])
            traits.append(Trait(feature.name, tuple(chosen), float(share[j]), "model"))
        else:
            best = _numeric_bins(column, contrib[:, j])
            if best is not None and best[1] > 0:
                traits.append(Trait(feature.name, (best[0],), float(share[j]), "model"))
    traits.extend(_behaviours(history, target, model.card.get("positive")))
    return Profile(traits=tuple(sorted(traits, key=lambda t: -t.weight)))


def _behaviours(history: pl.DataFrame, target: str, positive: str | None) -> list[Trait]:
    """CRM behaviours that separate won from lost accounts (standardised difference)."""
    if target not in history.columns:
        return []
    try:
        won = target_vector(history[target], positive=positive).astype(bool)
    except ValueError:
        return []
    if won.all() or not won.any():
        return []
    traits = []
    for column, (higher, lower) in BEHAVIOURS.items():
        if column not in history.columns:
            continue
        values = history[column].cast(pl.Float64).to_numpy()
        spread = np.nanstd(values)
        if not spread:
            continue
        d = (np.nanmean(values[won]) - np.nanmean(values[~won])) / spread
        phrase = higher if d > 0 else lower
        if abs(d) < 0.15 or not phrase[0]:
            continue
        traits.append(Trait(column, phrase, float(min(abs(d), 1.0) * 0.1), "crm"))
    return traits
