"""Kinds of business sources found through the `vigie.sources` entry points, Vigie's own
included: a third party's source package declares

    [project.entry-points."vigie.sources"]
    hubspot = "vigie_hubspot:HubSpot"

and `inbound: [{name: crm, kind: hubspot, secret: …}]` in `vigie.yaml` uses it."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points

from vigie.sources.base import SourceKind

GROUP = "vigie.sources"


class UnknownKind(KeyError):
    """No source of that kind is installed."""


class SourceRegistry:
    """Kinds of sources by name; `from_entry_points()` loads every installed one."""

    def __init__(self, kinds: Iterable[SourceKind] = ()) -> None:
        self._kinds: dict[str, SourceKind] = {}
        for kind in kinds:
            self.add(kind)

    @classmethod
    def from_entry_points(cls, extra: Iterable[SourceKind] = ()) -> SourceRegistry:
        """Every kind installed under the `vigie.sources` group, plus `extra`."""
        registry = cls()
        for point in entry_points(group=GROUP):
            kind: SourceKind = point.load()()
            if kind.name != point.name:
                raise ValueError(
                    f"entry point {point.name!r} loads source kind {kind.name!r}; names must agree"
                )
            registry.add(kind)
        for kind in extra:
            registry.add(kind)
        return registry

    def add(self, kind: SourceKind) -> None:
        """Register `kind`, replacing an earlier one of the same name."""
        self._kinds[kind.name] = kind

    def names(self) -> list[str]:
        """Names of the registered kinds, sorted."""
        return sorted(self._kinds)

    def get(self, name: str) -> SourceKind:
        """The kind called `name`; `UnknownKind` names the ones there are."""
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownKind(
                f"no source kind {name!r}; installed: {', '.join(self.names()) or 'none'}"
            ) from None
