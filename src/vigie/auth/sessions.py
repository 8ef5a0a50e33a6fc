"""Browser sessions: a login checks the password and hands out a signed, timed cookie value
naming a session kept on the server, so that it can be revoked before it expires.

The value is signed with a secret (itsdangerous; the configuration's `secret_key`) and
carries a random session id whose SHA-256 is the key of a `user_sessions` row: logging out
revokes that row, changing one's password or being disabled (or an admin's revocation)
revokes every row of the user, and a copied cookie stops working at once. A changed key
still logs everybody out.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vigie.auth.users import Principal, get_user
from vigie.store.schema import metadata
from vigie.store.types import UtcDateTime

COOKIE = "vigie_session"
MAX_AGE_SECONDS = 12 * 3600
_SALT = "vigie.session"

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def issue_session(*, engine: sa.Engine, secret: str, user: Principal, now: datetime) -> str:
    """Open a session for `user` and return its signed value, for the session cookie."""
    session_id = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            user_sessions.insert().values(
                id=_digest(session_id),
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(seconds=MAX_AGE_SECONDS),
            )
        )
    return _serializer(secret).dumps({"uid": user.id, "sid": session_id})


def _read(secret: str, value: str, max_age: int) -> tuple[int, str] | None:
    try:
        data = _serializer(secret).loads(value, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    uid, sid = data.get("uid"), data.get("sid")
    if not isinstance(uid, int) or not isinstance(sid, str):
        return None
    return uid, sid


def session_user(
    *,
    engine: sa.Engine,
    secret: str,
    value: str,
    now: datetime,
    max_age: int = MAX_AGE_SECONDS,
) -> Principal | None:
    """The active user of a session value that is authentic, not older than `max_age`, and
    whose session is neither revoked nor expired."""
    read = _read(secret, value, max_age)
    if read is None:
        return None
    uid, sid = read
    query = sa.select(user_sessions.c.id).where(
        user_sessions.c.id == _digest(sid),
        user_sessions.c.user_id == uid,
        user_sessions.c.revoked_at.is_(None),
        user_sessions.c.expires_at > now,
    )
    # Every page and API call of a browser asks this: a reader, not behind the write lock.
    with engine.connect().execution_options(sqlite_immediate=False) as conn:
        if conn.execute(query).first() is None:
            return None
    return get_user(engine=engine, user_id=uid)


def revoke_session(*, engine: sa.Engine, secret: str, value: str, now: datetime) -> bool:
    """Revoke the session of a signed value (logout); False when it names no open session."""
    read = _read(secret, value, MAX_AGE_SECONDS)
    if read is None:
        return False
    with engine.begin() as conn:
        result = conn.execute(
            user_sessions.update()
            .where(user_sessions.c.id == _digest(read[1]), user_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return result.rowcount == 1


def revoke_user_sessions(*, engine: sa.Engine, user_id: int, now: datetime) -> int:
    """Revoke every open session of a user; the number revoked."""
    with engine.begin() as conn:
        result = conn.execute(
            user_sessions.update()
            .where(user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return int(result.rowcount)
