"""The `page.flag` action: mark a landing page as needing review, with the evidence."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext
from vigie.playbooks.actions.port import PageFlag


class FlagPageParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The page, why it needs review, and the evidence (the alert's values by default)."""

    page: str
    reason: str = "needs review / à revoir"
    evidence: dict[str, Any] | None = None


class FlagPage:
    """`page.flag`: record the flag once per step."""

    name: ClassVar[str] = "page.flag"
    params_type: ClassVar[type[msgspec.Struct]] = FlagPageParams

    def run(self, params: FlagPageParams, context: ActionContext) -> dict[str, Any]:
        evidence = (
            params.evidence
            if params.evidence is not None
            else {
                "rule": context.trigger.rule,
                "values": context.trigger.values,
                "labels": context.trigger.labels,
            }
        )
        flag_id = context.port.once(
            PageFlag(page=params.page, reason=params.reason, evidence=evidence)
        )
        return {"flag_id": flag_id, "page": params.page}
