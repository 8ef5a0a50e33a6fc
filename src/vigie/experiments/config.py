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
    weight: float = 1.0


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
    starts_at: datetime
    where: dict[str, str] = {}
    value: str | None = None
    sd: float | None = None

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
    description: str = ""
    variants: list[Variant] = msgspec.field(
        default_factory=lambda: [Variant(name="control"), Variant(name="treatment")]
    )
    unit: Literal["anonymous_id", "user_id"] = "anonymous_id"
    metric: str
    horizon: str = "1d"
    baseline: float = 0.1
    mde: float = 0.02
    alpha: float = 0.05
    power: float = 0.8
    guardrails: list[str] = []
    seed: str | None = None
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
