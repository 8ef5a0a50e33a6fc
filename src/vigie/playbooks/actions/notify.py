"""The `notify` action: a message to a person or a team, by e-mail and in the app,
governed by their schedules (held when they are off duty, rerouted when urgent)."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext
from vigie.schedule import decide


class NotifyParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`to` is a person or team of `schedule:`; `urgent` lets it reach whoever is on duty."""

    to: str
    subject: str
    body: str = ""
    urgent: bool = False


class Notify:
    """`notify`: hand the message to the schedule's dispatcher, through the port."""

    name: ClassVar[str] = "notify"
    params_type: ClassVar[type[msgspec.Struct]] = NotifyParams

    def run(self, params: NotifyParams, context: ActionContext) -> dict[str, Any]:
        records = context.port.notify(
            to=params.to, subject=params.subject, body=params.body, urgent=params.urgent
        )
        return {
            "notifications": [
                {
                    "id": r.id,
                    "recipient": r.recipient,
                    "status": r.status,
                    "hold_until": r.hold_until.isoformat() if r.hold_until else None,
                }
                for r in records
            ]
        }

    def describe(self, params: NotifyParams, context: ActionContext) -> str:
        """Who would get it and when, under the schedules and the company policy."""
        parts = []
        for d in decide(
            context.schedule, recipient=params.to, urgent=params.urgent, at=context.clock.now()
        ):
            when = d.deliver_at.isoformat() if d.deliver_at else "never"
            parts.append(f"{d.outcome} -> {d.recipient or params.to} at {when} ({d.reason})")
        return "; ".join(parts)
