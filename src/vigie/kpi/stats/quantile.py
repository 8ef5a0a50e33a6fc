"""An exact quantile (e.g. the 90th percentile of first-response times) of the values seen."""

from __future__ import annotations

import bisect
import math


class Quantile:
    """The `q`-quantile (0..1) with linear interpolation, as `numpy.quantile` computes it.

    Values are kept sorted, so `revert` is exact; windows of a few thousand values stay cheap.
    """

    __slots__ = ("q", "values")

    def __init__(self, q: float = 0.5) -> None:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is between 0 and 1, not {q}")
        self.q = q
        self.values: list[float] = []

    def update(self, x: float) -> None:
        bisect.insort(self.values, x)

    def revert(self, x: float) -> None:
        i = bisect.bisect_left(self.values, x)
        if i == len(self.values) or self.values[i] != x:
            raise ValueError(f"{x} was never added")
        del self.values[i]

    def get(self) -> float | None:
        values = self.values
        if not values:
            return None
        position = self.q * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    def weight(self) -> float:
        return float(len(self.values))

    def merge(self, other: Quantile) -> None:
        if len(other.values) > len(self.values):
            self.values = sorted(self.values + other.values)
        else:
            for x in other.values:
                bisect.insort(self.values, x)

    def unmerge(self, other: Quantile) -> None:
        for x in other.values:
            self.revert(x)

    def empty(self) -> Quantile:
        return Quantile(self.q)
