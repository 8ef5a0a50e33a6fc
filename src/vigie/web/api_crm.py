"""REST API of the CRM: list, create, read, update, archive and export every entity.

Writes are appended to the event log as CRM events and answered once the CRM processor has
applied them, so a client reads its own writes and the log stays the one truth.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from vigie.auth import audit
from vigie.auth.audit import Actor
from vigie.auth.users import Principal
from vigie.crm import csvfiles, records
from vigie.crm.access import may_assign, owner_clause
from vigie.crm.commands import crm_event, new_id
from vigie.crm.entities import ENTITIES, Entity, ReadBase
from vigie.crm.processor import NAME as CRM_PROCESSOR
from vigie.log.sql import AppendJob
from vigie.web.deps import NO_NUL, AuditReader, RequestActor, RuntimeDep, require
from vigie.web.runtime import Runtime


class Problem(BaseModel):
    """An error: what went wrong and what to do."""

    detail: Any


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid token or session"},
    403: {"model": Problem, "description": "the role may not do this"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such record (or not yours to see)"},
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the change could not be applied"},
    422: {"model": Problem, "description": "invalid input"},
}
_KW = inspect.Parameter.KEYWORD_ONLY
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _restrict(
    conn: sa.Connection, entity: Entity, user: Principal
) -> sa.ColumnElement[bool] | None:
    return owner_clause(conn, entity, user)


def _load(runtime: Runtime, entity: Entity, record_id: str, user: Principal) -> ReadBase:
    with runtime.engine.connect() as conn:
        found = records.get_record(conn, entity, record_id, restrict=_restrict(conn, entity, user))
    if found is None:
        raise HTTPException(404, f"no {entity.name} record {record_id!r} / introuvable")
    return found


def _check(
    runtime: Runtime, entity: Entity, data: dict[str, Any], user: Principal, *, owner_changed: bool
) -> None:
    with runtime.engine.connect() as conn:
        if entity.owner and owner_changed and not may_assign(conn, user, data.get(entity.owner)):
            raise HTTPException(
                403,
                f"{entity.owner}: you may only assign records to yourself or your team "
                "/ attribution refusée",
            )
        restrict_for = {name: owner_clause(conn, e, user) for name, e in ENTITIES.items()}
        problems = records.missing_references(
            conn, entity, data, entities=ENTITIES, restrict_for=restrict_for
        )
    if problems:
        raise HTTPException(422, problems)


async def _write(
    runtime: Runtime,
    entity: Entity,
    operation: str,
    record_id: str,
    data: dict[str, Any],
    actor: Actor,
) -> ReadBase:
    event = crm_event(
        entity=entity,
        operation=operation,
        record_id=record_id,
        data=data,
        actor=actor,
        now=runtime.clock.now(),
    )
    result = await runtime.committer.append(
        AppendJob(events=[event], source=event.source, endpoint=f"/api/{entity.name}")
    )
    offset = result.offsets[0]
    try:
        await runtime.runner.wait_for(CRM_PROCESSOR, offset)
    except TimeoutError as exc:
        raise HTTPException(503, "the CRM projection is behind; retry shortly") from exc
    with runtime.engine.connect() as conn:
        found = records.get_record(conn, entity, record_id)
    if found is None or found.version != offset:
        raise HTTPException(
            409, f"the change was logged at offset {offset} but not applied: see /api/rejected"
        )
    return found


def _signature(fn: Callable[..., Any], params: list[inspect.Parameter]) -> None:
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]


def _crud_router(entity: Entity) -> APIRouter:
    router = APIRouter(prefix=f"/api/{entity.name}", tags=[entity.name])
    reader = Annotated[Principal, Depends(require(entity.name, "read"))]
    writer = Annotated[Principal, Depends(require(entity.name, "write"))]
    items_type: Any = list[entity.read]  # type: ignore[name-defined]
    page: type[BaseModel] = create_model(
        f"{entity.read.__name__}Page",
        __doc__=f"A page of {entity.name}: `items`, and `total` matching the filters.",
        items=(items_type, ...),
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )
    sorts = (*entity.sorts, *(f"-{s}" for s in entity.sorts))
    sort_type: Any = Literal[sorts]
    common = [
        inspect.Parameter("runtime", _KW, annotation=RuntimeDep),
    ]

    def list_endpoint(**kw: Any) -> Any:
        runtime: Runtime = kw["runtime"]
        with runtime.engine.connect() as conn:
            items, total = records.list_records(
                conn,
                entity,
                filters={f: kw[f] for f in entity.filters},
                q=kw["q"],
                sort=kw["sort"],
                limit=kw["limit"],
                offset=kw["offset"],
                archived=kw["archived"],
                restrict=_restrict(conn, entity, kw["user"]),
            )
        return page(items=items, total=total, limit=kw["limit"], offset=kw["offset"])

    _signature(
        list_endpoint,
        [
            *common,
            inspect.Parameter("user", _KW, annotation=reader),
            inspect.Parameter(
                "q",
                _KW,
                default=None,
                annotation=Annotated[
                    str | None,
                    Query(
                        max_length=200,
                        pattern=NO_NUL,
                        description=f"Search in {', '.join(entity.search)}.",
                    ),
                ],
            ),
            inspect.Parameter(
                "sort",
                _KW,
                default="-updated_at",
                annotation=Annotated[sort_type, Query(description="A field; `-field` descends.")],
            ),
            inspect.Parameter(
                "limit", _KW, default=50, annotation=Annotated[int, Query(ge=1, le=500)]
            ),
            inspect.Parameter(
                "offset", _KW, default=0, annotation=Annotated[int, Query(ge=0, le=10_000_000)]
            ),
            inspect.Parameter(
                "archived",
                _KW,
                default=False,
                annotation=Annotated[bool, Query(description="Include archived records.")],
            ),
            *(
                inspect.Parameter(
                    f,
                    _KW,
                    default=None,
                    annotation=Annotated[
                        str | None,
                        Query(
                            max_length=200, pattern=NO_NUL, description=f"Only where {f} equals it."
                        ),
                    ],
                )
                for f in entity.filters
            ),
        ],
    )
    router.add_api_route(
        "",
        list_endpoint,
        methods=["GET"],
        response_model=page,
        operation_id=f"list_{entity.name}",
        summary=f"List {entity.name}",
        description=f"{entity.name.capitalize()}, filtered, searched, sorted and paged.",
        responses=_ERRORS,
    )

    async def create_endpoint(**kw: Any) -> Any:
        runtime: Runtime = kw["runtime"]
        user: Principal = kw["user"]
        data = kw["body"].model_dump(mode="json")
        if entity.owner and data.get(entity.owner) is None and user.staff_id is not None:
            data[entity.owner] = user.staff_id
        _check(runtime, entity, data, user, owner_changed=True)
        return await _write(runtime, entity, "create", new_id(entity), data, kw["actor"])

    _signature(
        create_endpoint,
        [
            *common,
            inspect.Parameter("user", _KW, annotation=writer),
            inspect.Parameter("actor", _KW, annotation=RequestActor),
            inspect.Parameter("body", _KW, annotation=Annotated[entity.create, Body()]),
        ],
    )
    router.add_api_route(
        "",
        create_endpoint,
        methods=["POST"],
        status_code=201,
        response_model=entity.read,
        operation_id=f"create_{entity.name}",
        summary=f"Create a record of {entity.name}",
        description=entity.create.__doc__ or "",
        responses={**_ERRORS, **_CONFLICT},
    )

    def read_endpoint(**kw: Any) -> Any:
        return _load(kw["runtime"], entity, kw["record_id"], kw["user"])

    id_param = inspect.Parameter("record_id", _KW, annotation=RecordId)
    _signature(
        read_endpoint,
        [*common, inspect.Parameter("user", _KW, annotation=reader), id_param],
    )
    router.add_api_route(
        "/{record_id}",
        read_endpoint,
        methods=["GET"],
        response_model=entity.read,
        operation_id=f"get_{entity.name}",
        summary=f"Read a record of {entity.name}",
        responses={**_ERRORS, **_NOT_FOUND},
    )

    async def update_endpoint(**kw: Any) -> Any:
        runtime: Runtime = kw["runtime"]
        user: Principal = kw["user"]
        current = _load(runtime, entity, kw["record_id"], user)
        patch = kw["body"].model_dump(mode="json", exclude_unset=True)
        merged = {**current.model_dump(mode="json"), **patch}
        try:
            entity.create.model_validate({k: merged[k] for k in entity.create.model_fields})
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        owner_changed = bool(entity.owner and entity.owner in patch)
        _check(runtime, entity, patch, user, owner_changed=owner_changed)
        return await _write(runtime, entity, "update", current.id, patch, kw["actor"])

    _signature(
        update_endpoint,
        [
            *common,
            inspect.Parameter("user", _KW, annotation=writer),
            inspect.Parameter("actor", _KW, annotation=RequestActor),
            id_param,
            inspect.Parameter("body", _KW, annotation=Annotated[entity.update, Body()]),
        ],
    )
    router.add_api_route(
        "/{record_id}",
        update_endpoint,
        methods=["PATCH"],
        response_model=entity.read,
        operation_id=f"update_{entity.name}",
        summary=f"Change a record of {entity.name}",
        description="Only the fields sent are changed; `null` clears an optional field.",
        responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT},
    )

    async def archive_endpoint(**kw: Any) -> Any:
        runtime: Runtime = kw["runtime"]
        current = _load(runtime, entity, kw["record_id"], kw["user"])
        return await _write(runtime, entity, "archive", current.id, {}, kw["actor"])

    _signature(
        archive_endpoint,
        [
            *common,
            inspect.Parameter("user", _KW, annotation=writer),
            inspect.Parameter("actor", _KW, annotation=RequestActor),
            id_param,
        ],
    )
    router.add_api_route(
        "/{record_id}",
        archive_endpoint,
        methods=["DELETE"],
        response_model=entity.read,
        operation_id=f"archive_{entity.name}",
        summary=f"Archive a record of {entity.name}",
        description="Archives the record (kept, hidden from lists unless `archived=true`).",
        responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT},
    )
    return router


def _export_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["export"])

    @router.get(
        "/export/{entity_name}",
        response_class=Response,
        operation_id="export_entity",
        responses={
            **_ERRORS,
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        },
    )
    def export(
        entity_name: Literal[
            "accounts",
            "contacts",
            "staff",
            "deals",
            "tickets",
            "campaigns",
            "interactions",
            "tasks",
            "offers",
        ],
        runtime: RuntimeDep,
        _admin: AuditReader,
        actor: RequestActor,
    ) -> Response:
        """Every record of an entity as CSV (admins); recorded in the audit trail."""
        entity = ENTITIES[entity_name]
        with runtime.engine.connect() as conn:
            rows = records.iter_records(conn, entity)
        audit.record(
            engine=runtime.engine,
            actor=actor,
            action="export",
            entity=entity.name,
            at=runtime.clock.now(),
            details={"rows": len(rows), "personal_data": entity.personal, "via": "api"},
        )
        return Response(
            content=csvfiles.render(entity, rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{entity.name}.csv"'},
        )

    return router


class RowErrorOut(BaseModel):
    """Why one line of the file cannot be imported."""

    line: int
    reason: str


class ImportOut(BaseModel):
    """The outcome of an import: all rows applied, or none and every bad row."""

    entity: str
    created: int
    updated: int
    errors: list[RowErrorOut]


_ENTITY_NAMES = Literal[
    "accounts", "contacts", "staff", "deals", "tickets", "campaigns", "interactions", "tasks",
    "offers",
]  # fmt: skip


def _import_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["import"])

    @router.post(
        "/import/{entity_name}",
        operation_id="import_entity",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        responses={
            **_ERRORS,
            422: {"model": ImportOut, "description": "bad rows: nothing was imported"},
            503: {"model": Problem, "description": "the CRM projection is behind"},
        },
    )
    async def import_csv(
        entity_name: _ENTITY_NAMES,
        request: Request,
        runtime: RuntimeDep,
        _admin: AuditReader,
        actor: RequestActor,
    ) -> ImportOut:
        """Import a CSV file (admins), all or nothing; a row with an existing `id` updates it."""
        entity = ENTITIES[entity_name]
        body = await request.body()
        if len(body) > 20 * 1024 * 1024:
            raise HTTPException(413, "the file is over 20 MB; use `vigie import` instead")
        text = body.decode("utf-8-sig", errors="replace")
        report, events = await asyncio.to_thread(
            csvfiles.plan_import,
            engine=runtime.engine,
            entity=entity,
            text=text,
            actor=actor,
            now=runtime.clock.now(),
        )
        out = ImportOut(
            entity=entity.name,
            created=report.created,
            updated=report.updated,
            errors=[RowErrorOut(line=e.line, reason=e.reason) for e in report.errors],
        )
        if not report.ok:
            return JSONResponse(out.model_dump(), status_code=422)  # type: ignore[return-value]
        result = await runtime.committer.append(
            AppendJob(events=events, source=events[0].source, endpoint=f"/api/import/{entity.name}")
        )
        try:
            await runtime.runner.wait_for(CRM_PROCESSOR, max(result.offsets))
        except TimeoutError as exc:
            raise HTTPException(503, "the CRM projection is behind; retry shortly") from exc
        return out

    return router


def build_router() -> APIRouter:
    """Every CRM route: one CRUD router per entity, the timelines and the export."""
    router = APIRouter()
    from vigie.web import api_timeline

    router.include_router(api_timeline.router)
    router.include_router(_export_router())
    router.include_router(_import_router())
    for entity in ENTITIES.values():
        router.include_router(_crud_router(entity))
    return router
