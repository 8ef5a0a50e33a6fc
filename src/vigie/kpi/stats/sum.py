"""The total of the values seen."""

from __future__ import annotations


class Sum:
    """The sum of the values; an empty sum is 0."""

    __slots__ = ("n", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.n = 0

    def update(self, x: float) -> None:
        self.total += x
        self.n += 1

    def revert(self, x: float) -> None:
        self.total -= x
        self.n -= 1
        if self.n == 0:
            self.total = 0.0  # drop the rounding error accumulated by add/subtract pairs

    def get(self) -> float:
        return self.total

    def weight(self) -> float:
        return float(self.n)

    def merge(self, other: Sum) -> None:
        self.total += other.total
        self.n += other.n

    def unmerge(self, other: Sum) -> None:
        self.total -= other.total
        self.n -= other.n
        if self.n == 0:
            self.total = 0.0

    def empty(self) -> Sum:
        return Sum()
