"""Crowds in city zones: density against capacity, congestion with hysteresis, and the
neighbouring zone to send people to. Pure, over plain numbers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec


class Congestion(msgspec.Struct, kw_only=True):
    """A zone's congestion, with hysteresis: it becomes congested at `above` and clears only
    below `below`, so a density that wobbles around one threshold does not flap."""

    above: float
    below: float
    congested: bool = False

    def update(self, density: float) -> bool:
        """Fold one density reading; whether the zone is congested after it."""
        if self.congested and density < self.below:
            self.congested = False
        elif not self.congested and density >= self.above:
            self.congested = True
        return self.congested


def density(count: int, capacity: int) -> float:
    """People per unit of capacity: 1.0 is a zone at capacity."""
    return count / capacity if capacity > 0 else 0.0


def quietest(neighbours: Iterable[str], densities: Mapping[str, float]) -> str | None:
    """The neighbour with the lowest live density (ties by name); None when none is counted."""
    counted = [(densities[n], n) for n in neighbours if n in densities]
    return min(counted)[1] if counted else None
