"""REST API of the playbooks: runs and their steps, running a playbook by hand, and the
chat invitations the browser tracker picks up."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response

from vigie.playbooks import PlaybookNotFound
from vigie.playbooks import runs as run_store
from vigie.playbooks.outputs import pending_for
from vigie.web.deps import RuntimeDep, require
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
    runtime: RuntimeDep,
    playbook: Annotated[str | None, Query(description="only runs of this playbook")] = None,
    status: Annotated[str | None, Query(description="running, succeeded or failed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Playbook runs, newest first, each with its steps: results, attempts and errors."""
    with runtime.engine.connect() as conn:
        found = run_store.list_runs(conn, playbook=playbook, status=status, limit=limit)
    return _json({"runs": found})


@router.get(
    "/playbook-runs/{run_id}",
    response_class=Response,
    dependencies=[Depends(require("playbooks", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def get_playbook_run(runtime: RuntimeDep, run_id: str) -> Response:
    """One playbook run with its steps."""
    with runtime.engine.connect() as conn:
        found = run_store.get_run(conn, run_id=run_id)
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
    runtime: RuntimeDep,
    name: str,
    params: Annotated[
        dict[str, Any] | None, Body(description="parameters for the templates")
    ] = None,
    dry_run: Annotated[bool, Query(description="show what would happen, act on nothing")] = False,
) -> Response:
    """Run a playbook by hand (or plan it with `dry_run=true`)."""
    engine = runtime.playbooks
    try:
        if dry_run:
            return _json(engine.plan(name, engine.manual_trigger(name, params or {}), params))
        return _json(engine.run(name, params or {}))
    except PlaybookNotFound as exc:
        raise HTTPException(404, str(exc.args[0])) from exc


@router.get("/chat/invitations", response_class=Response)
def chat_invitations(
    runtime: RuntimeDep,
    anonymous_id: Annotated[str, Query(min_length=1, description="the visitor's anonymous id")],
) -> Response:
    """Pending, unexpired chat invitations for one visitor (polled by the browser tracker,
    from the shop's own site: a simple cross-origin GET, hence the CORS header)."""
    found = pending_for(runtime.engine, anonymous_id=anonymous_id, now=runtime.clock.now())
    response = _json({"invitations": found})
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
