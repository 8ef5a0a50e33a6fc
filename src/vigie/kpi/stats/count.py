"""How many values were seen."""

from __future__ import annotations

from typing import Any


class Count:
    """The number of values (the values themselves are ignored)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def update(self, x: Any = None) -> None:
        self.n += 1

    def revert(self, x: Any = None) -> None:
        self.n -= 1

    def get(self) -> float:
        return float(self.n)

    def weight(self) -> float:
        return float(self.n)

    def merge(self, other: Count) -> None:
        self.n += other.n

    def unmerge(self, other: Count) -> None:
        self.n -= other.n

    def empty(self) -> Count:
        return Count()
