"""API tokens: random secrets sent as `Authorization: Bearer …`, stored only as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import msgspec
import sqlalchemy as sa

from vigie.auth.users import Principal, _principal, users
from vigie.store.schema import metadata
from vigie.store.types import UtcDateTime

PREFIX = "vgt_"

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)


class IssuedToken(msgspec.Struct, kw_only=True):
    """A token as handed out once: its id, name and the secret itself."""

    id: int
    name: str
    token: str


def _digest(token: str) -> str:
    # Tokens are 256-bit random values: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, engine: sa.Engine, user_id: int, name: str, now: datetime) -> IssuedToken:
    """Create a token for a user; the secret is returned here and never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        token_id = conn.execute(
            api_tokens.insert()
            .values(user_id=user_id, name=name, token_hash=_digest(token), created_at=now)
            .returning(api_tokens.c.id)
        ).scalar_one()
    return IssuedToken(id=int(token_id), name=name, token=token)


def user_for_token(*, engine: sa.Engine, token: str) -> Principal | None:
    """The active user a valid, unrevoked token belongs to, or None."""
    query = (
        sa.select(users)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(
            api_tokens.c.token_hash == _digest(token),
            api_tokens.c.revoked_at.is_(None),
            users.c.disabled_at.is_(None),
        )
    )
    # Every API request asks this: a reader, not queued behind SQLite's write lock.
    with engine.connect().execution_options(sqlite_immediate=False) as conn:
        row = conn.execute(query).first()
    return _principal(row) if row is not None else None


def revoke_token(*, engine: sa.Engine, token_id: int, user_id: int, now: datetime) -> bool:
    """Revoke one of a user's tokens; False when there is no such active token."""
    with engine.begin() as conn:
        result = conn.execute(
            api_tokens.update()
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.user_id == user_id,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    return result.rowcount == 1
