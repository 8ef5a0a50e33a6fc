"""Playbooks as written in vigie.yaml: named, triggered by rules, a list of steps."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from vigie.playbooks.holdouts import Holdout
from vigie.playbooks.trigger import PlaybookTrigger


class Trigger(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which alerts start the playbook: a rule's name and the statuses to act on."""

    rule: str
    status: list[Literal["firing", "resolved"]] = msgspec.field(default_factory=lambda: ["firing"])


class Step(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One action of a playbook.

    `when` is a condition over the alert (e.g. `values.conversion_rate < 0.02`); strings in
    `params` are templates over it (e.g. `"{{ labels.page }}"`). A failed step is tried
    `retries` more times, waiting `retry_delay_seconds`, doubled at each attempt.
    """

    action: str
    name: str | None = None
    when: str | None = None
    params: dict[str, Any] = {}
    retries: int = 0
    retry_delay_seconds: float = 1.0
    continue_on_error: bool = False
    holdout: Holdout | None = None
    """A control group: the share of the units this step acts on that it leaves alone, to
    measure its effect (`vigie.playbooks.holdouts`)."""

    def label(self, index: int) -> str:
        """The step's name, or its position and action when it has none."""
        return self.name or f"{index + 1}-{self.action}"


class Playbook(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A named response to alerts, written in advance and run by Vigie."""

    name: str
    description: str | None = None
    triggers: list[Trigger] = []
    steps: list[Step]
    enabled: bool = True

    def matches(self, trigger: PlaybookTrigger) -> bool:
        """True when `trigger` should run this playbook."""
        if not self.enabled:
            return False
        if trigger.playbook is not None:
            return trigger.playbook == self.name
        return any(t.rule == trigger.rule and trigger.status in t.status for t in self.triggers)
