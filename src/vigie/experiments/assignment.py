"""Deterministic assignment: the same unit always lands in the same variant, on every
server, across restarts and replays, with no stored state.

The rule, for anyone who wants to reproduce it outside Vigie: take SHA-256 of
`"{seed}:{unit}"` (seed defaults to the experiment's name), read its first 8 bytes as a
big-endian integer, divide by 2^64, and walk the variants' cumulative normalised weights.
"""

from __future__ import annotations

import hashlib

from vigie.experiments.config import Experiment


def bucket(seed: str, unit: str) -> float:
    """A uniform number in [0, 1) fixed by `seed` and `unit`."""
    digest = hashlib.sha256(f"{seed}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, unit: str) -> str:
    """The variant of `experiment` that `unit` belongs to."""
    point = bucket(experiment.seed or experiment.name, unit)
    total = sum(v.weight for v in experiment.variants)
    edge = 0.0
    for variant in experiment.variants:
        edge += variant.weight / total
        if point < edge:
            return variant.name
    return experiment.variants[-1].name
