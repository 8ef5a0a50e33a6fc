"""REST API of the CRM: list, create, read, update, archive and export every entity.

Writes are appended to the event log as CRM events and answered once the CRM processor has
applied them, so a client reads its own writes and the log stays the one truth.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from vigie.auth.users import Principal
from vigie.crm.entities import ENTITIES, Entity
from vigie.crm.service import CrmService
from vigie.web.deps import NO_NUL, AuditReader, CrmDep, RequestActor, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND, Problem

_ERRORS = AUTH_ERRORS
_NOT_FOUND = NOT_FOUND
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the change could not be applied"},
    422: {"model": Problem, "description": "invalid input"},
}
_KW = inspect.Parameter.KEYWORD_ONLY
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


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
        inspect.Parameter("crm", _KW, annotation=CrmDep),
    ]

    def list_endpoint(**kw: Any) -> Any:
        crm: CrmService = kw["crm"]
        found = crm.find(
            entity,
            kw["user"],
            filters={f: kw[f] for f in entity.filters},
            q=kw["q"],
            sort=kw["sort"],
            limit=kw["limit"],
            offset=kw["offset"],
            archived=kw["archived"],
        )
        return page(items=found.items, total=found.total, limit=kw["limit"], offset=kw["offset"])

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
        crm: CrmService = kw["crm"]
        data = kw["body"].model_dump(mode="json")
        return await crm.create(entity, data, kw["user"], kw["actor"])

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
        crm: CrmService = kw["crm"]
        return crm.get(entity, kw["record_id"], kw["user"])

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
        crm: CrmService = kw["crm"]
        patch = kw["body"].model_dump(mode="json", exclude_unset=True)
        return await crm.update(entity, kw["record_id"], patch, kw["user"], kw["actor"])

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
        crm: CrmService = kw["crm"]
        return await crm.archive(entity, kw["record_id"], kw["user"], kw["actor"])

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
        crm: CrmDep,
        _admin: AuditReader,
        actor: RequestActor,
    ) -> Response:
        """Every record of an entity as CSV (admins); recorded in the audit trail."""
        entity = ENTITIES[entity_name]
        return Response(
            content=crm.export(entity, actor),
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
        crm: CrmDep,
        _admin: AuditReader,
        actor: RequestActor,
    ) -> ImportOut:
        """Import a CSV file (admins), all or nothing; a row with an existing `id` updates it."""
        entity = ENTITIES[entity_name]
        body = await request.body()
        if len(body) > 20 * 1024 * 1024:
            raise HTTPException(413, "the file is over 20 MB; use `vigie import` instead")
        text = body.decode("utf-8-sig", errors="replace")
        report = await crm.import_csv(entity, text, actor)
        out = ImportOut(
            entity=entity.name,
            created=report.created,
            updated=report.updated,
            errors=[RowErrorOut(line=e.line, reason=e.reason) for e in report.errors],
        )
        if not report.ok:
            return JSONResponse(out.model_dump(), status_code=422)  # type: ignore[return-value]
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
