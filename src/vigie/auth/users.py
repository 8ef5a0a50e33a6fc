"""Users of Vigie: a username, an argon2 password hash, a role and (for sales) a staff link."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vigie.auth.roles import Role
from vigie.store.schema import metadata
from vigie.store.types import UtcDateTime

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("staff_id", sa.String(64)),
    sa.Column("display_name", sa.String(200)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("disabled_at", UtcDateTime),
)

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,100}$")
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user cannot be created or changed; the message says which input and why."""


class Principal(msgspec.Struct, kw_only=True, frozen=True):
    """Who is calling: a user and the role that decides what they may do."""

    id: int
    username: str
    role: Role
    staff_id: str | None = None
    display_name: str | None = None


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted, parameters stored in the hash)."""
    return _hasher.hash(password)


def create_user(
    *,
    engine: sa.Engine,
    username: str,
    password: str,
    role: Role | str,
    now: datetime,
    staff_id: str | None = None,
    display_name: str | None = None,
) -> Principal:
    """Create a user; refuse a taken username, an invalid one, a short password or a bad role."""
    if not USERNAME.match(username):
        raise UserError(
            f"username {username!r}: use 2-100 letters, digits, '.', '_', '@' or '-' "
            "/ nom d'utilisateur invalide"
        )
    _check_password(password)
    try:
        the_role = Role(role)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise UserError(f"role {role!r}: choose one of {choices}") from exc
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        taken = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
        if taken is not None:
            raise UserError(f"username {username!r} is taken / déjà utilisé")
        user_id = conn.execute(
            users.insert()
            .values(
                username=username,
                password_hash=hash_password(password),
                role=the_role.value,
                staff_id=staff_id,
                display_name=display_name,
                created_at=now,
            )
            .returning(users.c.id)
        ).scalar_one()
    return Principal(
        id=int(user_id),
        username=username,
        role=the_role,
        staff_id=staff_id,
        display_name=display_name,
    )


def _principal(row: sa.Row[tuple[object, ...]]) -> Principal:
    mapping = row._mapping
    return Principal(
        id=int(mapping["id"]),
        username=str(mapping["username"]),
        role=Role(mapping["role"]),
        staff_id=mapping["staff_id"],
        display_name=mapping["display_name"],
    )


def get_user(*, engine: sa.Engine, user_id: int) -> Principal | None:
    """The active user with this id, or None."""
    query = sa.select(users).where(users.c.id == user_id, users.c.disabled_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _principal(row) if row is not None else None


def list_users(*, engine: sa.Engine) -> list[Principal]:
    """Every active user, by username."""
    query = sa.select(users).where(users.c.disabled_at.is_(None)).order_by(users.c.username)
    with engine.connect() as conn:
        return [_principal(row) for row in conn.execute(query)]


def authenticate(*, engine: sa.Engine, username: str, password: str) -> Principal | None:
    """The user when `password` matches; re-hashes when argon2's parameters changed."""
    query = sa.select(users).where(users.c.username == username, users.c.disabled_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        # Spend the same time as a real check, so usernames cannot be probed by timing.
        _hasher.hash(password)
        return None
    stored = str(row._mapping["password_hash"])
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(stored):
        with engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == row._mapping["id"])
                .values(password_hash=hash_password(password))
            )
    return _principal(row)


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise UserError("password: at least 10 characters / au moins 10 caractères")


def set_password(*, engine: sa.Engine, username: str, password: str) -> Principal:
    """Give an active user a new password; `UserError` for a short one or an unknown user."""
    _check_password(password)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(users).where(users.c.username == username, users.c.disabled_at.is_(None))
        ).first()
        if row is None:
            raise UserError(f"no active user {username!r} / utilisateur inconnu")
        conn.execute(
            users.update()
            .where(users.c.id == row._mapping["id"])
            .values(password_hash=hash_password(password))
        )
    return _principal(row)


def disable_user(*, engine: sa.Engine, username: str, now: datetime) -> Principal:
    """Disable an active user; `UserError` when there is none by that name."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(users).where(users.c.username == username, users.c.disabled_at.is_(None))
        ).first()
        if row is None:
            raise UserError(f"no active user {username!r} / utilisateur inconnu")
        conn.execute(users.update().where(users.c.id == row._mapping["id"]).values(disabled_at=now))
    return _principal(row)
