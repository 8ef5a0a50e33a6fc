"""The `page.flag` action: mark a landing page as needing review, with the evidence."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa

from vigie.playbooks.actions.base import ActionContext, inserted_id
from vigie.store.schema import Offset, metadata
from vigie.types import to_us

page_flags = sa.Table(
    "page_flags",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("page", sa.String(500), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
)


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
        with context.engine.begin() as conn:
            existing = conn.execute(
                sa.select(page_flags.c.id).where(page_flags.c.key == context.key)
            ).scalar()
            if existing is None:
                existing = inserted_id(
                    conn.execute(
                        page_flags.insert().values(
                            key=context.key,
                            page=params.page,
                            reason=params.reason,
                            evidence=msgspec.json.encode(evidence).decode(),
                            status="open",
                            created_at_us=to_us(context.clock.now()),
                            run_id=context.run_id,
                        )
                    )
                )
        return {"flag_id": existing, "page": params.page}
