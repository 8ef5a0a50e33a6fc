"""Anomaly detectors: streaming models of what a series usually does, one per rule and group.

A detector sees a series one sample at a time. `score` says how surprising a value is at
an instant without learning from it (a live window is read many times before it closes);
`learn` files a sample once it is final. Vigie's own detector (`seasonal.RobustSeasonal`)
goes through this door, as a third party's would.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

SeasonalityChoice = Literal["auto", "none", "daily", "weekly", "both"]
Direction = Literal["both", "up", "down"]


class Verdict(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How a value compares with what the detector expected at that instant.

    `p_value` is the tail probability of a deviation at least this large (in the watched
    `direction`) under the learned model, so one threshold means the same on every series;
    `low`/`high` are the band a value must leave to reach the rule's threshold. Before the
    warm-up (`ready` False) the verdict explains but never fires.
    """

    observed: float
    expected: float
    low: float
    high: float
    scale: float
    z: float
    p_value: float
    seasonality: str
    samples: int
    ready: bool


class Detector(Protocol):
    """A streaming model of one series: score a value, learn a final sample."""

    def score(self, at_us: int, value: float) -> Verdict:
        """How surprising `value` is at `at_us`, without learning from it."""
        ...

    def learn(self, at_us: int, value: float) -> None:
        """File the final value of the sample at `at_us` (samples come in time order)."""
        ...
