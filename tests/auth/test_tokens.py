"""API tokens: shown once, stored hashed, revocable."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from vigie.auth.tokens import api_tokens, issue_token, revoke_token, user_for_token
from vigie.auth.users import create_user

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_token_identifies_its_user_until_revoked(engine: sa.Engine) -> None:
    """A token maps to its user, is not stored in clear, and stops working once revoked."""
    user = create_user(
        engine=engine, username="dan", password="long-enough-password", role="finance", now=NOW
    )
    issued = issue_token(engine=engine, user_id=user.id, name="script", now=NOW)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens.c.token_hash)).scalar_one()
    assert issued.token not in stored
    found = user_for_token(engine=engine, token=issued.token)
    assert found is not None and found.username == "dan"
    assert user_for_token(engine=engine, token=issued.token + "x") is None
    assert revoke_token(engine=engine, token_id=issued.id, user_id=user.id, now=NOW)
    assert user_for_token(engine=engine, token=issued.token) is None
