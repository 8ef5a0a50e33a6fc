"""REST API of the playbooks: runs and their steps, and running a playbook by hand (the
chat invitations reach the visitors through the chat's own connections: `api_chat`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response

from vigie.playbooks import PlaybookNotFound
from vigie.web.deps import PlaybookHistoryDep, PlaybooksDep, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND

router = APIRouter(prefix="/api", tags=["playbooks"])


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


@router.get(
    "/playbook-runs",
    response_class=Response,
    dependencies=[Depends(require("playbooks", "read"))],
    responses=AUTH_ERRORS,
)
def list_playbook_runs(
    history: PlaybookHistoryDep,
    playbook: Annotated[str | None, Query(description="only runs of this playbook")] = None,
    status: Annotated[str | None, Query(description="running, succeeded or failed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Playbook runs, newest first, each with its steps: results, attempts and errors."""
    found = history.runs(playbook=playbook, status=status, limit=limit)
    return _json({"runs": found})


@router.get(
    "/playbook-runs/{run_id}",
    response_class=Response,
    dependencies=[Depends(require("playbooks", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def get_playbook_run(history: PlaybookHistoryDep, run_id: str) -> Response:
    """One playbook run with its steps."""
    found = history.run(run_id)
    if found is None:
        raise HTTPException(404, f"no playbook run {run_id!r} / aucune exécution {run_id!r}")
    return _json(found)


@router.post(
    "/playbooks/{name}/run",
    response_class=Response,
    dependencies=[Depends(require("playbooks", "write"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def run_playbook(
    engine: PlaybooksDep,
    name: str,
    params: Annotated[
        dict[str, Any] | None, Body(description="parameters for the templates")
    ] = None,
    dry_run: Annotated[bool, Query(description="show what would happen, act on nothing")] = False,
) -> Response:
    """Run a playbook by hand (or plan it with `dry_run=true`)."""
    try:
        if dry_run:
            return _json(engine.plan(name, engine.manual_trigger(name, params or {}), params))
        return _json(engine.run(name, params or {}))
    except PlaybookNotFound as exc:
        raise HTTPException(404, str(exc.args[0])) from exc
