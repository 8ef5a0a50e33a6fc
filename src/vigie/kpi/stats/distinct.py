"""How many different values were seen (exact, with multiplicities so it can be reverted)."""

from __future__ import annotations

from collections.abc import Hashable


class DistinctCount:
    """The number of distinct values, e.g. visitors (anonymous ids) in a window."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: dict[Hashable, int] = {}

    def update(self, x: Hashable) -> None:
        self.seen[x] = self.seen.get(x, 0) + 1

    def revert(self, x: Hashable) -> None:
        left = self.seen[x] - 1
        if left:
            self.seen[x] = left
        else:
            del self.seen[x]

    def get(self) -> float:
        return float(len(self.seen))

    def weight(self) -> float:
        return float(len(self.seen))

    def merge(self, other: DistinctCount) -> None:
        seen = self.seen
        for x, n in other.seen.items():
            seen[x] = seen.get(x, 0) + n

    def unmerge(self, other: DistinctCount) -> None:
        seen = self.seen
        for x, n in other.seen.items():
            left = seen[x] - n
            if left:
                seen[x] = left
            else:
                del seen[x]

    def empty(self) -> DistinctCount:
        return DistinctCount()
