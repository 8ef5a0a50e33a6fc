"""`Annotated` dependency aliases shared by the routes: the runtime, the caller and its rights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vigie.auth.audit import Actor
from vigie.auth.roles import Action, allowed
from vigie.auth.sessions import COOKIE, session_user
from vigie.auth.tokens import user_for_token
from vigie.auth.users import Principal
from vigie.web.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

NO_NUL = r"^[^\x00]*$"
"""A pattern for free-text parameters: PostgreSQL cannot store or compare NUL characters."""

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`vigie users token USERNAME`), or the session cookie.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigie"'}


def get_current_user(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the Bearer token or the session cookie; 401 without one, 403 for a
    write key (write keys can only ingest events)."""
    engine = runtime.engine
    if credentials is not None:
        token = credentials.credentials
        if runtime.settings.config.source_for_key(token) is not None:
            raise HTTPException(
                403,
                "a write key can only send events to /v1/*; use a user's API token "
                "/ une clé d'écriture ne sert qu'à envoyer des événements",
            )
        user = user_for_token(engine=engine, token=token)
        if user is None:
            raise HTTPException(401, "unknown or revoked token / jeton inconnu", _CHALLENGE)
        return user
    cookie = request.cookies.get(COOKIE)
    if cookie:
        user = session_user(
            engine=engine, secret=runtime.settings.config.session_secret(), value=cookie
        )
        if user is not None:
            return user
    raise HTTPException(
        401,
        "authentication required: send Authorization: Bearer TOKEN / authentification requise",
        _CHALLENGE,
    )


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require(resource: str, action: Action) -> Callable[[Principal], Principal]:
    """A dependency that lets the request through only when the user's role may do this."""

    def check(user: CurrentUser) -> Principal:
        if not allowed(user.role, resource, action):
            raise HTTPException(
                403,
                f"role {user.role.value!r} may not {action} {resource} "
                f"/ le rôle {user.role.value!r} n'y a pas accès",
            )
        return user

    return check


def get_actor(request: Request, user: CurrentUser) -> Actor:
    """The caller as the audit trail records it: user, role, address and user agent."""
    return Actor(
        name=user.username,
        role=user.role.value,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


RequestActor = Annotated[Actor, Depends(get_actor)]
EventsReader = Annotated[Principal, Depends(require("events", "read"))]
AuditReader = Annotated[Principal, Depends(require("audit", "read"))]
UsersAdmin = Annotated[Principal, Depends(require("users", "write"))]
AlertsReader = Annotated[Principal, Depends(require("alerts", "read"))]
AnalyticsReader = Annotated[Principal, Depends(require("analytics", "read"))]
PlaybooksReader = Annotated[Principal, Depends(require("playbooks", "read"))]
PlaybooksRunner = Annotated[Principal, Depends(require("playbooks", "write"))]
NotificationsReader = Annotated[Principal, Depends(require("notifications", "read"))]
LeadsReader = Annotated[Principal, Depends(require("leads", "read"))]
