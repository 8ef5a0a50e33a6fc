"""The `experiments:` section of vigie.yaml: what is tested, on whom, against which metric."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from vigie.kpi.durations import parse_duration

EXPOSURE_EVENT = "Experiment Viewed"
"""Segment's spec name for an exposure: `properties.experiment_name`, `variation_name`."""


class Variant(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One arm; `weight` is its share of the units (weights need not sum to 1)."""

    name: str
    """The variant's name, the one the site shows (`variation_name` of `Experiment Viewed`); the
    first is the control."""
    weight: float = 1.0
    """Its share of the units, relative to the other variants' weights."""


class TimeBlocks(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """For what cannot be split between visitors (a display, a street, a shop): the whole
    place shows one variant at a time, alternating by block of `length` from `starts_at`,
    each run of as many blocks as there are variants showing each one once, in a random
    order fixed by the seed (so the time of day is balanced, not confounded).

    The metric is then the total of the metric's events per block, those whose `where`
    fields (`site`, `zone`, `aisle` or a property) match, each counting 1 or its `value`
    field (e.g. `count`); `baseline` is the control's expected total per block, `mde` the
    smallest change of it worth detecting, and `sd` the spread of a block's total (by
    default that of a Poisson count, √baseline)."""

    length: str = "1h"
    """A duration: how long each block shows one variant (at least a minute)."""
    starts_at: datetime
    """When the first block starts, with its time zone (e.g. `2026-12-01T09:00:00+01:00`)."""
    where: dict[str, str] = {}
    """Fields the metric's events must match to count (`site`, `zone`, `aisle` or a property)."""
    value: str | None = None
    """A numeric field each event adds (e.g. `count`); none: each event counts 1."""
    sd: float | None = None
    """The spread (standard deviation) of a block's total; none: √baseline, that of a Poisson
    count."""

    @property
    def length_us(self) -> int:
        """`length` in microseconds."""
        return parse_duration(self.length)


class Experiment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """An A/B/n test of a page variant, an offer or a display placement.

    Units (visitors by default) are assigned deterministically from `seed` and their id; a
    unit is exposed when the site sends `Experiment Viewed`; it converts when it sends
    `metric` within `horizon` of its first exposure. `baseline` is the control's expected
    conversion rate and `mde` the smallest absolute lift worth detecting: with `alpha` and
    `power` they fix the sample size per arm, and no verdict is given before it is reached
    (no peeking). `guardrails` are events that must not fall significantly.
    """

    name: str
    """The experiment's unique name, as the site sends it (`experiment_name` of
    `Experiment Viewed`)."""
    description: str = ""
    """What is tested and why, shown on the Experiments page."""
    variants: list[Variant] = msgspec.field(
        default_factory=lambda: [Variant(name="control"), Variant(name="treatment")]
    )
    unit: Literal["anonymous_id", "user_id"] = "anonymous_id"
    """Who is assigned a variant: each visitor (`anonymous_id`) or each signed-in user
    (`user_id`)."""
    metric: str
    """The event that counts as a conversion (e.g. `Order Completed`)."""
    horizon: str = "1d"
    """A duration: how long after its first exposure a unit's conversion still counts."""
    baseline: float = 0.1
    """The control's expected conversion rate (with time blocks: its expected total per block)."""
    mde: float = 0.02
    """The smallest absolute lift worth detecting (0.02: two points); smaller needs more units."""
    alpha: float = 0.05
    """The false-positive rate accepted (0.05: 5 %), between 0 and 0.5."""
    power: float = 0.8
    """The chance of detecting a lift of `mde` when there is one (0.8: 80 %)."""
    guardrails: list[str] = []
    """Events that must not fall significantly in a variant (e.g. `Checkout Started`)."""
    seed: str | None = None
    """The seed of the assignment; none: the experiment's name. Change it to reshuffle the units."""
    blocks: TimeBlocks | None = None
    """Alternate by time block instead of assigning units (see `TimeBlocks`)."""

    @property
    def horizon_us(self) -> int:
        """`horizon` in microseconds."""
        return parse_duration(self.horizon)

    @property
    def control(self) -> str:
        """The first variant, the one the others are compared with."""
        return self.variants[0].name


def check(experiments: list[Experiment]) -> list[tuple[list[str | int], str]]:
    """Problems of the `experiments:` section as (key path, message) pairs."""
    problems: list[tuple[list[str | int], str]] = []
    seen: set[str] = set()
    for i, exp in enumerate(experiments):
        path: list[str | int] = ["experiments", i]
        if exp.name in seen:
            problems.append(([*path, "name"], f"{exp.name!r} is defined twice"))
        seen.add(exp.name)
        names = [v.name for v in exp.variants]
        if len(names) < 2 or len(set(names)) != len(names):
            problems.append(([*path, "variants"], "give at least two variants with distinct names"))
        if any(v.weight <= 0 for v in exp.variants):
            problems.append(([*path, "variants"], "every weight must be positive"))
        if exp.blocks is not None:
            problems += [([*path, "blocks", *key], why) for key, why in _check_blocks(exp)]
        elif not 0 < exp.baseline < 1 or not 0 < exp.baseline + exp.mde < 1 or exp.mde == 0:
            problems.append(([*path, "mde"], "baseline and baseline + mde must lie in (0, 1)"))
        if not 0 < exp.alpha < 0.5 or not 0.5 <= exp.power < 1:
            problems.append(([*path, "alpha"], "alpha must lie in (0, 0.5), power in [0.5, 1)"))
        try:
            exp.horizon_us  # noqa: B018 - parsing is the check
        except ValueError as exc:
            problems.append(([*path, "horizon"], str(exc)))
    return problems


def _check_blocks(exp: Experiment) -> list[tuple[list[str | int], str]]:
    """Problems of an experiment that alternates by time block."""
    blocks = exp.blocks
    assert blocks is not None
    problems: list[tuple[list[str | int], str]] = []
    try:
        if blocks.length_us < 60_000_000:
            problems.append((["length"], "a block lasts at least a minute, e.g. 1h"))
    except ValueError as exc:
        problems.append((["length"], str(exc)))
    if blocks.starts_at.tzinfo is None:
        problems.append((["starts_at"], "give a time zone, e.g. 2026-12-01T09:00:00+01:00"))
    if len({v.weight for v in exp.variants}) > 1:
        problems.append(([], "time blocks show every variant equally often: drop the weights"))
    if exp.baseline <= 0 or exp.mde == 0:
        problems.append(
            ([], "baseline (the expected total per block) must be > 0 and mde must not be 0")
        )
    if blocks.sd is not None and blocks.sd <= 0:
        problems.append((["sd"], "the spread of a block's total must be > 0"))
    return problems
