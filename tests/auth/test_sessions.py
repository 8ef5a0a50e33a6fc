"""Browser sessions: a password login gives a signed value that only the right key accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from vigie.auth.sessions import login, session_user
from vigie.auth.users import create_user
from vigie.config import Config

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_login_signs_a_session_for_the_user(engine: sa.Engine) -> None:
    """The session value names the user; a wrong password, a tampered value or key fail."""
    config = Config(secret_key="a-long-random-secret-for-tests")
    create_user(
        engine=engine, username="erin", password="long-enough-password", role="support", now=NOW
    )
    assert (
        login(
            engine=engine,
            secret=config.session_secret(),
            username="erin",
            password="nope-nope-nope",
        )
        is None
    )
    logged_in = login(
        engine=engine,
        secret=config.session_secret(),
        username="erin",
        password="long-enough-password",
    )
    assert logged_in is not None
    user, value = logged_in
    found = session_user(engine=engine, secret=config.session_secret(), value=value)
    assert found is not None and found.id == user.id
    assert (
        session_user(engine=engine, secret=config.session_secret(), value=value[:-2] + "xx") is None
    )
    other = Config(secret_key="another-long-random-secret")
    assert session_user(engine=engine, secret=other.session_secret(), value=value) is None
