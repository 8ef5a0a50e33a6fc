"""The `offer` action: start an offer for a zone, aisle, campaign or segment for a while,
and announce it by webhook. (Minimal table; the CRM's offers entity absorbs it later.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.playbooks.actions.port import Offer


class OfferParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What is offered, to whom (`scope` and `target`), for how long, announced where."""

    scope: Literal["zone", "aisle", "campaign", "segment"]
    target: str
    title: str
    duration_minutes: float = 60.0
    details: dict[str, Any] = {}
    announce: str | None = None
    display: str | None = None
    """With `scope: aisle`: the promotional display the offer goes with, moved to the
    `target` aisle (its previous placement ends: the old aisle's promotion stops)."""


class StartOffer:
    """`offer`: record the offer once per step, then announce it."""

    name: ClassVar[str] = "offer"
    params_type: ClassVar[type[msgspec.Struct]] = OfferParams

    def run(self, params: OfferParams, context: ActionContext) -> dict[str, Any]:
        now = context.clock.now()
        ends = now + timedelta(minutes=params.duration_minutes)
        offer_id = context.port.once(
            Offer(
                scope=params.scope,
                target=params.target,
                title=params.title,
                details=params.details,
                starts_at=now,
                ends_at=ends,
            )
        )
        result: dict[str, Any] = {"offer_id": offer_id, "ends_at": ends.isoformat()}
        if params.display is not None:
            if params.scope != "aisle":
                raise ActionError("a display moves to an aisle: use scope: aisle", retryable=False)
            left = context.port.move_display(params.display, to=params.target, reason=params.title)
            result["display"] = {"display": params.display, "from": left, "to": params.target}
        if params.announce:
            result["announced"] = context.port.send_event(
                endpoint=params.announce,
                type="be.vigie.offer.started",
                subject=f"{params.scope}/{params.target}",
                data={
                    "offer_id": offer_id,
                    "scope": params.scope,
                    "target": params.target,
                    "title": params.title,
                    "details": params.details,
                    "starts_at": now.isoformat(),
                    "ends_at": ends.isoformat(),
                },
            )
        return result
