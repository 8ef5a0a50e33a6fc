"""A ratio of two totals, e.g. a conversion rate (orders / checkouts) or a cost per click."""

from __future__ import annotations


class Ratio:
    """Sum of numerators over sum of denominators; undefined (None) while the latter is 0.

    Each value is a pair `(a, b)`: what one event adds to the numerator and to the
    denominator (an event can count in both, as a click does in a cost per click).
    """

    __slots__ = ("den", "num")

    def __init__(self) -> None:
        self.num = 0.0
        self.den = 0.0

    def update(self, x: tuple[float, float]) -> None:
        self.num += x[0]
        self.den += x[1]

    def revert(self, x: tuple[float, float]) -> None:
        self.num -= x[0]
        self.den -= x[1]

    def get(self) -> float | None:
        return self.num / self.den if self.den > 1e-12 else None

    def weight(self) -> float:
        return float(self.den)

    def merge(self, other: Ratio) -> None:
        self.num += other.num
        self.den += other.den

    def unmerge(self, other: Ratio) -> None:
        self.num -= other.num
        self.den -= other.den
        if abs(self.den) < 1e-9:
            self.den = 0.0
        if abs(self.num) < 1e-9:
            self.num = 0.0

    def empty(self) -> Ratio:
        return Ratio()
