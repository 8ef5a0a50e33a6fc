"""Replacing one person's identifiers in stored values: text, JSON, MessagePack and raw bytes.

Pure functions over plain data. A `Scrubber` holds the person's identifiers and, for each, a
token drawn at random for this erasure only (`erased-1f3a…`): the same identifier becomes the
same token everywhere, so counts of distinct visitors and joins between tables still hold,
and nothing links the token back to the person once the erasure is over.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

import msgspec

TOKEN_PREFIX = "erased-"
MIN_STRONG = 4
"""Identifiers shorter than this are only replaced in the person's own rows, as whole words."""


def needles(identifier: str) -> list[str]:
    """The forms an identifier takes in storage: as written, and escaped inside JSON."""
    escaped = json.dumps(identifier)[1:-1]
    return [identifier] if escaped == identifier else [identifier, escaped]


class Scrubber:
    """Replaces a person's identifiers by tokens.

    `strong` identifiers (e-mail, phone, full name, user and visitor ids) are replaced
    wherever they occur, even inside longer text; `weak` ones (a first or a last name alone)
    only as whole words, and only in values already known to be the person's.
    """

    def __init__(self, strong: Iterable[str], weak: Iterable[str] = ()) -> None:
        self.tokens: dict[str, str] = {}
        strong_set = {s for s in strong if s}
        weak_set = {w for w in weak if w}
        for short in [s for s in strong_set if len(s) < MIN_STRONG]:
            strong_set.discard(short)
            weak_set.add(short)
        for identifier in sorted(strong_set | weak_set):
            self.tokens[identifier] = TOKEN_PREFIX + secrets.token_hex(8)
        self.strong = sorted(strong_set, key=len, reverse=True)
        self.weak = sorted(weak_set - strong_set, key=len, reverse=True)
        self._strong_re = _alternation(self.strong, words=False)
        self._weak_re = _alternation(self.weak, words=True)

    def search_terms(self) -> list[str]:
        """What a store is searched for to find the person's rows (the strong identifiers)."""
        return [needle for s in self.strong for needle in needles(s)]

    def text(self, value: str, *, own: bool = True) -> str:
        """`value` with the identifiers replaced; weak ones only when the value is `own`."""
        if self._strong_re is not None:
            value = self._strong_re.sub(self._token_for, value)
        if own and self._weak_re is not None:
            value = self._weak_re.sub(self._token_for, value)
        return value

    def data(self, value: Any, *, own: bool = True) -> Any:
        """A decoded JSON or MessagePack value with every string (and key) scrubbed."""
        if isinstance(value, str):
            return self.text(value, own=own)
        if isinstance(value, dict):
            return {
                (self.text(k, own=own) if isinstance(k, str) else k): self.data(v, own=own)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v, own=own) for v in value]
        return value

    def blob(self, value: bytes, *, own: bool = True) -> bytes:
        """Bytes holding JSON or MessagePack are decoded, scrubbed and encoded again (the
        lengths inside MessagePack change with the text); other bytes are replaced as text."""
        for decode, encode in (
            (msgspec.json.decode, msgspec.json.encode),
            (msgspec.msgpack.decode, msgspec.msgpack.encode),
        ):
            try:
                decoded = decode(value)
                if isinstance(decoded, dict | list):
                    return encode(self.data(decoded, own=own))
            except (msgspec.DecodeError, ValueError, RecursionError):
                continue  # not this format, or nested too deep to walk: scrub it as text
        return self.text(value.decode("utf-8", errors="replace"), own=own).encode()

    def _token_for(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found in self.tokens:
            return self.tokens[found]
        return self.tokens[json.loads(f'"{found}"')]


def _alternation(identifiers: list[str], *, words: bool) -> re.Pattern[str] | None:
    forms = [needle for identifier in identifiers for needle in needles(identifier)]
    if not forms:
        return None
    forms.sort(key=len, reverse=True)
    body = "|".join(re.escape(f) for f in forms)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)" if words else f"(?:{body})")
