"""Actions found through the `vigie.actions` entry points, Vigie's own included."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import msgspec

from vigie.playbooks.actions.base import Action

GROUP = "vigie.actions"


class UnknownAction(KeyError):
    """No action of that name is installed."""


class ActionRegistry:
    """Actions by name; `from_entry_points()` loads every installed one."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.add(action)

    @classmethod
    def from_entry_points(cls, extra: Iterable[Action] = ()) -> ActionRegistry:
        """Every action installed under the `vigie.actions` group, plus `extra`."""
        registry = cls()
        for point in entry_points(group=GROUP):
            factory = point.load()
            action: Action = factory()
            if action.name != point.name:
                raise ValueError(
                    f"entry point {point.name!r} loads action {action.name!r}; names must agree"
                )
            registry.add(action)
        for action in extra:
            registry.add(action)
        return registry

    def add(self, action: Action) -> None:
        """Register `action`, replacing an earlier one of the same name."""
        self._actions[action.name] = action

    def names(self) -> list[str]:
        """Names of the registered actions, sorted."""
        return sorted(self._actions)

    def get(self, name: str) -> Action:
        """The action called `name`; `UnknownAction` names the ones there are."""
        try:
            return self._actions[name]
        except KeyError:
            raise UnknownAction(
                f"no action {name!r}; installed: {', '.join(self.names())}"
            ) from None

    def params(self, name: str, raw: dict[str, Any]) -> Any:
        """`raw` converted to the parameters of action `name` (strings to numbers allowed)."""
        action = self.get(name)
        return msgspec.convert(raw, action.params_type, strict=False)
