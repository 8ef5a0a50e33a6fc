"""Time-block alternation (issue 21), for what cannot be split between visitors: a display or
a street shows one variant per block; every cycle shows each variant once, in an order the
seed fixes; simulations where the truth is known keep false positives at alpha even with a
strong time-of-day pattern and daily refreshes, and find the declared effect with the
declared power."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.experiments import Experiment
from vigie.experiments.blocks import block_at, block_verdict, planned_blocks, variant_of_block
from vigie.experiments.config import check
from vigie.experiments.processor import ExperimentsProcessor

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
RUNS = 300
AMP = 0.2
"""How much pick-ups swing over the day (±20 %): a time-of-day pattern the blocks balance."""


def _experiment(**changes: object) -> Experiment:
    data: dict[str, object] = {
        "name": "display-aisle",
        "variants": [{"name": "aisle-4"}, {"name": "aisle-12"}],
        "metric": "Product Picked Up",
        "baseline": 20,
        "mde": 5,
        "blocks": {
            "length": "1h",
            "starts_at": START.isoformat(),
            "where": {"site": "shop-brussels"},
            "value": "count",
            "sd": 5,
        },
    }
    data.update(changes)
    return msgspec.convert(data, Experiment, strict=False)


EXP = _experiment()


def test_every_cycle_shows_each_variant_once_in_a_seeded_order() -> None:
    """Over 200 cycles of three variants each shows every variant once; the orders vary
    between cycles, and the same seed gives the same schedule again."""
    three = _experiment(variants=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    schedule = [variant_of_block(three, i) for i in range(600)]
    cycles = [schedule[i : i + 3] for i in range(0, 600, 3)]
    assert all(sorted(c) == ["a", "b", "c"] for c in cycles)
    assert len({tuple(c) for c in cycles}) == 6
    assert schedule == [variant_of_block(three, i) for i in range(600)]
    firsts = [c[0] for c in cycles]
    assert all(40 <= firsts.count(v) <= 93 for v in "abc")  # 66.7 ± 4 sd


def test_the_block_of_an_instant() -> None:
    """Block 25 runs from 01:00 to 02:00 on the second day; before the start there is none."""
    block = block_at(EXP, START + timedelta(hours=25, minutes=59))
    assert block is not None
    assert (block.index, block.starts_at, block.ends_at) == (
        25,
        START + timedelta(hours=25),
        START + timedelta(hours=26),
    )
    assert block.variant == variant_of_block(EXP, 25)
    assert block_at(EXP, START - timedelta(seconds=1)) is None


def test_the_planned_blocks_match_the_textbook_formula() -> None:
    """Blocks per variant for a change of 5 with a spread of 5 (d = 1): the normal
    approximation 2 ((z_0.975 + z_0.8) / d)^2 = 15.7, plus the t-test's small-sample
    correction (about one block): 17."""
    normal = 2 * ((1.959964 + 0.841621) / 1.0) ** 2
    assert math.ceil(normal) <= planned_blocks(EXP) <= math.ceil(normal) + 2


def _counts(
    processor: ExperimentsProcessor, rng: np.random.Generator, rates: dict[str, float], hours: int
) -> None:
    """One sensor event per hour with the number of pick-ups in it (Poisson), whose mean
    follows the time of day (busy afternoons) times the variant's effect; plus an event of
    another shop, which must not count."""
    events = []
    for hour in range(hours):
        variant = variant_of_block(EXP, hour)
        daily = 1 + AMP * math.sin(2 * math.pi * (hour % 24) / 24)
        at = START + timedelta(hours=hour, minutes=30)
        for site, rate in (("shop-brussels", rates[variant] * daily), ("shop-gent", 1000.0)):
            events.append(
                Event(
                    message_id=f"{hour}-{site}",
                    type="sensor",
                    source="rfid",
                    event="Product Picked Up",
                    site=site,
                    count=int(rng.poisson(rate)),
                    timestamp=at,
                    received_at=at,
                    offset=len(events) + 1,
                )
            )
    processor.process(events)


def test_false_positives_stay_at_alpha_with_a_daily_pattern_and_daily_refreshes() -> None:
    """300 A/A experiments with pick-ups that swing by ±20 % over the day, looked at every
    day for five days: a winner is declared in about 5 % of them at most (binomial bound)."""
    rng = np.random.default_rng(2126)
    positives = 0
    for _ in range(RUNS):
        clock = ManualClock(START)
        processor = ExperimentsProcessor([EXP], clock=clock)
        _counts(processor, rng, {"aisle-4": 20, "aisle-12": 20}, hours=24 * 5)
        declared = False
        for day in range(1, 6):
            clock.set(START + timedelta(days=day))
            found = processor.verdict(EXP.name)
            declared = declared or any(c.significant for c in found.comparisons)
        positives += declared
    assert found.status == "complete"
    rate = positives / RUNS
    assert rate <= 0.05 + 3 * (0.05 * 0.95 / RUNS) ** 0.5, rate


def test_the_declared_effect_is_found_with_the_declared_power() -> None:
    """With a steady 20 pick-ups an hour and the display adding the declared 5, the verdict
    at the planned sample is significant in at least 80 % of runs (less three binomial
    standard errors), and the interval covers the true change in about 95 %."""
    steady = _experiment(blocks=dict(msgspec.to_builtins(EXP.blocks), where={}))
    rng = np.random.default_rng(21)
    hours = 2 * planned_blocks(steady) + 2
    hits = covered = 0
    for _ in range(RUNS):
        clock = ManualClock(START + timedelta(hours=hours))
        processor = ExperimentsProcessor([steady], clock=clock)
        events = []
        for hour in range(hours):
            rate = 25 if variant_of_block(steady, hour) == "aisle-12" else 20
            at = START + timedelta(hours=hour, minutes=1)
            events.append(Event(message_id=str(hour), type="sensor", source="rfid",
                                event="Product Picked Up", count=int(rng.poisson(rate)),
                                timestamp=at, received_at=at))  # fmt: skip
        processor.process(events)
        found = processor.verdict(steady.name)
        assert found.status == "complete" and found.design == "time_blocks"
        (comparison,) = found.comparisons
        hits += comparison.significant and comparison.lift > 0
        covered += comparison.low <= 5 <= comparison.high
    assert hits / RUNS >= 0.8 - 3 * (0.8 * 0.2 / RUNS) ** 0.5
    assert covered / RUNS >= 0.95 - 3 * (0.95 * 0.05 / RUNS) ** 0.5


def test_no_verdict_before_the_planned_blocks_and_a_sentence_in_both_languages() -> None:
    """After ten hours the verdict is running (no peeking); after the planned blocks it
    speaks of pick-ups per 1h block in English and French; only complete blocks count."""
    clock = ManualClock(START + timedelta(hours=10, minutes=30))
    processor = ExperimentsProcessor([EXP], clock=clock)
    _counts(processor, np.random.default_rng(5), {"aisle-4": 10, "aisle-12": 40}, hours=72)
    early = processor.verdict(EXP.name)
    assert early.status == "running" and early.comparisons == []
    assert sum(a.exposed for a in early.arms) == 10
    assert "no peeking" in early.sentence["en"] and "pas de coup d'œil" in early.sentence["fr"]
    clock.set(START + timedelta(hours=72))
    found = processor.verdict(EXP.name)
    (comparison,) = found.comparisons
    assert comparison.significant
    assert "aisle-12 raised Product Picked Up from" in comparison.sentence["en"]
    assert "per 1h block" in comparison.sentence["en"]
    assert "par bloc de 1h" in comparison.sentence["fr"]
    assert [a.exposed for a in found.arms] == [planned_blocks(EXP)] * 2


def test_a_bad_block_design_is_refused_naming_the_key() -> None:
    """A ten-second block, a naive start, unequal weights and a zero baseline are each named."""
    bad = _experiment(
        variants=[{"name": "a", "weight": 2}, {"name": "b"}],
        baseline=0,
        blocks={"length": "10s", "starts_at": "2026-12-01T00:00:00"},
    )
    problems = check([bad])
    keys = [".".join(str(p) for p in path) for path, _ in problems]
    assert "experiments.0.blocks.length" in keys
    assert "experiments.0.blocks.starts_at" in keys
    messages = " ".join(why for _, why in problems)
    assert "drop the weights" in messages and "baseline" in messages


def test_blocks_without_any_spread_give_an_exact_difference() -> None:
    """Every block of a variant counting the same: the difference is exact (no NaN), and
    significant only when the variants differ."""
    n = planned_blocks(EXP)
    differ = block_verdict(EXP, {"aisle-4": [20.0] * n, "aisle-12": [27.0] * n})
    (comparison,) = differ.comparisons
    assert (comparison.lift, comparison.low, comparison.high) == (7.0, 7.0, 7.0)
    assert comparison.significant
    same = block_verdict(EXP, {"aisle-4": [20.0] * n, "aisle-12": [20.0] * n})
    assert not same.comparisons[0].significant and same.comparisons[0].p_value == 1.0
