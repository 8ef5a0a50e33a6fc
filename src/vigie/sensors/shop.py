"""Shop analytics over pick-up counts: a display's uplift against its baseline, and where to
move it. Pure functions over plain counts; the service feeds them from the event log.

Counts are Poisson: an aisle's pick-ups in a window. Two tests, both with a 95 % interval:

- **uplift** of a display: the ratio of rate ratios (its aisle against the other aisles,
  with the display against without it), a log-linear Poisson contrast with a Wald interval.
  The other aisles absorb what moves the whole shop (the Saturday rush).
- **relocation**: for each other aisle, its pick-up rate against the display's aisle over
  the same windows, an exact conditional binomial test; aisles are ranked by the expected
  change, and one is recommended only when its test is significant after Bonferroni's
  correction over the candidates (so a shop without a real difference gets no advice in
  ≥ 95 % of cases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

Z95 = 1.959963984540054


class Uplift(msgspec.Struct, kw_only=True, frozen=True):
    """A display's effect on its aisle's pick-ups: +0.38 is 38 % more than without it."""

    uplift: float
    low: float
    high: float
    p_value: float
    with_display: int
    without_display: int


class Candidate(msgspec.Struct, kw_only=True, frozen=True):
    """An aisle the display could move to, and the change in pick-ups expected there."""

    aisle: str
    expected_uplift: float
    low: float
    high: float
    p_value: float
    significant: bool


class Recommendation(msgspec.Struct, kw_only=True, frozen=True):
    """Where to move a display (`to` is None: stay, no aisle is significantly better)."""

    display: str
    current: str
    to: str | None
    ranking: tuple[Candidate, ...]


def uplift(aisle: Sequence[int], others: Sequence[int], displayed: Sequence[bool]) -> Uplift | None:
    """The display's uplift from per-window counts of its aisle and of all other aisles,
    and whether the display stood there in each window; None without both kinds of window."""
    from scipy import stats  # imported when first tested, not at every start-up

    if not (len(aisle) == len(others) == len(displayed)):
        raise ValueError("aisle, others and displayed must have one value per window")
    a_on = sum(c for c, d in zip(aisle, displayed, strict=True) if d)
    a_off = sum(c for c, d in zip(aisle, displayed, strict=True) if not d)
    o_on = sum(c for c, d in zip(others, displayed, strict=True) if d)
    o_off = sum(c for c, d in zip(others, displayed, strict=True) if not d)
    if all(displayed) or not any(displayed):
        return None
    cells = (
        [x + 0.5 for x in (a_on, a_off, o_on, o_off)]
        if min(a_on, a_off, o_on, o_off) == 0
        else [float(x) for x in (a_on, a_off, o_on, o_off)]
    )
    log_ratio = math.log(cells[0] / cells[2]) - math.log(cells[1] / cells[3])
    se = math.sqrt(sum(1 / c for c in cells))
    p = 2 * stats.norm.sf(abs(log_ratio) / se)
    return Uplift(
        uplift=math.exp(log_ratio) - 1,
        low=math.exp(log_ratio - Z95 * se) - 1,
        high=math.exp(log_ratio + Z95 * se) - 1,
        p_value=float(p),
        with_display=a_on,
        without_display=a_off,
    )


def recommend(
    display: str, current: str, pickups: Mapping[str, int], *, alpha: float = 0.05
) -> Recommendation:
    """Rank the other aisles by the change in pick-ups expected if the display moved there,
    from each aisle's pick-ups over the same windows (`pickups`, the current one included)."""
    from scipy import stats

    here = pickups.get(current, 0)
    others = [name for name in pickups if name != current]
    level = alpha / max(len(others), 1)
    ranking: list[Candidate] = []
    for name in others:
        there = pickups[name]
        n = here + there
        if n == 0:
            continue
        test = stats.binomtest(there, n, 0.5, alternative="greater")
        ci = stats.binomtest(there, n, 0.5).proportion_ci(confidence_level=0.95, method="exact")
        ranking.append(
            Candidate(
                aisle=name,
                expected_uplift=_ratio(there + 0.5, here + 0.5) - 1,
                low=_ratio(ci.low, 1 - ci.low) - 1,
                high=_ratio(ci.high, 1 - ci.high) - 1,
                p_value=float(test.pvalue),
                significant=bool(test.pvalue < level),
            )
        )
    ranking.sort(key=lambda c: (-c.expected_uplift, c.aisle))
    best = next((c for c in ranking if c.significant), None)
    return Recommendation(
        display=display, current=current, to=best.aisle if best else None, ranking=tuple(ranking)
    )


def peer_rank(counts: Mapping[str, int]) -> dict[str, float]:
    """Each group's place among its peers: the share of the other groups with fewer counts
    (0.0: the bottom, 1.0: the top). "Aisle 4 is in the bottom 10 %" is a rank under 0.1."""
    names = list(counts)
    others = max(len(names) - 1, 1)
    return {n: sum(counts[m] < counts[n] for m in names if m != n) / others for n in names}


def _ratio(a: float, b: float) -> float:
    return math.inf if b <= 0 else a / b


def occupancy(ins: int, outs: int) -> int:
    """People inside from the doors' in and out counts (never below zero)."""
    return max(ins - outs, 0)


def entry_signal(inside: int, capacity: int, *, margin: float = 0.9) -> str:
    """What the door screen shows: `open`, `slow` (from `margin` of capacity) or `full`."""
    if inside >= capacity:
        return "full"
    if inside >= margin * capacity:
        return "slow"
    return "open"
