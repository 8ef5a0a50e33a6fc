"""`Annotated` dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from vigie.web.runtime import Runtime
from vigie.web.session import SessionData, Sessions


def get_runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_sessions(request: Request) -> Sessions:
    """The session signer of the app serving this request."""
    sessions: Sessions = request.app.state.sessions
    return sessions


def get_session(request: Request) -> SessionData:
    """The web interface's session of this request (empty when signed out)."""
    return get_sessions(request).read(request)


def require_signed_in(request: Request) -> SessionData:
    """The session of a signed-in user; 401 otherwise."""
    session = get_session(request)
    if session.username is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in at /login first")
    return session


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
SessionDep = Annotated[SessionData, Depends(get_session)]
SignedInDep = Annotated[SessionData, Depends(require_signed_in)]
