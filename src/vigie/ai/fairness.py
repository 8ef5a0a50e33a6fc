"""Who gets selected: selection rates by group and the four-fifths rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FOUR_FIFTHS = 0.8


@dataclass(frozen=True)
class GroupRate:
    """One group's place in the base, among the selected and among past conversions."""

    group: str
    base: int
    selected: int
    base_share: float
    selected_share: float
    converted_share: float | None
    rate: float
    ratio_to_best: float
    flagged: bool


def selection_rates(
    base: Mapping[str, int],
    selected: Mapping[str, int],
    *,
    converted: Mapping[str, int] | None = None,
    min_base: int = 30,
) -> list[GroupRate]:
    """Selection rate of every group and whether it falls below 4/5 of the best group's.

    Groups with fewer than `min_base` members are reported but neither flagged nor used as
    the best group (their rate is too noisy to judge).
    """
    total_base = sum(base.values()) or 1
    total_selected = sum(selected.values()) or 1
    total_converted = sum(converted.values()) if converted else 0
    rates = {g: (selected.get(g, 0) / n if n else 0.0) for g, n in base.items()}
    judged = [rates[g] for g, n in base.items() if n >= min_base]
    best = max(judged, default=0.0)
    out = []
    for group, n in sorted(base.items(), key=lambda kv: -kv[1]):
        ratio = rates[group] / best if best else 1.0
        out.append(
            GroupRate(
                group=group,
                base=n,
                selected=selected.get(group, 0),
                base_share=n / total_base,
                selected_share=selected.get(group, 0) / total_selected,
                converted_share=(
                    (converted or {}).get(group, 0) / total_converted if total_converted else None
                ),
                rate=rates[group],
                ratio_to_best=ratio,
                flagged=n >= min_base and ratio < FOUR_FIFTHS,
            )
        )
    return out
