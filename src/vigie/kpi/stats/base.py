"""The protocol every streaming statistic follows."""

from __future__ import annotations

from typing import Any, Protocol, Self


class Statistic(Protocol):
    """A small stateful aggregate: feed values in, take some back out, read the result.

    `merge`/`unmerge` add or remove everything another instance of the same class saw,
    which is how a sliding window moves by a whole slide (pane) at a time.
    """

    def update(self, x: Any) -> None: ...

    def revert(self, x: Any) -> None: ...

    def get(self) -> float | None: ...

    def weight(self) -> float:
        """How much lies behind `get`: the events counted, or a ratio's denominator."""
        ...

    def merge(self, other: Self) -> None: ...

    def unmerge(self, other: Self) -> None: ...

    def empty(self) -> Self: ...
