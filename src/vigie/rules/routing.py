"""Hand each event-fed tracker only the events its `where` can match.

Vigie adds one `absence` rule per sensor device (`sensor-silent-<id>`, pinned to
`properties.device`), so a shop of N readers had every RFID read checked by N filters: a
cost per read that grew with the size of the shop (20 readers: 20 filter calls per read,
about half of `vigie bench sensors`' time). The router reads the field that most trackers
pin to a few values once per event and looks the trackers up by its value; the others still
see every event. Each tracker then applies its own whole filter, so routing only narrows
what it is shown, never what it counts.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from vigie.events import Event
from vigie.kpi.metrics import accessor


class Fed(Protocol):
    """A tracker that notes the events it is handed."""

    def feed(self, events: Iterable[Event]) -> None: ...


T = TypeVar("T", bound=Fed)


def _pinned(where: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields of `where` pinned to listed values (`event` is matched by name)."""
    pinned: dict[str, list[Any]] = {}
    for path, expected in where.items():
        values = expected if isinstance(expected, list) else [expected]
        if path != "event" and values:
            pinned[path] = values
    return pinned


def _keys(value: Any) -> list[Hashable]:
    """What a value is looked up by: itself and its text (as `Filter` compares both)."""
    keys: list[Hashable] = [str(value)]
    try:
        hash(value)
    except TypeError:
        return keys
    keys.append(value)
    return keys


class Router(Generic[T]):
    """Feeds `trackers`, each with the `where` of its rule, by one index on the field they
    pin most often."""

    def __init__(self, trackers: Sequence[tuple[T, dict[str, Any]]]) -> None:
        # The field that tells the most trackers apart: the most distinct pinned values
        # (`source: sensors` is pinned by every device's rule and tells none apart).
        values: dict[str, set[str]] = {}
        for _, where in trackers:
            for path, listed in _pinned(where).items():
                values.setdefault(path, set()).update(str(v) for v in listed)
        self.path: str | None = None
        self._read: Callable[[Event], Any] | None = None
        self._index: dict[Hashable, list[T]] = {}
        self._everywhere: list[T] = []
        # An index pays off only when it spares filters: two values or more on a field.
        best = max(values.items(), key=lambda item: len(item[1]), default=None)
        if best is not None and len(best[1]) > 1:
            self.path = best[0]
            self._read = accessor(self.path)
        for tracker, where in trackers:
            pinned = _pinned(where).get(self.path) if self.path is not None else None
            if pinned is None:
                self._everywhere.append(tracker)
                continue
            for value in pinned:
                for key in _keys(value):
                    listed = self._index.setdefault(key, [])
                    if tracker not in listed:
                        listed.append(tracker)

    def feed(self, events: Sequence[Event]) -> None:
        """Hand every tracker the events that can match its filter, in their order."""
        for tracker in self._everywhere:
            tracker.feed(events)
        if self._read is None or not self._index:
            return
        routed: dict[int, tuple[T, list[Event]]] = {}
        index, read = self._index, self._read
        for event in events:
            for key in _keys(read(event)):
                for tracker in index.get(key, ()):
                    entry = routed.get(id(tracker))
                    if entry is None:
                        routed[id(tracker)] = (tracker, [event])
                    elif entry[1][-1] is not event:
                        entry[1].append(event)
        for tracker, mine in routed.values():
            tracker.feed(mine)
