"""The user behind a token or a session is remembered for a second, and forgotten at once when
this process revokes anything (issue 25: one store look-up per API call was a tenth of a
CRM write's cost)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vigie.auth.accounts import CACHE_SECONDS, Accounts
from vigie.auth.audit import Actor
from vigie.auth.sessions import revoke_user_sessions
from vigie.auth.tokens import issue_token, revoke_token
from vigie.auth.users import create_user, disable_user
from vigie.clock import ManualClock
from vigie.config import Config

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "long-enough-password"
ACTOR = Actor(name="cli:test", role="admin", ip="192.0.2.7")


class Timer:
    """A monotonic timer that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _accounts(engine: sa.Engine, timer: Timer) -> Accounts:
    config = Config(secret_key="a-long-random-secret-for-tests")
    return Accounts(
        engine=engine,
        clock=ManualClock(NOW),
        session_secret=config.session_secret,
        is_write_key=lambda _token: False,
        secure_cookies=False,
        timer=timer,
    )


def _count_token_reads(engine: sa.Engine) -> list[str]:
    reads: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "api_tokens" in statement:
            reads.append(statement)

    return reads


def test_a_token_is_looked_up_once_per_second(engine: sa.Engine) -> None:
    """Repeated calls with one token ask the store once, and again after `CACHE_SECONDS`."""
    timer = Timer()
    accounts = _accounts(engine, timer)
    user = create_user(engine=engine, username="dan", password=PASSWORD, role="sales", now=NOW)
    issued = issue_token(engine=engine, user_id=user.id, name="sync", now=NOW)
    reads = _count_token_reads(engine)
    for _ in range(5):
        found = accounts.token_user(issued.token)
        assert found is not None and found.username == "dan"
    assert len(reads) == 1
    timer.now += CACHE_SECONDS + 0.01
    assert accounts.token_user(issued.token) is not None
    assert len(reads) == 2
    assert accounts.token_user(issued.token + "x") is None


def test_a_revocation_elsewhere_takes_effect_within_the_cache_time(engine: sa.Engine) -> None:
    """A token revoked by another process (the CLI) works until the remembered user expires,
    never longer."""
    timer = Timer()
    accounts = _accounts(engine, timer)
    user = create_user(engine=engine, username="dan", password=PASSWORD, role="sales", now=NOW)
    issued = issue_token(engine=engine, user_id=user.id, name="sync", now=NOW)
    assert accounts.token_user(issued.token) is not None
    assert revoke_token(engine=engine, token_id=issued.id, user_id=user.id, now=NOW)
    timer.now += CACHE_SECONDS / 2
    assert accounts.token_user(issued.token) is not None
    timer.now += CACHE_SECONDS / 2 + 0.01
    assert accounts.token_user(issued.token) is None


def test_revocations_through_this_process_take_effect_at_once(engine: sa.Engine) -> None:
    """Revoking a token, signing out, closing a user's sessions, changing a password or
    disabling a user: the next call is refused although the user was remembered."""
    timer = Timer()
    accounts = _accounts(engine, timer)
    user = create_user(engine=engine, username="dan", password=PASSWORD, role="sales", now=NOW)
    issued = issue_token(engine=engine, user_id=user.id, name="sync", now=NOW)
    assert accounts.token_user(issued.token) is not None
    assert accounts.revoke_token(token_id=issued.id, user=user, actor=ACTOR)
    assert accounts.token_user(issued.token) is None

    signed_in = accounts.login(username="dan", password=PASSWORD, actor=ACTOR)
    assert signed_in is not None
    cookie = signed_in[1]
    assert accounts.session_user(cookie) is not None
    accounts.logout(cookie, ACTOR)
    assert accounts.session_user(cookie) is None

    for close in (
        lambda: accounts.revoke_sessions(user_id=user.id, actor=ACTOR),
        lambda: accounts.set_password(username="dan", password=PASSWORD + "!", actor=ACTOR),
    ):
        signed_in = accounts.login(username="dan", password=_password(accounts), actor=ACTOR)
        assert signed_in is not None
        assert accounts.session_user(signed_in[1]) is not None
        close()
        assert accounts.session_user(signed_in[1]) is None

    token = issue_token(engine=engine, user_id=user.id, name="other", now=NOW)
    assert accounts.token_user(token.token) is not None
    accounts.disable_user(username="dan", actor=ACTOR)
    assert accounts.token_user(token.token) is None


def _password(accounts: Accounts) -> str:
    """The password that signs dan in now (the test changes it once)."""
    with_old = accounts.check_password(username="dan", password=PASSWORD, actor=ACTOR)
    return PASSWORD if with_old is not None else PASSWORD + "!"


def test_a_look_up_that_spans_a_revocation_is_not_remembered(engine: sa.Engine) -> None:
    """A revocation that lands while the store is being asked is not undone by the answer
    arriving after it: the next call asks again and is refused."""
    timer = Timer()
    accounts = _accounts(engine, timer)
    user = create_user(engine=engine, username="dan", password=PASSWORD, role="sales", now=NOW)
    issued = issue_token(engine=engine, user_id=user.id, name="sync", now=NOW)
    revoked: list[bool] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _revoke_meanwhile(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        select = statement.lstrip().upper().startswith("SELECT")
        if select and "api_tokens" in statement and not revoked:
            revoked.append(True)
            accounts.revoke_token(token_id=issued.id, user=user, actor=ACTOR)

    assert accounts.token_user(issued.token) is not None  # answered before the revocation
    assert accounts.token_user(issued.token) is None


def test_a_disabled_user_elsewhere_is_refused_after_the_cache_time(engine: sa.Engine) -> None:
    """`vigie users disable` from another process closes the sessions the server remembers
    within `CACHE_SECONDS`."""
    timer = Timer()
    accounts = _accounts(engine, timer)
    create_user(engine=engine, username="dan", password=PASSWORD, role="sales", now=NOW)
    signed_in = accounts.login(username="dan", password=PASSWORD, actor=ACTOR)
    assert signed_in is not None
    user, cookie = signed_in
    assert accounts.session_user(cookie) is not None
    disable_user(engine=engine, username="dan", now=NOW)
    revoke_user_sessions(engine=engine, user_id=user.id, now=NOW)
    timer.now += CACHE_SECONDS + 0.01
    assert accounts.session_user(cookie) is None
