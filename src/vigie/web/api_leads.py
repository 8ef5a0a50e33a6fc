"""REST API of leads: the latest lead run (`/api/leads/run`), its publication into the CRM as
lead records (`/api/leads` lists them, as every CRM entity), and the rep's decisions on a
lead: accept, reject with a reason, convert into an account and a deal."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import polars as pl
from fastapi import Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from vigie.ai import cards, records, versions
from vigie.ai.runs import find_lead, lead_record, read_leads, read_summary
from vigie.auth.roles import Scope, scope_of
from vigie.auth.users import Principal
from vigie.crm.service import Forbidden
from vigie.web.deps import (
    NO_NUL,
    ClockDep,
    ConfigDep,
    CrmDep,
    LeadsReader,
    RequestActor,
    require,
)
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND, Problem
from vigie.web.routers import PrefixRouter

router = PrefixRouter(
    prefix="/api/leads/run",
    tags=["leads"],
    dependencies=[Depends(require("leads", "read"))],
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
workflow = PrefixRouter(
    prefix="/api/leads",
    tags=["leads"],
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        422: {"model": Problem, "description": "the lead cannot take this decision"},
    },
)
LeadsWriter = Annotated[Principal, Depends(require("leads", "write"))]
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


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
    """The latest run's leads, best first, with score, rep, due time, reason and top factors;
    a salesperson sees the leads assigned to them (rep = their user name, display name or
    staff id). The CRM's lead records are at `/api/leads`."""
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


class Publish(BaseModel):
    """Which of the latest run's leads to hand to the reps as CRM lead records."""

    limit: int = Field(1000, ge=1, le=100_000, description="At most this many, best first.")


class Published(BaseModel):
    """How many lead records were created, and how many were not."""

    published: int
    already: int = Field(description="Companies proposed before (one lead per company).")
    unassigned: int = Field(description="Published without owner: the rep is no staff member.")
    model: str | None


class Rejection(BaseModel):
    """Why the rep turns the lead down (kept, and read back by the next training)."""

    reason: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


class Conversion(BaseModel):
    """The deal a lead becomes."""

    title: str | None = Field(None, max_length=200, pattern=NO_NUL)
    amount: float = Field(0.0, ge=0, le=1e12)


@workflow.post("/publish", response_model=Published)
async def publish(
    config: ConfigDep,
    crm: CrmDep,
    clock: ClockDep,
    user: LeadsWriter,
    actor: RequestActor,
    body: Publish,
) -> Published:
    """Create a CRM lead record for each of the latest run's best leads, owned by the staff
    member named like its rep and due within their working hours; a company proposed before
    is skipped. Managers and administrators only."""
    if scope_of(user.role) is Scope.OWN:
        raise Forbidden("a salesperson does not publish the run / réservé aux responsables")
    try:
        leads = read_leads(config.ai.run_dir).head(body.limit)
    except FileNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    model = read_summary(config.ai.run_dir).get("model")
    payloads, counts = records.lead_payloads(
        leads,
        staff=records.staff_by_name(crm, user),
        schedule=config.schedule,
        model=model,
        existing=records.existing_ids(crm),
        now=clock.now(),
    )
    for start in range(0, len(payloads), 1000):
        outcome = await crm.write_batch(
            records.LEAD, payloads[start : start + 1000], user, actor, mode="upsert"
        )
        if outcome.errors:
            first = outcome.errors[0]
            raise HTTPException(
                status_code=422, detail=f"lead {start + first.index + 1}: {first.reason}"
            )
    return Published(model=model, **counts)


@workflow.post("/{record_id}/accept")
async def accept_lead(
    crm: CrmDep, user: LeadsWriter, actor: RequestActor, record_id: RecordId
) -> Response:
    """The rep takes the lead on (a new lead becomes accepted)."""
    return _json((await records.accept(crm, record_id, user, actor)).model_dump(mode="json"))


@workflow.post("/{record_id}/reject")
async def reject_lead(
    crm: CrmDep, user: LeadsWriter, actor: RequestActor, record_id: RecordId, body: Rejection
) -> Response:
    """The rep turns the lead down, with a reason."""
    lead = await records.reject(crm, record_id, body.reason, user, actor)
    return _json(lead.model_dump(mode="json"))


@workflow.post("/{record_id}/convert")
async def convert_lead(
    crm: CrmDep,
    user: LeadsWriter,
    actor: RequestActor,
    record_id: RecordId,
    body: Conversion | None = None,
) -> Response:
    """Turn the lead into an account and a deal owned by its rep; answers all three."""
    body = body or Conversion(title=None, amount=0.0)
    lead, account, deal = await records.convert(
        crm, record_id, user, actor, title=body.title, amount=body.amount
    )
    return _json(
        {
            "lead": lead.model_dump(mode="json"),
            "account": account.model_dump(mode="json"),
            "deal": deal.model_dump(mode="json"),
        }
    )


def _managing(user: Principal) -> None:
    if scope_of(user.role) is Scope.OWN:
        raise Forbidden("a salesperson does not choose the model / réservé aux responsables")


def _models(config: ConfigDep) -> dict[str, Any]:
    root = config.ai.models_dir
    try:
        monitoring = read_summary(config.ai.run_dir).get("monitoring")
    except FileNotFoundError:
        monitoring = None
    return {
        "active": versions.active_version(root),
        "versions": versions.listing(root),
        "history": versions.registry(root)["history"],
        "monitoring": monitoring,
    }


@workflow.get("/models", response_class=Response, dependencies=[Depends(require("leads", "read"))])
def list_models(config: ConfigDep) -> Response:
    """The model versions (test AUC, the promotion gate's verdict, which is active), the
    history of activations, and the latest run's drift check (PSI of scores and inputs)."""
    return _json(_models(config))


@workflow.get(
    "/models/card", response_class=Response, dependencies=[Depends(require("leads", "read"))]
)
def model_card(
    config: ConfigDep,
    version: Annotated[
        str | None, Query(pattern=r"^v\d{1,8}$", description="a version (default: the active one)")
    ] = None,
) -> Response:
    """The model card of the active model (or of `version`): when trained, the chosen
    candidate, its held-out AUC beside the naive baseline's, its calibration, the shift
    warning, whether it was refit on every row, and the bias check of the latest lead run
    scored with it."""
    root = config.ai.models_dir
    chosen = version or versions.active_version(root)
    if chosen is None:
        raise HTTPException(
            status_code=404, detail="no model yet: run `vigie leads train` / aucun modèle encore"
        )
    try:
        return _json(cards.card_view(root, chosen, config.ai.run_dir))
    except FileNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@workflow.post("/models/rollback", response_class=Response)
def rollback_model(config: ConfigDep, clock: ClockDep, user: LeadsWriter) -> Response:
    """Reactivate the version active before the current one. Managers and administrators."""
    _managing(user)
    try:
        versions.rollback(config.ai.models_dir, at=clock.now())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _json(_models(config))


@workflow.post("/models/{version}/promote", response_class=Response)
def promote_model(
    config: ConfigDep,
    clock: ClockDep,
    user: LeadsWriter,
    version: Annotated[str, Path(pattern=r"^v\d{1,8}$")],
) -> Response:
    """Make a version the active model by hand, past the gate. Managers and administrators."""
    _managing(user)
    try:
        versions.activate(config.ai.models_dir, version, how="promote",
                          reason=f"promoted by {user.username}", at=clock.now())  # fmt: skip
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _json(_models(config))
