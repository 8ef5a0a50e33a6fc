"""REST API of what playbooks did: tasks, page flags, offers, broadcasts and queue moves,
each closable or undoable by a person (audited with who, when and why)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from vigie.playbooks.ledger import ActionNotFound, Kind, NotAllowed, State
from vigie.web.deps import NO_NUL, ActionsDep, CurrentUser, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND

router = APIRouter(prefix="/api/actions", tags=["playbooks"], responses=AUTH_ERRORS)
Reader = Depends(require("playbooks", "read"))
Writer = Depends(require("playbooks", "write"))


class ChangeRequest(BaseModel):
    """Why a person closes or undoes an action (kept in its audit)."""

    note: str = Field(default="", max_length=1000, pattern=NO_NUL)


def _json(body: Any) -> Response:
    return Response(content=msgspec.json.encode(body), media_type="application/json")


@router.get("", response_class=Response, dependencies=[Reader])
def list_actions(
    actions: ActionsDep,
    kind: Kind | None = None,
    state: State | None = None,
    run_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    alert: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Actions playbooks took, newest first: what, on what, state, run and alert."""
    found = actions.list(kind=kind, state=state, run_id=run_id, alert=alert, limit=limit)
    return _json({"actions": found})


@router.get(
    "/{kind}/{action_id}", response_class=Response, dependencies=[Reader], responses=NOT_FOUND
)
def get_action(actions: ActionsDep, kind: Kind, action_id: Annotated[int, Path(ge=1)]) -> Response:
    """One action with every change people made to it."""
    try:
        return _json(actions.get(kind, action_id))
    except ActionNotFound as exc:
        raise HTTPException(404, str(exc)) from exc


def _change(
    actions: ActionsDep,
    user: CurrentUser,
    kind: Kind,
    action_id: int,
    body: ChangeRequest,
    undo: bool,
) -> Response:
    try:
        if undo:
            return _json(actions.undo(kind, action_id, by=user.username, note=body.note))
        return _json(actions.close(kind, action_id, by=user.username, note=body.note))
    except ActionNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except NotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post(
    "/{kind}/{action_id}/close", response_class=Response, dependencies=[Writer], responses=NOT_FOUND
)
def close_action(
    actions: ActionsDep,
    user: CurrentUser,
    kind: Kind,
    action_id: Annotated[int, Path(ge=1)],
    body: ChangeRequest | None = None,
) -> Response:
    """Mark an open action done: a task finished, a page fixed, an offer ended early."""
    return _change(actions, user, kind, action_id, body or ChangeRequest(), undo=False)


@router.post(
    "/{kind}/{action_id}/undo", response_class=Response, dependencies=[Writer], responses=NOT_FOUND
)
def undo_action(
    actions: ActionsDep,
    user: CurrentUser,
    kind: Kind,
    action_id: Annotated[int, Path(ge=1)],
    body: ChangeRequest | None = None,
) -> Response:
    """Reverse an open action: end an offer now, send a moved agent back, lift a flag."""
    return _change(actions, user, kind, action_id, body or ChangeRequest(), undo=True)
