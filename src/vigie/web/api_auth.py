"""Logging in (API tokens and browser sessions), users, and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from vigie.auth.audit import Actor
from vigie.auth.roles import Role
from vigie.auth.sessions import COOKIE, MAX_AGE_SECONDS
from vigie.auth.users import Principal, UserError
from vigie.web.deps import NO_NUL, AccountsDep, AuditReader, CurrentUser, RequestActor, UsersAdmin

router = APIRouter(prefix="/api", tags=["auth"])


class Credentials(BaseModel):
    """A username and password."""

    username: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1000)


class TokenRequest(Credentials):
    """Credentials and a name for the new token (e.g. the script that will use it)."""

    name: str = Field(default="api", min_length=1, max_length=200, pattern=NO_NUL)


class TokenOut(BaseModel):
    """A new API token; the secret is shown once."""

    id: int
    name: str
    token: str


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    id: int
    username: str
    role: Role
    staff_id: str | None = None
    display_name: str | None = None


class UserIn(BaseModel):
    """A user to create."""

    username: str = Field(min_length=2, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=10, max_length=1000)
    role: Role
    staff_id: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    display_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class AuditOut(BaseModel):
    """One line of the audit trail."""

    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    entity: str
    entity_id: str | None
    ip: str | None
    user_agent: str | None
    log_offset: int | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """Audit lines, newest first; pass `next_before` as `before` for the next page."""

    items: list[AuditOut]
    next_before: int | None


def _user_out(user: Principal) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        staff_id=user.staff_id,
        display_name=user.display_name,
    )


def _visitor(request: Request) -> Actor:
    """Who calls before they have proved who they are (the service names them once they have)."""
    return Actor(
        name="(anonymous)",
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


_BAD_LOGIN = "wrong username or password / identifiant ou mot de passe incorrect"


_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many failed sign-ins: wait `Retry-After` seconds"}
}


@router.post(
    "/auth/token",
    status_code=201,
    responses={401: {"description": "bad credentials"}, **_THROTTLED},
)
def create_token(body: TokenRequest, request: Request, accounts: AccountsDep) -> TokenOut:
    """Exchange a username and password for a new API token (send it as `Bearer`)."""
    issued = accounts.issue_token(
        username=body.username, password=body.password, name=body.name, actor=_visitor(request)
    )
    if issued is None:
        raise HTTPException(401, _BAD_LOGIN)
    return TokenOut(id=issued.id, name=issued.name, token=issued.token)


@router.delete(
    "/auth/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "no such active token of yours"}},
)
def delete_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: CurrentUser,
    actor: RequestActor,
    accounts: AccountsDep,
) -> None:
    """Revoke one of your API tokens."""
    if not accounts.revoke_token(token_id=token_id, user=user, actor=actor):
        raise HTTPException(404, f"no active token {token_id} of yours / jeton introuvable")


@router.post("/auth/login", responses={401: {"description": "bad credentials"}, **_THROTTLED})
def session_login(
    body: Credentials, request: Request, response: Response, accounts: AccountsDep
) -> UserOut:
    """Log in for the browser: sets the signed session cookie."""
    logged_in = accounts.login(
        username=body.username, password=body.password, actor=_visitor(request)
    )
    if logged_in is None:
        raise HTTPException(401, _BAD_LOGIN)
    user, value = logged_in
    _set_cookie(response, value, accounts.secure_cookies)
    return _user_out(user)


def _set_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, max_age=MAX_AGE_SECONDS, httponly=True, samesite="lax", secure=secure
    )


@router.post("/auth/logout", status_code=204, response_class=Response)
def session_logout(request: Request, response: Response, accounts: AccountsDep) -> None:
    """Close the session on the server (a copy of the cookie stops working) and forget it."""
    value = request.cookies.get(COOKIE)
    if value:
        accounts.logout(value, _visitor(request))
    response.delete_cookie(COOKIE)


class PasswordChange(BaseModel):
    """Your current password and the new one (at least 10 characters)."""

    current: str = Field(min_length=1, max_length=1000)
    new: str = Field(min_length=10, max_length=1000)


@router.post(
    "/auth/password",
    status_code=204,
    response_class=Response,
    responses={401: {"description": "wrong current password"}, **_THROTTLED},
)
def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    user: CurrentUser,
    accounts: AccountsDep,
    actor: RequestActor,
) -> None:
    """Change your password: every session of yours is closed (other browsers must sign in
    again) and this browser gets a new one."""
    if accounts.check_password(username=user.username, password=body.current, actor=actor) is None:
        raise HTTPException(401, _BAD_LOGIN)
    try:
        accounts.set_password(username=user.username, password=body.new, actor=actor)
    except UserError as exc:
        raise HTTPException(422, str(exc)) from exc
    logged_in = accounts.login(username=user.username, password=body.new, actor=actor)
    if logged_in is not None and request.cookies.get(COOKIE):
        _set_cookie(response, logged_in[1], accounts.secure_cookies)


@router.get("/auth/me")
def me(user: CurrentUser) -> UserOut:
    """The user behind the token or session."""
    return _user_out(user)


@router.get("/users")
def users_list(accounts: AccountsDep, _admin: UsersAdmin) -> list[UserOut]:
    """Every active user (admins only)."""
    return [_user_out(u) for u in accounts.users()]


@router.post("/users", status_code=201, responses={409: {"description": "username taken"}})
def users_create(
    body: UserIn, accounts: AccountsDep, _admin: UsersAdmin, actor: RequestActor
) -> UserOut:
    """Create a user with a role (admins only)."""
    try:
        user = accounts.create_user(
            username=body.username,
            password=body.password,
            role=body.role,
            staff_id=body.staff_id,
            display_name=body.display_name,
            actor=actor,
        )
    except UserError as exc:
        raise HTTPException(409, str(exc)) from exc
    return _user_out(user)


@router.post(
    "/users/{username}/disable",
    responses={404: {"description": "no such active user"}},
)
def users_disable(
    username: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")],
    accounts: AccountsDep,
    _admin: UsersAdmin,
    actor: RequestActor,
) -> UserOut:
    """Disable a user (admins only): their sessions and API tokens stop working at once."""
    try:
        return _user_out(accounts.disable_user(username=username, actor=actor))
    except UserError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.delete(
    "/users/{username}/sessions",
    responses={404: {"description": "no such active user"}},
)
def users_revoke_sessions(
    username: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")],
    accounts: AccountsDep,
    _admin: UsersAdmin,
    actor: RequestActor,
) -> dict[str, int]:
    """Close every browser session of a user (admins only); they must sign in again."""
    found = next((u for u in accounts.users() if u.username == username), None)
    if found is None:
        raise HTTPException(404, f"no active user {username!r} / utilisateur inconnu")
    return {"revoked": accounts.revoke_sessions(user_id=found.id, actor=actor)}


@router.get("/audit")
def audit_list(
    accounts: AccountsDep,
    _admin: AuditReader,
    actor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    action: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
    entity: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
    entity_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The audit trail, newest first (admins only): who did what, when and from where."""
    records = accounts.audit_trail(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        limit=limit,
    )
    items = [AuditOut(**{f: getattr(r, f) for f in AuditOut.model_fields}) for r in records]
    return AuditPage(items=items, next_before=records[-1].id if records else None)
