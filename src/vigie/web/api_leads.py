"""REST API over the latest lead run: the leads with their scores, reps and factors."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from vigie.ai.runs import find_lead, lead_record, read_leads, read_summary
from vigie.auth.roles import Scope, scope_of
from vigie.auth.users import Principal
from vigie.web.deps import ConfigDep, LeadsReader, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND

router = APIRouter(
    prefix="/api/leads",
    tags=["leads"],
    dependencies=[Depends(require("leads", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


def _leads(config: ConfigDep, user: Principal) -> pl.DataFrame:
    """The latest run's leads that `user` may see: a salesperson only their own (issue 17)."""
    try:
        leads = read_leads(config.ai.run_dir)
    except FileNotFoundError as exc:
        raise HTTPException(
            status_code=404,
            detail="no lead run yet: run `vigie leads score` / aucune notation encore",
        ) from exc
    names = rep_names(user)
    return leads if names is None else leads.filter(pl.col("rep").is_in(sorted(names)))


def rep_names(user: Principal) -> set[str] | None:
    """The rep names a salesperson answers to (user name, display name, staff id); None
    for the roles that see every lead."""
    if scope_of(user.role) is not Scope.OWN:
        return None
    return {n for n in (user.username, user.display_name, user.staff_id) if n}


@router.get("", response_class=Response)
def list_leads(
    config: ConfigDep,
    user: LeadsReader,
    rep: Annotated[str | None, Query(description="only the leads assigned to this rep")] = None,
    min_score: Annotated[int, Query(ge=0, le=100)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The current leads, best first, with score, rep, due time, reason and top factors; a
    salesperson sees the leads assigned to them (rep = their user name, display name or
    staff id)."""
    leads = _leads(config, user)
    if rep is not None:
        leads = leads.filter(pl.col("rep") == rep)
    leads = leads.filter(pl.col("score") >= min_score)
    page = leads.slice(offset, limit)
    summary = read_summary(config.ai.run_dir)
    return _json(
        {
            "model": summary.get("model"),
            "run_at": summary.get("run_at"),
            "total": leads.height,
            "leads": [lead_record(row) for row in page.iter_rows(named=True)],
        }
    )


@router.get("/{company_id}", response_class=Response)
def get_lead(
    config: ConfigDep, user: LeadsReader, company_id: Annotated[int, Path(ge=0, le=2**62)]
) -> Response:
    """One lead with its factors (LightGBM contributions) and the reason of its assignment;
    a salesperson reads only their own."""
    lead = find_lead(_leads(config, user), company_id)
    if lead is None:
        raise HTTPException(status_code=404, detail=f"company {company_id} is not a current lead")
    return _json(lead)
