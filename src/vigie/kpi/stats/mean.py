"""The arithmetic mean of the values seen."""

from __future__ import annotations


class Mean:
    """The average of the values; undefined (None) when there are none."""

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
            self.total = 0.0

    def get(self) -> float | None:
        return self.total / self.n if self.n else None

    def weight(self) -> float:
        return float(self.n)

    def merge(self, other: Mean) -> None:
        self.total += other.total
        self.n += other.n

    def unmerge(self, other: Mean) -> None:
        self.total -= other.total
        self.n -= other.n
        if self.n == 0:
            self.total = 0.0

    def empty(self) -> Mean:
        return Mean()
