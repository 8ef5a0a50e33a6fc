"""Users: argon2 password hashes, roles, and refusal of bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from vigie.auth.roles import Role
from vigie.auth.users import UserError, authenticate, create_user, users

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_password_is_stored_as_argon2_and_verified(engine: sa.Engine) -> None:
    """The stored hash is argon2id, the right password logs in, a wrong one does not."""
    create_user(engine=engine, username="alice", password="s3cret-passw0rd", role="sales", now=NOW)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    user = authenticate(engine=engine, username="alice", password="s3cret-passw0rd")
    assert user is not None and user.role is Role.SALES
    assert authenticate(engine=engine, username="alice", password="wrong-password") is None
    assert authenticate(engine=engine, username="nobody", password="s3cret-passw0rd") is None


@pytest.mark.parametrize(
    ("username", "password", "role", "fragment"),
    [
        ("bob", "short", "sales", "password"),
        ("b b", "long-enough-password", "sales", "username"),
        ("bob", "long-enough-password", "wizard", "role"),
    ],
)
def test_bad_users_are_refused(
    engine: sa.Engine, username: str, password: str, role: str, fragment: str
) -> None:
    """A short password, an invalid username or an unknown role is refused, naming the input."""
    with pytest.raises(UserError, match=fragment):
        create_user(engine=engine, username=username, password=password, role=role, now=NOW)


def test_taken_username_is_refused(engine: sa.Engine) -> None:
    """Two users cannot share a username."""
    create_user(
        engine=engine, username="carol", password="long-enough-password", role="admin", now=NOW
    )
    with pytest.raises(UserError, match="taken"):
        create_user(
            engine=engine, username="carol", password="another-password", role="sales", now=NOW
        )
