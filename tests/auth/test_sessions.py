"""Browser sessions: a signed value that only the right key accepts, naming a session kept on
the server that logout, a password change, disabling and an admin revoke (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from vigie.auth.accounts import Accounts
from vigie.auth.audit import Actor
from vigie.auth.sessions import issue_session, session_user
from vigie.auth.throttle import Throttled
from vigie.auth.users import UserError, create_user
from vigie.clock import ManualClock
from vigie.config import Config

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "long-enough-password"
ACTOR = Actor(name="cli:test", role="admin", ip="192.0.2.7")


def _accounts(engine: sa.Engine, clock: ManualClock) -> Accounts:
    config = Config(secret_key="a-long-random-secret-for-tests")
    return Accounts(
        engine=engine,
        clock=clock,
        session_secret=config.session_secret,
        is_write_key=lambda _token: False,
        secure_cookies=False,
    )


def test_a_session_value_is_signed_for_the_user(engine: sa.Engine) -> None:
    """The session value names the user; a tampered value or another key fail."""
    config = Config(secret_key="a-long-random-secret-for-tests")
    user = create_user(engine=engine, username="erin", password=PASSWORD, role="support", now=NOW)
    value = issue_session(engine=engine, secret=config.session_secret(), user=user, now=NOW)
    found = session_user(engine=engine, secret=config.session_secret(), value=value, now=NOW)
    assert found is not None and found.id == user.id
    tampered = value[:-2] + "xx"
    assert (
        session_user(engine=engine, secret=config.session_secret(), value=tampered, now=NOW) is None
    )
    other = Config(secret_key="another-long-random-secret")
    assert session_user(engine=engine, secret=other.session_secret(), value=value, now=NOW) is None
    later = NOW + timedelta(hours=13)
    assert (
        session_user(engine=engine, secret=config.session_secret(), value=value, now=later) is None
    )


def test_logout_revokes_a_copied_cookie(engine: sa.Engine) -> None:
    """After logout, the same cookie value (as an attacker copied it) no longer signs in;
    another session of the same user stays open."""
    accounts = _accounts(engine, ManualClock(NOW))
    create_user(engine=engine, username="erin", password=PASSWORD, role="support", now=NOW)
    first = accounts.login(username="erin", password=PASSWORD, actor=ACTOR)
    second = accounts.login(username="erin", password=PASSWORD, actor=ACTOR)
    assert first is not None and second is not None
    copied = first[1]
    accounts.logout(first[1], ACTOR)
    assert accounts.session_user(copied) is None
    assert accounts.session_user(second[1]) is not None


def test_password_change_disabling_and_admin_revoke_close_every_session(engine: sa.Engine) -> None:
    """A new password, an admin's revocation, or disabling the user closes all their sessions;
    a disabled user cannot sign in again."""
    accounts = _accounts(engine, ManualClock(NOW))
    user = create_user(engine=engine, username="erin", password=PASSWORD, role="sales", now=NOW)
    opened = accounts.login(username="erin", password=PASSWORD, actor=ACTOR)
    assert opened is not None
    accounts.set_password(username="erin", password="another-long-password", actor=ACTOR)
    assert accounts.session_user(opened[1]) is None
    assert accounts.login(username="erin", password=PASSWORD, actor=ACTOR) is None
    again = accounts.login(username="erin", password="another-long-password", actor=ACTOR)
    assert again is not None
    assert accounts.revoke_sessions(user_id=user.id, actor=ACTOR) == 1
    assert accounts.session_user(again[1]) is None
    third = accounts.login(username="erin", password="another-long-password", actor=ACTOR)
    assert third is not None
    accounts.disable_user(username="erin", actor=ACTOR)
    assert accounts.session_user(third[1]) is None
    assert accounts.login(username="erin", password="another-long-password", actor=ACTOR) is None
    with pytest.raises(UserError):
        accounts.disable_user(username="erin", actor=ACTOR)
    actions = [r.action for r in accounts.audit_trail(entity="users")]
    assert {"user.password", "sessions.revoke", "user.disable"} <= set(actions)


def test_guessing_is_throttled_per_account_even_for_the_right_password(engine: sa.Engine) -> None:
    """After five wrong passwords the account waits a delay that doubles with each further
    failure (Retry-After); during the wait even the right password is refused; once the
    delay has passed on the clock, the right password works and clears the count."""
    clock = ManualClock(NOW)
    accounts = _accounts(engine, clock)
    create_user(engine=engine, username="erin", password=PASSWORD, role="sales", now=NOW)
    for _ in range(5):
        assert accounts.login(username="erin", password="wrong-password", actor=ACTOR) is None
    with pytest.raises(Throttled) as first:
        accounts.login(username="erin", password=PASSWORD, actor=ACTOR)
    assert first.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    assert accounts.login(username="erin", password="wrong-password", actor=ACTOR) is None
    with pytest.raises(Throttled) as second:
        accounts.issue_token(username="erin", password=PASSWORD, name="x", actor=ACTOR)
    assert second.value.retry_after == 2
    clock.advance(timedelta(seconds=2))
    assert accounts.login(username="erin", password=PASSWORD, actor=ACTOR) is not None
    assert accounts.login(username="erin", password="wrong-password", actor=ACTOR) is None


def test_guessing_from_one_address_is_throttled_across_accounts(engine: sa.Engine) -> None:
    """One address trying many usernames is held back after twenty failures, while the same
    accounts from another address are not."""
    clock = ManualClock(NOW)
    accounts = _accounts(engine, clock)
    create_user(engine=engine, username="erin", password=PASSWORD, role="sales", now=NOW)
    for i in range(20):
        accounts.login(username=f"user{i}", password="guess-guess", actor=ACTOR)
    with pytest.raises(Throttled):
        accounts.login(username="erin", password=PASSWORD, actor=ACTOR)
    elsewhere = Actor(name="(anonymous)", ip="198.51.100.9")
    assert accounts.login(username="erin", password=PASSWORD, actor=elsewhere) is not None
    clock.advance(timedelta(hours=1))
    assert accounts.login(username="erin", password=PASSWORD, actor=ACTOR) is not None
