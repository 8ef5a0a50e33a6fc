"""The groups a batch touched, per metric: what `KpiEngine.ingest` returns.

The rules read the groups of their own metrics only, so each metric's set of group keys is
built when first read, from the batch's group key numbers (building them all was ~8 % of
ingest).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import itemgetter

from vigie.kpi.panes import Ints


class ChangedGroups(Mapping[str, set[str]]):
    """Metric name -> group keys touched, read-only; each set is built when first read.

    A `Mapping`, not a dict: whatever reads it goes through `__getitem__` (a dict subclass
    can be read from C without it, and would show the sets unbuilt).
    """

    __slots__ = ("_built", "_todo")

    def __init__(self) -> None:
        self._built: dict[str, set[str]] = {}
        self._todo: dict[str, tuple[list[str], Ints]] = {}

    def add(self, metric: str, groups: set[str]) -> None:
        """Touch `groups` of `metric`, already built."""
        self._todo.pop(metric, None)
        self._built[metric] = groups

    def later(self, metric: str, names: list[str], kids: Ints) -> None:
        """Touch the groups `names[k]` of `metric` for the key numbers `kids` (not empty)."""
        self._built.pop(metric, None)
        self._todo[metric] = (names, kids)

    def __getitem__(self, metric: str) -> set[str]:
        found = self._built.get(metric)
        if found is None:
            names, kids = self._todo.pop(metric)  # KeyError: not touched
            picked = itemgetter(*kids.tolist())(names)
            found = self._built[metric] = {picked} if len(kids) == 1 else set(picked)
        return found

    def __contains__(self, metric: object) -> bool:
        return metric in self._built or metric in self._todo

    def __iter__(self) -> Iterator[str]:
        return iter([*self._built, *self._todo])

    def __len__(self) -> int:
        return len(self._built) + len(self._todo)

    def __repr__(self) -> str:
        return f"ChangedGroups({dict(self.items())!r})"
