"""Browser sessions: a login checks the password and hands out a signed, timed cookie value.

The value is signed with a secret (itsdangerous; the configuration's `secret_key`), so the
server keeps no session table; a changed key logs everybody out.
"""

from __future__ import annotations

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vigie.auth.users import Principal, authenticate, get_user

COOKIE = "vigie_session"
MAX_AGE_SECONDS = 12 * 3600
_SALT = "vigie.session"


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def issue_session(*, secret: str, user: Principal) -> str:
    """A signed session value naming `user`, for the session cookie."""
    return _serializer(secret).dumps({"uid": user.id})


def login(
    *, engine: sa.Engine, secret: str, username: str, password: str
) -> tuple[Principal, str] | None:
    """The user and a signed session value when the password matches, else None."""
    user = authenticate(engine=engine, username=username, password=password)
    if user is None:
        return None
    return user, issue_session(secret=secret, user=user)


def session_user(
    *, engine: sa.Engine, secret: str, value: str, max_age: int = MAX_AGE_SECONDS
) -> Principal | None:
    """The active user of a session value that is authentic and not older than `max_age`."""
    try:
        data = _serializer(secret).loads(value, max_age=max_age)
    except BadSignature:
        return None
    uid = data.get("uid") if isinstance(data, dict) else None
    if not isinstance(uid, int):
        return None
    return get_user(engine=engine, user_id=uid)
