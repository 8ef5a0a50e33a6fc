"""The web interface's session: a signed cookie naming the signed-in user and their language.

The cookie holds no secret and no password, only the user name and the chosen language,
signed with the configuration's `secret_key` (or a per-process random key in development,
so sessions end when the server restarts). It is HttpOnly and SameSite=Lax, which keeps
other sites from posting forms with it.
"""

from __future__ import annotations

import logging
import secrets

import msgspec
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vigie.config import Config

COOKIE = "vigie_session"
MAX_AGE_SECONDS = 12 * 3600

logger = logging.getLogger(__name__)


class SessionData(msgspec.Struct, kw_only=True):
    """What the session cookie carries."""

    username: str | None = None
    language: str | None = None


class Sessions:
    """Signs and reads session cookies."""

    def __init__(self, config: Config) -> None:
        secret = config.secret_key
        if not secret:
            if config.environment != "development":
                logger.warning(
                    "no secret_key in vigie.yaml: sessions of the web interface are signed "
                    "with a random key and end when the server restarts"
                )
            secret = secrets.token_urlsafe(32)
        self._serializer = URLSafeTimedSerializer(secret, salt="vigie.session")
        self.secure = config.environment == "production"

    def read(self, request: Request) -> SessionData:
        """The session of `request`; empty when absent, expired or tampered with."""
        token = request.cookies.get(COOKIE)
        if not token:
            return SessionData()
        try:
            data = self._serializer.loads(token, max_age=MAX_AGE_SECONDS)
            return msgspec.convert(data, SessionData)
        except (BadSignature, msgspec.ValidationError):
            return SessionData()

    def write(self, response: Response, data: SessionData) -> None:
        """Set the session cookie on `response`."""
        token = self._serializer.dumps(msgspec.to_builtins(data))
        response.set_cookie(
            COOKIE,
            token,
            max_age=MAX_AGE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )

    def clear(self, response: Response) -> None:
        """Remove the session cookie."""
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=self.secure)
