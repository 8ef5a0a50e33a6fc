"""The groups a batch touched, per metric: what `KpiEngine.ingest` returns.

The rules read the groups of their own metrics only, so each metric's set of group keys is
built when first read, from the batch's group key numbers.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, ValuesView
from operator import itemgetter
from typing import Any

from vigie.kpi.panes import Ints


class Touched(dict[str, set[str]]):
    """A dict of metric name -> group keys touched, whose sets are built when read.

    `later(metric, names, kids)` files a metric whose groups are `names[k]` for the key
    numbers `kids`; the metric is a key at once and its set is made on first access. Every
    way of reading a value goes through `__getitem__`, so the dict behaves as a plain one
    (copies, comparisons and `dict(...)` see the built sets).
    """

    __slots__ = ("_todo",)

    def __init__(self) -> None:
        super().__init__()
        self._todo: dict[str, tuple[list[str], Ints]] = {}

    def later(self, metric: str, names: list[str], kids: Ints) -> None:
        """Touch the groups `names[k]` of `metric` for the key numbers `kids` (not empty)."""
        self._todo[metric] = (names, kids)
        super().__setitem__(metric, _UNBUILT)

    def _build(self, metric: str) -> set[str]:
        names, kids = self._todo.pop(metric)
        found = itemgetter(*kids.tolist())(names)
        groups = {found} if len(kids) == 1 else set(found)
        super().__setitem__(metric, groups)
        return groups

    def _build_all(self) -> None:
        for metric in list(self._todo):
            self._build(metric)

    def __getitem__(self, metric: str) -> set[str]:
        if metric in self._todo:
            return self._build(metric)
        return super().__getitem__(metric)

    def get(self, metric: str, default: Any = None) -> Any:
        """The groups of `metric`, or `default` when the batch touched none."""
        if metric in self._todo:
            return self._build(metric)
        return super().get(metric, default)

    def __setitem__(self, metric: str, groups: set[str]) -> None:
        self._todo.pop(metric, None)
        super().__setitem__(metric, groups)

    def __delitem__(self, metric: str) -> None:
        self._todo.pop(metric, None)
        super().__delitem__(metric)

    def __iter__(self) -> Iterator[str]:
        # Overriding iteration makes `dict(touched)` and `{**touched}` read through
        # `__getitem__` instead of copying the unbuilt values.
        return super().__iter__()

    def values(self) -> ValuesView[set[str]]:  # type: ignore[override]
        self._build_all()
        return super().values()

    def items(self) -> ItemsView[str, set[str]]:  # type: ignore[override]
        self._build_all()
        return super().items()

    def pop(self, metric: str, *default: Any) -> Any:
        if metric in self._todo:
            self._build(metric)
        return super().pop(metric, *default)

    def popitem(self) -> tuple[str, set[str]]:
        self._build_all()
        return super().popitem()

    def setdefault(self, metric: str, default: Any = None) -> Any:
        if metric in self._todo:
            return self._build(metric)
        return super().setdefault(metric, default)

    def copy(self) -> dict[str, set[str]]:
        self._build_all()
        return dict(super().items())

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._build_all()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Touched:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        self._todo.clear()
        super().clear()

    def __eq__(self, other: object) -> bool:
        self._build_all()
        if isinstance(other, Touched):
            other._build_all()
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        self._build_all()
        return super().__repr__()

    def __or__(self, other: Any) -> Any:
        self._build_all()
        return dict(super().items()) | other

    def __ror__(self, other: Any) -> Any:
        self._build_all()
        return other | dict(super().items())

    def __reduce__(self) -> Any:
        self._build_all()
        return (dict, (dict(super().items()),))


_UNBUILT: set[str] = set()
