"""The 360° timeline of a contact and of an account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel

from vigie.crm.entities import ENTITIES
from vigie.crm.timeline import Category, TimelineItem
from vigie.web.deps import CrmDep, CurrentUser

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


Kinds = Annotated[
    list[Category] | None, Query(description="Only these categories (repeat the parameter).")
]
Since = Annotated[AwareDatetime | None, Query(description="Only from this moment on.")]
Until = Annotated[AwareDatetime | None, Query(description="Only before this moment.")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/contacts/{record_id}/timeline", operation_id="contact_timeline", responses=_RESPONSES)
def contact_timeline(
    crm: CrmDep,
    user: CurrentUser,
    record_id: Annotated[str, _ID],
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> Timeline:
    """A contact's web journey, interactions, deals, tickets, tasks and offers, newest first."""
    items = crm.timeline(
        ENTITIES["contacts"], record_id, user, kinds=kind, since=since, until=until, limit=limit
    )
    return Timeline(items=items)


@router.get("/accounts/{record_id}/timeline", operation_id="account_timeline", responses=_RESPONSES)
def account_timeline(
    crm: CrmDep,
    user: CurrentUser,
    record_id: Annotated[str, _ID],
    kind: Kinds = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> Timeline:
    """Everything that happened with an account and its contacts, newest first."""
    items = crm.timeline(
        ENTITIES["accounts"], record_id, user, kinds=kind, since=since, until=until, limit=limit
    )
    return Timeline(items=items)
