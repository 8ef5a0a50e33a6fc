"""Playbooks as written in vigie.yaml: named, triggered by rules, a list of steps."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from vigie.playbooks.holdouts import Holdout
from vigie.playbooks.trigger import PlaybookTrigger


class Trigger(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which alerts start the playbook: a rule's name and the statuses to act on."""

    rule: str
    """The name of the rule whose alerts start the playbook."""
    status: list[Literal["firing", "resolved"]] = msgspec.field(default_factory=lambda: ["firing"])
    """The alert changes that start it: `firing`, `resolved` or both."""


class Step(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One action of a playbook.

    `when` is a condition over the alert (e.g. `values.conversion_rate < 0.02`); strings in
    `params` are templates over it (e.g. `"{{ labels.page }}"`). A failed step is tried
    `retries` more times, waiting `retry_delay_seconds`, doubled at each attempt.
    """

    action: str
    """The action run: `notify`, `task`, `reassign`, `offer`, `page.flag`, `chat.invite`,
    `broadcast`, `screen`, `webhook`, or a plugin's."""
    name: str | None = None
    """The step's name in run records, holdouts and the dashboard; none: its position and action
    (`1-notify`)."""
    when: str | None = None
    """A condition over the alert (e.g. `values.conversion_rate < 0.02`); when false the step is
    skipped; none: always run."""
    params: dict[str, Any] = {}
    """The action's parameters; strings are templates over the alert (e.g.
    `"{{ labels.page }}"`)."""
    retries: int = 0
    """How many more times a failed step is tried."""
    retry_delay_seconds: float = 1.0
    """Seconds before the first retry, doubled at each next one."""
    continue_on_error: bool = False
    """Whether the run goes on to the next steps when this one fails for good; `false`: the run
    stops as failed."""
    holdout: Holdout | None = None
    """A control group: the share of the units this step acts on that it leaves alone, to
    measure its effect (`vigie.playbooks.holdouts`)."""

    def label(self, index: int) -> str:
        """The step's name, or its position and action when it has none."""
        return self.name or f"{index + 1}-{self.action}"


class Playbook(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A named response to alerts, written in advance and run by Vigie."""

    name: str
    """The playbook's unique name, used by rules (`playbook:`), its runs and `vigie playbooks`."""
    description: str | None = None
    """Free text saying what the playbook does and when, for whoever reads the file."""
    triggers: list[Trigger] = []
    steps: list[Step]
    enabled: bool = True
    """Whether alerts start it; `false` keeps it in the file without running it."""

    def matches(self, trigger: PlaybookTrigger) -> bool:
        """True when `trigger` should run this playbook."""
        if not self.enabled:
            return False
        if trigger.playbook is not None:
            return trigger.playbook == self.name
        return any(t.rule == trigger.rule and trigger.status in t.status for t in self.triggers)
