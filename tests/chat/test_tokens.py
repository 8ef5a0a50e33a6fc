"""Per-visitor tokens: a conversation is readable only from the browser that opened it."""

from __future__ import annotations

from vigie.chat.tokens import issue, verify

SECRET = "a-test-secret-of-enough-length"


def test_a_token_is_valid_for_its_visitor_only() -> None:
    """The token verifies for its source and anonymous id, for nobody else."""
    token = issue(SECRET, source="web", anonymous_id="v1")
    key = verify(SECRET, token, source="web", anonymous_id="v1")
    assert key is not None and token.startswith(key + ".")
    assert verify(SECRET, token, source="web", anonymous_id="v2") is None
    assert verify(SECRET, token, source="shop", anonymous_id="v1") is None
    assert verify("another-secret-of-enough-length", token, source="web", anonymous_id="v1") is None


def test_two_browsers_of_one_visitor_get_different_keys() -> None:
    """Knowing a visitor's anonymous id gets a new key, which opens none of their chats."""
    first = verify(
        SECRET, issue(SECRET, source="web", anonymous_id="v1"), source="web", anonymous_id="v1"
    )
    second = verify(
        SECRET, issue(SECRET, source="web", anonymous_id="v1"), source="web", anonymous_id="v1"
    )
    assert first and second and first != second


def test_forged_and_malformed_tokens_are_refused() -> None:
    """A changed signature, no dot, or an oversize token is refused."""
    token = issue(SECRET, source="web", anonymous_id="v1")
    key, _, signature = token.partition(".")
    # The first character carries the first byte's high bits (the last one's low bits may be
    # padding), and is changed to another character whatever it was.
    forged = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert verify(SECRET, f"{key}.{forged}", source="web", anonymous_id="v1") is None
    assert verify(SECRET, key, source="web", anonymous_id="v1") is None
    assert verify(SECRET, "x" * 500 + "." + signature, source="web", anonymous_id="v1") is None
