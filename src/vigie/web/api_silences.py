"""REST API of silences, in Alertmanager API v2's shape: `GET/POST /api/silences`,
`GET/DELETE /api/silences/{id}` (deleting expires the silence, as Alertmanager does)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigie.rules.silences import (
    MAX_COMMENT,
    MAX_MATCHERS,
    MAX_NAME,
    MAX_VALUE,
    Matcher,
    SilenceDraft,
)
from vigie.web.deps import NO_NUL, RequestActor, SilencesDep, require
from vigie.web.problems import AUTH_ERRORS, INVALID, NOT_FOUND

router = APIRouter(
    prefix="/api",
    tags=["alerts"],
    dependencies=[Depends(require("alerts", "read"))],
    responses=AUTH_ERRORS,
)
SilenceId = Annotated[str, Path(max_length=36, pattern=NO_NUL, description="the silence's id")]


def _json(data: Any, status_code: int = 200) -> Response:
    return Response(
        content=msgspec.json.encode(data), media_type="application/json", status_code=status_code
    )


class MatcherBody(BaseModel):
    """A label condition: `isRegex` makes `value` an anchored regular expression, `isEqual:
    false` negates it."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NO_NUL)
    value: str = Field(max_length=MAX_VALUE, pattern=NO_NUL)
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class PostableSilence(BaseModel):
    """A new silence (Alertmanager's PostableSilence). `createdBy` is the signed-in user
    whatever the body says; `startsAt` defaults to now."""

    model_config = ConfigDict(populate_by_name=True)

    matchers: list[MatcherBody] = Field(min_length=1, max_length=MAX_MATCHERS)
    starts_at: AwareDatetime | None = Field(None, alias="startsAt")
    ends_at: AwareDatetime = Field(alias="endsAt")
    created_by: str | None = Field(None, alias="createdBy", max_length=MAX_NAME, pattern=NO_NUL)
    comment: str = Field("", max_length=MAX_COMMENT, pattern=NO_NUL)


def _draft(body: PostableSilence) -> SilenceDraft:
    return SilenceDraft(
        matchers=[
            Matcher(name=m.name, value=m.value, is_regex=m.is_regex, is_equal=m.is_equal)
            for m in body.matchers
        ],
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        comment=body.comment,
    )


@router.get("/silences", response_class=Response)
def list_silences(
    silences: SilencesDep,
    state: Annotated[
        Literal["pending", "active", "expired"] | None,
        Query(description="only silences in this state / seulement dans cet état"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Silences, those ending last first, each with its state (pending, active, expired)."""
    return _json({"silences": silences.list(state=state, limit=limit)})


@router.post(
    "/silences",
    response_class=Response,
    status_code=201,
    dependencies=[Depends(require("alerts", "write"))],
    responses=INVALID,
)
def create_silence(body: PostableSilence, silences: SilencesDep, actor: RequestActor) -> Response:
    """Silence the alerts the matchers select from `startsAt` to `endsAt`: they are still
    recorded and shown, but notify nobody, run no playbook and post no webhook."""
    silence = silences.create(_draft(body), actor=actor)
    return _json({"silenceID": silence.id, "silence": silence}, status_code=201)


@router.get("/silences/{silence_id}", response_class=Response, responses=NOT_FOUND)
def get_silence(silence_id: SilenceId, silences: SilencesDep) -> Response:
    """One silence."""
    return _json(silences.get(silence_id))


@router.delete(
    "/silences/{silence_id}",
    response_class=Response,
    dependencies=[Depends(require("alerts", "write"))],
    responses=NOT_FOUND,
)
def expire_silence(silence_id: SilenceId, silences: SilencesDep, actor: RequestActor) -> Response:
    """Expire the silence now; it stays listed, as expired."""
    return _json(silences.expire(silence_id, actor=actor))
