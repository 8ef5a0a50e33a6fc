"""What starts a playbook: an alert firing or resolving, or a person by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

TriggerStatus = Literal["firing", "resolved"]


class PlaybookTrigger(msgspec.Struct, kw_only=True, frozen=True):
    """An alert's change as the playbooks see it.

    `fingerprint` and `at` (when the alert started firing, or resolved) identify one
    firing: handling the same trigger twice, even across a restart, runs nothing twice.
    `playbook` names the playbook a rule asks for; without it, playbooks whose `triggers:` match
    the rule run.
    """

    rule: str
    status: TriggerStatus
    fingerprint: str
    at: datetime
    labels: dict[str, str] = {}
    values: dict[str, Any] = {}
    annotations: dict[str, str] = {}
    severity: str | None = None
    playbook: str | None = None
