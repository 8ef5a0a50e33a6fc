"""The `offer` action: start an offer for a zone, aisle, campaign or segment for a while,
and announce it by webhook. (Minimal table; the CRM's offers entity absorbs it later.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

import msgspec
import sqlalchemy as sa

from vigie.playbooks.actions.base import ActionContext, inserted_id
from vigie.playbooks.actions.webhook import send_event
from vigie.store.schema import Offset, metadata
from vigie.types import to_us

offers = sa.Table(
    "playbook_offers",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("starts_at_us", sa.BigInteger, nullable=False),
    sa.Column("ends_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
)


class OfferParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What is offered, to whom (`scope` and `target`), for how long, announced where."""

    scope: Literal["zone", "aisle", "campaign", "segment"]
    target: str
    title: str
    duration_minutes: float = 60.0
    details: dict[str, Any] = {}
    announce: str | None = None


class StartOffer:
    """`offer`: record the offer once per step, then announce it."""

    name: ClassVar[str] = "offer"
    params_type: ClassVar[type[msgspec.Struct]] = OfferParams

    def run(self, params: OfferParams, context: ActionContext) -> dict[str, Any]:
        now = context.clock.now()
        ends = now + timedelta(minutes=params.duration_minutes)
        with context.engine.begin() as conn:
            offer_id = conn.execute(
                sa.select(offers.c.id).where(offers.c.key == context.key)
            ).scalar()
            if offer_id is None:
                offer_id = inserted_id(
                    conn.execute(
                        offers.insert().values(
                            key=context.key,
                            scope=params.scope,
                            target=params.target,
                            title=params.title,
                            details=msgspec.json.encode(params.details).decode(),
                            starts_at_us=to_us(now),
                            ends_at_us=to_us(ends),
                            run_id=context.run_id,
                        )
                    )
                )
        result: dict[str, Any] = {"offer_id": offer_id, "ends_at": ends.isoformat()}
        if params.announce:
            result["announced"] = send_event(
                context,
                endpoint_name=params.announce,
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
