"""REST API of the CRM: list, create, read, update, archive and export every entity.

Writes are appended to the event log as CRM events and answered once the CRM processor has
applied them, so a client reads its own writes and the log stays the one truth.
"""

# No `from __future__ import annotations`: the endpoints are built per entity and FastAPI
# reads their annotations, which name the entity's own models (local variables), at runtime.

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, create_model

from vigie.auth.users import Principal
from vigie.crm.batches import MAX_RECORDS
from vigie.crm.entities import ENTITIES, Entity, EntityName, ReadBase
from vigie.crm.service import BatchOutcome
from vigie.privacy.consent import Purpose, gives, skipped_reason
from vigie.web import api_timeline
from vigie.web.deps import NO_NUL, AuditReader, CrmDep, RequestActor, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND, Problem
from vigie.web.routers import PrefixRouter

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the change could not be applied"},
    422: {"model": Problem, "description": "invalid input"},
}
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ListQuery(BaseModel):
    """The query parameters of a list; each entity's own model documents the search, names
    its sort fields and adds its filters (see `_list_query`)."""

    q: str | None = None
    sort: str = "-updated_at"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    archived: bool = Field(False, description="Include archived records.")


class ListPage(BaseModel):
    """A page of records; each entity's page names its own record model."""

    items: list[ReadBase]
    total: int
    limit: int
    offset: int


def _text(description: str) -> Any:
    return str | None, Field(None, max_length=200, pattern=NO_NUL, description=description)


def _list_query(entity: Entity) -> type[ListQuery]:
    sorts: Any = Literal[(*entity.sorts, *(f"-{s}" for s in entity.sorts))]
    model: type[ListQuery] = create_model(
        f"{entity.read.__name__}Query",
        __base__=ListQuery,
        q=_text(f"Search in {', '.join(entity.search)}."),
        sort=(sorts, Field("-updated_at", description="A field; `-field` descends.")),
        **{f: _text(f"Only where {f} equals it.") for f in entity.filters},
    )
    return model


def _list_page(entity: Entity) -> type[ListPage]:
    model: type[ListPage] = create_model(
        f"{entity.read.__name__}Page",
        __base__=ListPage,
        __doc__=f"A page of {entity.name}: `items`, and `total` matching the filters.",
        items=(list[entity.read], ...),  # type: ignore[name-defined]
    )
    return model


class BatchIn(BaseModel):
    """Up to 1,000 records written all or nothing; each entity's own model names them."""

    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)


class BatchOut(BaseModel):
    """A batch applied whole: how many records were created and changed, and each record as
    stored, in the order sent."""

    entity: str
    created: int
    updated: int
    items: list[ReadBase]


class RecordErrorOut(BaseModel):
    """Why the record at `index` (from 0) of a batch cannot be written."""

    index: int
    reason: str


class BatchRefused(BaseModel):
    """A batch refused whole: every bad record with its index and reason; nothing written."""

    entity: str
    errors: list[RecordErrorOut]


def _batch_models(entity: Entity) -> tuple[type[BatchIn], type[BatchOut]]:
    fields = ", ".join(entity.create.model_fields)
    body: type[BatchIn] = create_model(
        f"{entity.read.__name__}Batch",
        __base__=BatchIn,
        __doc__=f"Up to {MAX_RECORDS} {entity.name}, all or nothing. Each record holds the "
        f"fields of `{entity.create.__name__}` ({fields}) and optionally `id`.",
    )
    out: type[BatchOut] = create_model(
        f"{entity.read.__name__}BatchResult",
        __base__=BatchOut,
        items=(list[entity.read], ...),  # type: ignore[name-defined]
    )
    return body, out


def _refused(outcome: BatchOutcome) -> JSONResponse:
    """403 when a record lies outside what the user may see or assign, 422 otherwise."""
    body = BatchRefused(
        entity=outcome.entity,
        errors=[RecordErrorOut(index=e.index, reason=e.reason) for e in outcome.errors],
    )
    status = 403 if any(e.scope for e in outcome.errors) else 422
    return JSONResponse(body.model_dump(), status_code=status)


_BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    403: {"model": BatchRefused, "description": "a record outside your scope: nothing written"},
    409: {"model": Problem, "description": "the batch was logged but not applied"},
    422: {"model": BatchRefused, "description": "bad records: nothing written"},
    503: {"model": Problem, "description": "the CRM projection is behind"},
}


def _crud_router(entity: Entity) -> APIRouter:
    router = PrefixRouter(prefix=f"/api/{entity.name}", tags=[entity.name])
    reads = Depends(require(entity.name, "read"))
    writes = Depends(require(entity.name, "write"))
    if TYPE_CHECKING:
        Filters: TypeAlias = ListQuery
        Page: TypeAlias = ListPage
        Create: TypeAlias = BaseModel
        Update: TypeAlias = BaseModel
        Read: TypeAlias = ReadBase
        Batch: TypeAlias = BatchIn
        Batched: TypeAlias = BatchOut
    else:  # FastAPI validates and documents with the entity's own models
        Filters, Page = _list_query(entity), _list_page(entity)
        Create, Update, Read = entity.create, entity.update, entity.read
        Batch, Batched = _batch_models(entity)

    @router.get(
        "",
        operation_id=f"list_{entity.name}",
        summary=f"List {entity.name}",
        description=f"{entity.name.capitalize()}, filtered, searched, sorted and paged.",
        responses=AUTH_ERRORS,
    )
    def list_records(
        crm: CrmDep, user: Annotated[Principal, reads], query: Annotated[Filters, Query()]
    ) -> Page:
        found = crm.find(
            entity,
            user,
            filters=query.model_dump(include=set(entity.filters)),
            q=query.q,
            sort=query.sort,
            limit=query.limit,
            offset=query.offset,
            archived=query.archived,
        )
        return Page(items=found.items, total=found.total, limit=query.limit, offset=query.offset)

    @router.post(
        "",
        status_code=201,
        operation_id=f"create_{entity.name}",
        summary=f"Create a record of {entity.name}",
        description=entity.create.__doc__ or "",
        responses={**AUTH_ERRORS, **_CONFLICT},
    )
    async def create_record(
        crm: CrmDep, user: Annotated[Principal, writes], actor: RequestActor, body: Create
    ) -> Read:
        return await crm.create(entity, body.model_dump(mode="json"), user, actor)

    @router.post(
        "/batch",
        operation_id=f"upsert_{entity.name}_batch",
        summary=f"Create or change up to {MAX_RECORDS} {entity.name} at once",
        description="All or nothing. A record with the `id` of an existing record"
        + (" (or, without `id`, its `external_id`)" if "external_id" in entity.columns() else "")
        + " changes the fields sent; any other record is created (with the `id` sent, if any)."
        " Each record is checked as a single write would be; one bad record writes nothing and"
        " every bad one is listed with its index. One log append; answered once applied.",
        response_model=Batched,
        responses=_BATCH_ERRORS,
    )
    async def upsert_batch(
        crm: CrmDep, user: Annotated[Principal, writes], actor: RequestActor, body: Batch
    ) -> Batched | JSONResponse:
        outcome = await crm.write_batch(entity, body.records, user, actor, mode="upsert")
        if outcome.errors:
            return _refused(outcome)
        return Batched(
            entity=outcome.entity,
            created=outcome.created,
            updated=outcome.updated,
            items=outcome.items,
        )

    @router.patch(
        "/batch",
        operation_id=f"update_{entity.name}_batch",
        summary=f"Change up to {MAX_RECORDS} {entity.name} at once",
        description="All or nothing: each record names an existing record by `id` and changes"
        " only the fields sent, checked as a single PATCH would be; one bad record writes"
        " nothing and every bad one is listed with its index. Answered once applied.",
        response_model=Batched,
        responses=_BATCH_ERRORS,
    )
    async def update_batch(
        crm: CrmDep, user: Annotated[Principal, writes], actor: RequestActor, body: Batch
    ) -> Batched | JSONResponse:
        outcome = await crm.write_batch(entity, body.records, user, actor, mode="update")
        if outcome.errors:
            return _refused(outcome)
        return Batched(
            entity=outcome.entity,
            created=outcome.created,
            updated=outcome.updated,
            items=outcome.items,
        )

    @router.get(
        "/{record_id}",
        operation_id=f"get_{entity.name}",
        summary=f"Read a record of {entity.name}",
        responses={**AUTH_ERRORS, **NOT_FOUND},
    )
    def read_record(crm: CrmDep, user: Annotated[Principal, reads], record_id: RecordId) -> Read:
        return crm.get(entity, record_id, user)

    @router.patch(
        "/{record_id}",
        operation_id=f"update_{entity.name}",
        summary=f"Change a record of {entity.name}",
        description="Only the fields sent are changed; `null` clears an optional field.",
        responses={**AUTH_ERRORS, **NOT_FOUND, **_CONFLICT},
    )
    async def update_record(
        crm: CrmDep,
        user: Annotated[Principal, writes],
        actor: RequestActor,
        record_id: RecordId,
        body: Update,
    ) -> Read:
        patch = body.model_dump(mode="json", exclude_unset=True)
        return await crm.update(entity, record_id, patch, user, actor)

    @router.delete(
        "/{record_id}",
        operation_id=f"archive_{entity.name}",
        summary=f"Archive a record of {entity.name}",
        description="Archives the record (kept, hidden from lists unless `archived=true`).",
        responses={**AUTH_ERRORS, **NOT_FOUND, **_CONFLICT},
    )
    async def archive_record(
        crm: CrmDep, user: Annotated[Principal, writes], actor: RequestActor, record_id: RecordId
    ) -> Read:
        return await crm.archive(entity, record_id, user, actor)

    return router


def _export_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["export"])

    @router.get(
        "/export/{entity_name}",
        response_class=Response,
        operation_id="export_entity",
        responses={
            **AUTH_ERRORS,
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        },
    )
    def export(
        entity_name: EntityName,
        crm: CrmDep,
        _admin: AuditReader,
        actor: RequestActor,
        purpose: Annotated[
            Purpose | None,
            Query(
                description="contacts only: what the file is for; contacts without consent "
                "to it are left out (counted in the X-Vigie-Skipped header)"
            ),
        ] = None,
    ) -> Response:
        """Every record of an entity as CSV (admins); recorded in the audit trail. With
        `purpose` (a mailing, a partner), contacts without that consent are left out."""
        entity = ENTITIES[entity_name]
        keep = None
        if purpose is not None and entity.name == "contacts":
            chosen = purpose

            def keep(row: ReadBase) -> bool:
                consent = getattr(row, "consent", None)
                return consent is not None and gives(consent.model_dump(), chosen)

        content, skipped = crm.export(entity, actor, keep=keep, purpose=purpose)
        headers = {"Content-Disposition": f'attachment; filename="{entity.name}.csv"'}
        if keep is not None and purpose is not None:
            headers["X-Vigie-Skipped"] = f"{skipped} ({skipped_reason(purpose)})"
        return Response(content=content, media_type="text/csv", headers=headers)

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


def _import_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["import"])

    @router.post(
        "/import/{entity_name}",
        response_model=ImportOut,
        operation_id="import_entity",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        responses={
            **AUTH_ERRORS,
            413: {"model": Problem, "description": "over `http.max_import_bytes`"},
            415: {"model": Problem, "description": "the body is not sent as text/csv"},
            422: {"model": ImportOut, "description": "bad rows: nothing was imported"},
            503: {"model": Problem, "description": "the CRM projection is behind"},
        },
    )
    async def import_csv(
        entity_name: EntityName,
        request: Request,
        crm: CrmDep,
        _admin: AuditReader,
        actor: RequestActor,
    ) -> ImportOut | JSONResponse:
        """Import a CSV file (admins), all or nothing; a row with an existing `id` updates it."""
        entity = ENTITIES[entity_name]
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "text/csv":
            raise HTTPException(
                415,
                f"Content-Type {media_type or '(none)'!r}: send the file as text/csv "
                "/ envoyez le fichier en text/csv",
            )
        # The size is bounded before this route by `http.max_import_bytes` (web.limits).
        body = await request.body()
        text = body.decode("utf-8-sig", errors="replace")
        report = await crm.import_csv(entity, text, actor)
        out = ImportOut(
            entity=entity.name,
            created=report.created,
            updated=report.updated,
            errors=[RowErrorOut(line=e.line, reason=e.reason) for e in report.errors],
        )
        if not report.ok:
            return JSONResponse(out.model_dump(), status_code=422)
        return out

    return router


def build_router() -> APIRouter:
    """Every CRM route: one CRUD router per entity, the timelines and the export."""
    router = APIRouter()
    router.include_router(api_timeline.router)
    router.include_router(_export_router())
    router.include_router(_import_router())
    for entity in ENTITIES.values():
        router.include_router(_crud_router(entity))
    return router
