"""The 360° timeline of a contact and of an account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel

from vigie.auth.roles import allowed
from vigie.auth.users import Principal
from vigie.crm import records
from vigie.crm.access import owner_clause
from vigie.crm.entities import ENTITIES
from vigie.crm.timeline import (
    CATEGORIES,
    RESOURCE_OF,
    Category,
    TimelineItem,
    Who,
    timeline,
    who_for_account,
    who_for_contact,
)
from vigie.web.deps import CurrentUser, RuntimeDep
from vigie.web.runtime import Runtime

router = APIRouter(prefix="/api", tags=["timeline"])
_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "no valid token or session"},
    403: {"description": "the role may not read this"},
    404: {"description": "no such record (or not yours to see)"},
}


class Timeline(BaseModel):
    """A customer's history, newest first."""

    items: list[TimelineItem]


def _categories(user: Principal, asked: list[Category] | None) -> set[Category]:
    wanted = set(asked or CATEGORIES)
    return {c for c in wanted if allowed(user.role, RESOURCE_OF[c], "read")}


def _serve(
    runtime: Runtime,
    user: Principal,
    entity_name: str,
    record_id: str,
    kinds: list[Category] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Timeline:
    if not allowed(user.role, entity_name, "read"):
        raise HTTPException(403, f"role {user.role.value!r} may not read {entity_name}")
    entity = ENTITIES[entity_name]
    with runtime.engine.connect() as conn:
        found = records.get_record(
            conn, entity, record_id, restrict=owner_clause(conn, entity, user)
        )
        if found is None:
            raise HTTPException(404, f"no {entity_name} record {record_id!r} / introuvable")
        who: Who = (
            who_for_contact(conn, record_id)
            if entity_name == "contacts"
            else who_for_account(conn, record_id)
        )
        items = timeline(
            conn,
            who,
            categories=_categories(user, kinds),
            since=since,
            until=until,
            limit=limit,
            restrict={e.table.name: owner_clause(conn, e, user) for e in ENTITIES.values()},
        )
    return Timeline(items=items)


Kinds = Annotated[
    list[Category] | None, Query(description="Only these categories (repeat the parameter).")
]
Since = Annotated[AwareDatetime | None, Query(description="Only from this moment on.")]
Until = Annotated[AwareDatetime | None, Query(description="Only before this moment.")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/contacts/{record_id}/timeline", operation_id="contact_timeline", responses=_RESPONSES)
def contact_timeline(
    runtime: RuntimeDep,
    user: CurrentUser,
    record_id: Annotated[str, _ID],
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> Timeline:
    """A contact's web journey, interactions, deals, tickets, tasks and offers, newest first."""
    return _serve(runtime, user, "contacts", record_id, kind, since, until, limit)


@router.get("/accounts/{record_id}/timeline", operation_id="account_timeline", responses=_RESPONSES)
def account_timeline(
    runtime: RuntimeDep,
    user: CurrentUser,
    record_id: Annotated[str, _ID],
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> Timeline:
    """Everything that happened with an account and its contacts, newest first."""
    return _serve(runtime, user, "accounts", record_id, kind, since, until, limit)
