"""Visitor ids pseudonymised with a keyed hash: stable for one Vigie, useless without its key."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "v_"


class Pseudonymiser:
    """Maps a visitor id to `v_` + 32 hex digits of HMAC-SHA256 under `key`.

    The same id always gets the same pseudonym (journeys and sessions still join up), and an
    id that already is a pseudonym is left as it is, so a replay or a second pass is harmless.
    """

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a pseudonym key cannot be empty")
        self._key = key.encode()

    def __call__(self, visitor_id: str) -> str:
        if self.is_pseudonym(visitor_id):
            return visitor_id
        digest = hmac.new(self._key, visitor_id.encode(), hashlib.sha256).hexdigest()
        return PREFIX + digest[:32]

    @staticmethod
    def is_pseudonym(value: str) -> bool:
        """Whether `value` has the shape of a pseudonym this class makes."""
        tail = value[len(PREFIX) :]
        return (
            value.startswith(PREFIX)
            and len(tail) == 32
            and all(c in "0123456789abcdef" for c in tail)
        )
