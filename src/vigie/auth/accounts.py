"""Accounts as the edges use them: sign in, tokens, users, preferences and the audit trail.

One service per running system (`vigie.system`), so that routes and commands never hold
the SQL engine: every change a person makes here is recorded in the audit trail in the
same call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cachetools import TTLCache

from vigie.auth import audit, preferences, sessions, tokens, users
from vigie.auth.audit import Actor, AuditRecord
from vigie.auth.roles import Role
from vigie.auth.throttle import LoginThrottle
from vigie.auth.tokens import IssuedToken
from vigie.auth.users import Principal
from vigie.clock import Clock

CACHE_SECONDS = 1.0
"""How long the user of a token or a session is remembered, so that every API call does not
ask the store who sent it. A revocation made through this process (sign-out, token revoked,
user disabled, password changed) forgets every remembered user at once; one made by another
process (`vigie users disable`, another API node) takes effect within this time."""

CACHE_SIZE = 4096


class Accounts:
    """Users, their sessions and API tokens, their preferences and the audit trail.

    The user behind a token or a session value is remembered for `CACHE_SECONDS` (`timer`
    measures it: monotonic, so that a clock set back cannot stretch it).
    """

    def __init__(
        self,
        *,
        engine: sa.Engine,
        clock: Clock,
        session_secret: Callable[[], str],
        is_write_key: Callable[[str], bool],
        secure_cookies: bool,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._known: TTLCache[str, Principal] = TTLCache(CACHE_SIZE, CACHE_SECONDS, timer=timer)
        self._known_lock = threading.Lock()
        self._forgotten = 0  # how often `_forget` ran: a look-up that spans one is not kept
        self._clock = clock
        self._secret = session_secret
        self.is_write_key = is_write_key
        """Whether a bearer token is a source's write key (which may only send events)."""
        self.secure_cookies = secure_cookies
        """Whether session cookies are sent over HTTPS only (in production)."""
        self.throttle = LoginThrottle(clock=clock)
        """Failed sign-ins per account and per address (`auth.throttle`)."""

    def login(self, *, username: str, password: str, actor: Actor) -> tuple[Principal, str] | None:
        """The user and a signed session value when the password matches (audited as
        `login`, by `actor` with the user's own name and role), else None; `Throttled`
        after too many failures on the account or from the address."""
        user = self._authenticate(username=username, password=password, actor=actor)
        if user is None:
            return None
        value = sessions.issue_session(
            engine=self._engine, secret=self._secret(), user=user, now=self._clock.now()
        )
        self.record(_as(actor, user), "login", "users", str(user.id))
        return user, value

    def check_password(self, *, username: str, password: str, actor: Actor) -> Principal | None:
        """The user whose password this is, else None; each failure counted by the throttle
        (`Throttled` while the account or the address must wait)."""
        return self._authenticate(username=username, password=password, actor=actor)

    def _authenticate(self, *, username: str, password: str, actor: Actor) -> Principal | None:
        """The user whose password this is, each failure counted by the throttle."""
        self.throttle.check(username=username, address=actor.ip)
        user = users.authenticate(engine=self._engine, username=username, password=password)
        if user is None:
            self.throttle.failed(username=username, address=actor.ip)
            return None
        self.throttle.succeeded(username=username)
        return user

    def session_user(self, value: str) -> Principal | None:
        """The active user of an authentic, unexpired, unrevoked session value."""
        return self._remembered(
            "session:" + value,
            lambda: sessions.session_user(
                engine=self._engine, secret=self._secret(), value=value, now=self._clock.now()
            ),
        )

    def logout(self, value: str, actor: Actor) -> None:
        """Revoke the session of a cookie value, so that a copy of it stops working too."""
        self._forget()
        if sessions.revoke_session(
            engine=self._engine, secret=self._secret(), value=value, now=self._clock.now()
        ):
            self.record(actor, "logout", "users")

    def revoke_sessions(self, *, user_id: int, actor: Actor) -> int:
        """Close every browser session of a user (audited); how many were open."""
        revoked = sessions.revoke_user_sessions(
            engine=self._engine, user_id=user_id, now=self._clock.now()
        )
        self._forget()
        self.record(actor, "sessions.revoke", "users", str(user_id), {"sessions": revoked})
        return revoked

    def disable_user(self, *, username: str, actor: Actor) -> Principal:
        """Disable a user (audited): their sessions and tokens stop working at once and
        they can no longer sign in. `UserError` when there is no such active user."""
        user = users.disable_user(engine=self._engine, username=username, now=self._clock.now())
        sessions.revoke_user_sessions(engine=self._engine, user_id=user.id, now=self._clock.now())
        self._forget()
        self.record(actor, "user.disable", "users", str(user.id), {"username": user.username})
        return user

    def set_password(self, *, username: str, password: str, actor: Actor) -> Principal:
        """Change a user's password (audited) and close their browser sessions, so that one
        opened with the old password does not stay open."""
        user = users.set_password(engine=self._engine, username=username, password=password)
        sessions.revoke_user_sessions(engine=self._engine, user_id=user.id, now=self._clock.now())
        self._forget()
        self.record(actor, "user.password", "users", str(user.id))
        return user

    def token_user(self, token: str) -> Principal | None:
        """The active user a valid, unrevoked API token belongs to."""
        return self._remembered(
            "token:" + token, lambda: tokens.user_for_token(engine=self._engine, token=token)
        )

    def remembered_token_user(self, token: str) -> Principal | None:
        """The user of `token` if it is remembered (without asking the store), else None."""
        return self._recall("token:" + token)

    def remembered_session_user(self, value: str) -> Principal | None:
        """The user of a session value if it is remembered (without asking the store)."""
        return self._recall("session:" + value)

    def _recall(self, key: str) -> Principal | None:
        with self._known_lock:
            return self._known.get(_digest(key))

    def _remembered(self, key: str, look_up: Callable[[], Principal | None]) -> Principal | None:
        """The user remembered under `key` (a secret: kept only as its SHA-256), else the one
        `look_up` finds, remembered when there is one."""
        digest = _digest(key)
        with self._known_lock:
            known = self._known.get(digest)
            forgotten = self._forgotten
        if known is not None:
            return known
        found = look_up()
        with self._known_lock:
            # A revocation while the store was asked may have come after its answer.
            if found is not None and forgotten == self._forgotten:
                self._known[digest] = found
        return found

    def _forget(self) -> None:
        """Forget every remembered user: a session or a token may have stopped working."""
        with self._known_lock:
            self._known.clear()
            self._forgotten += 1

    def issue_token(
        self, *, username: str, password: str, name: str, actor: Actor
    ) -> IssuedToken | None:
        """A new API token for the user whose password this is (audited), else None;
        `Throttled` after too many failures, as for `login`."""
        user = self._authenticate(username=username, password=password, actor=actor)
        if user is None:
            return None
        issued = tokens.issue_token(
            engine=self._engine, user_id=user.id, name=name, now=self._clock.now()
        )
        details = {"token_id": issued.id, "name": issued.name}
        self.record(_as(actor, user), "token.issue", "users", str(user.id), details)
        return issued

    def revoke_token(self, *, token_id: int, user: Principal, actor: Actor) -> bool:
        """Revoke one of `user`'s active tokens (audited); False when there is no such."""
        revoked = tokens.revoke_token(
            engine=self._engine, token_id=token_id, user_id=user.id, now=self._clock.now()
        )
        self._forget()
        if revoked:
            self.record(actor, "token.revoke", "users", str(user.id), {"token_id": token_id})
        return revoked

    def users(self) -> list[Principal]:
        """Every user."""
        return users.list_users(engine=self._engine)

    def create_user(
        self,
        *,
        username: str,
        password: str,
        role: Role | str,
        actor: Actor,
        staff_id: str | None = None,
        display_name: str | None = None,
    ) -> Principal:
        """Create a user (audited); `UserError` names what is wrong with the input."""
        user = users.create_user(
            engine=self._engine,
            username=username,
            password=password,
            role=role,
            staff_id=staff_id,
            display_name=display_name,
            now=self._clock.now(),
        )
        details = {"username": user.username, "role": user.role.value}
        self.record(actor, "user.create", "users", str(user.id), details)
        return user

    def language(self, user: Principal) -> str | None:
        """The interface language the user chose, if any."""
        return preferences.get_language(engine=self._engine, user_id=user.id)

    def set_language(self, user: Principal, language: str) -> None:
        """Remember the user's interface language."""
        preferences.set_language(engine=self._engine, user_id=user.id, language=language)

    def record(
        self,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: str | None = None,
        details: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """Append one line to the audit trail, now."""
        audit.record(
            engine=self._engine,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            at=at or self._clock.now(),
            details=details,
        )

    def audit_trail(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit lines, newest first, filtered; `before` (an id) pages back."""
        return audit.list_audit(
            engine=self._engine,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            limit=limit,
        )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _as(actor: Actor, user: Principal) -> Actor:
    """`actor`'s address and browser under the name and role of `user` (who just proved it)."""
    return Actor(name=user.username, role=user.role.value, ip=actor.ip, user_agent=actor.user_agent)
