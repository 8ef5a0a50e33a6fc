"""Accounts as the edges use them: sign in, tokens, users, preferences and the audit trail.

One service per running system (`vigie.system`), so that routes and commands never hold
the SQL engine: every change a person makes here is recorded in the audit trail in the
same call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vigie.auth import audit, preferences, sessions, tokens, users
from vigie.auth.audit import Actor, AuditRecord
from vigie.auth.roles import Role
from vigie.auth.tokens import IssuedToken
from vigie.auth.users import Principal
from vigie.clock import Clock


class Accounts:
    """Users, their sessions and API tokens, their preferences and the audit trail."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        clock: Clock,
        session_secret: Callable[[], str],
        is_write_key: Callable[[str], bool],
        secure_cookies: bool,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._secret = session_secret
        self.is_write_key = is_write_key
        """Whether a bearer token is a source's write key (which may only send events)."""
        self.secure_cookies = secure_cookies
        """Whether session cookies are sent over HTTPS only (in production)."""

    def login(self, *, username: str, password: str, actor: Actor) -> tuple[Principal, str] | None:
        """The user and a signed session value when the password matches (audited as
        `login`, by `actor` with the user's own name and role), else None."""
        logged_in = sessions.login(
            engine=self._engine,
            secret=self._secret(),
            username=username,
            password=password,
        )
        if logged_in is not None:
            user = logged_in[0]
            self.record(_as(actor, user), "login", "users", str(user.id))
        return logged_in

    def session_user(self, value: str) -> Principal | None:
        """The active user of an authentic, unexpired session value."""
        return sessions.session_user(engine=self._engine, secret=self._secret(), value=value)

    def token_user(self, token: str) -> Principal | None:
        """The active user a valid, unrevoked API token belongs to."""
        return tokens.user_for_token(engine=self._engine, token=token)

    def issue_token(
        self, *, username: str, password: str, name: str, actor: Actor
    ) -> IssuedToken | None:
        """A new API token for the user whose password this is (audited), else None."""
        user = users.authenticate(engine=self._engine, username=username, password=password)
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


def _as(actor: Actor, user: Principal) -> Actor:
    """`actor`'s address and browser under the name and role of `user` (who just proved it)."""
    return Actor(name=user.username, role=user.role.value, ip=actor.ip, user_agent=actor.user_agent)
