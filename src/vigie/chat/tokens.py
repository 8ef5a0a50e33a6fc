"""Per-visitor tokens: a visitor's widget proves with an HMAC that a conversation is its own.

A token is `KEY.SIGNATURE` where KEY is random, issued once to one browser, and SIGNATURE the
HMAC-SHA256 of the source, the anonymous id and KEY under the server's secret. A conversation
remembers the KEY of the browser that opened it; knowing another visitor's anonymous id gets
a new KEY, which opens none of their conversations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def _sign(secret: str, source: str, anonymous_id: str, key: str) -> str:
    message = f"{source}\x00{anonymous_id}\x00{key}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(secret: str, *, source: str, anonymous_id: str) -> str:
    """A new token for one browser of `anonymous_id` on `source`."""
    key = secrets.token_urlsafe(12)
    return f"{key}.{_sign(secret, source, anonymous_id, key)}"


def verify(secret: str, token: str, *, source: str, anonymous_id: str) -> str | None:
    """The token's KEY when it was issued for this visitor and source, else None."""
    key, dot, signature = token.partition(".")
    if not dot or not key or len(token) > 200:
        return None
    expected = _sign(secret, source, anonymous_id, key)
    return key if hmac.compare_digest(expected, signature) else None
