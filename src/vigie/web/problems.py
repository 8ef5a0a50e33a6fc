"""The error responses the REST API documents, shared by the routers (OpenAPI stays accurate)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """An error: what went wrong and what to do."""

    detail: Any


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid token or session"},
    403: {"model": Problem, "description": "the role may not do this"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such record (or not yours to see)"},
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "an input is refused: `detail` names the field and why"},
}
