"""Replacing a person's identifiers in stored values, whatever their encoding."""

from __future__ import annotations

import json

import msgspec

from vigie.privacy.scrubbing import Scrubber


def test_the_same_identifier_becomes_the_same_token_everywhere() -> None:
    """An id replaced in text, in JSON and in MessagePack gets one token, so joins hold."""
    scrub = Scrubber(["visitor-123456"])
    token = scrub.text("visitor-123456")
    assert token.startswith("erased-") and token != "visitor-123456"
    as_json = msgspec.json.decode(scrub.blob(b'{"anonymousId": "visitor-123456"}'))
    as_pack = msgspec.msgpack.decode(scrub.blob(msgspec.msgpack.encode({"a": ["visitor-123456"]})))
    assert as_json == {"anonymousId": token} and as_pack == {"a": [token]}
    assert Scrubber(["visitor-123456"]).text("visitor-123456") != token, "tokens are random"


def test_names_alone_are_replaced_as_whole_words_and_escaped_forms_too() -> None:
    """A short name is replaced as a word, never inside another word; an accented name
    stored JSON-escaped (`Zo\\u00e9`) is found and replaced too."""
    scrub = Scrubber(["zoe@example.org"], weak=["Zoé", "Ann"])
    assert "Ann" not in scrub.text("Ann called about the Annual plan").split()
    assert "Annual" in scrub.text("Ann called about the Annual plan")
    stored = json.dumps({"first": "Zoé", "mail": "zoe@example.org"})  # ensure_ascii escapes é
    assert "\\u00e9" in stored
    cleaned = scrub.text(stored)
    assert "Zo\\u00e9" not in cleaned and "zoe@example.org" not in cleaned
    assert json.loads(cleaned)["first"].startswith("erased-")


def test_hostile_values_are_scrubbed_without_failing() -> None:
    """Truncated JSON, NUL bytes, invalid UTF-8 and nesting too deep to walk are scrubbed as
    text: the identifier goes, nothing raises."""
    scrub = Scrubber(["secret-visitor-1"])
    deep = b"[" * 100_000 + b'"secret-visitor-1"' + b"]" * 100_000
    for raw in (b'{"id": "secret-visitor-1", "x": [1, 2', b"\x00secret-visitor-1\xff\xfe", deep):
        assert b"secret-visitor-1" not in scrub.blob(raw)
    assert "secret-visitor-1" not in scrub.text("a\x00secret-visitor-1")
