"""Tolerant page matching for invitations (issue 19: `/lunch-deal/` did not match)."""

from __future__ import annotations

import pytest

from vigie.chat.pages import matches, normalise


@pytest.mark.parametrize(
    ("pattern", "page"),
    [
        ("/lunch-deal", "/lunch-deal/"),
        ("/lunch-deal/", "/lunch-deal"),
        ("/lunch-deal", "/lunch-deal?utm_campaign=x"),
        ("/lunch-deal", "https://shop.example/lunch-deal/#top"),
        ("/lunch-deal/*", "/lunch-deal/checkout"),
        ("/lunch-deal/*", "/lunch-deal"),
        ("/shop/*/checkout", "/shop/fr/checkout/"),
        ("/", "/?a=1"),
    ],
)
def test_the_same_page_in_other_spellings_matches(pattern: str, page: str) -> None:
    """Trailing slashes, query strings, fragments and `/*` patterns match the page."""
    assert matches(pattern, page)


@pytest.mark.parametrize(
    ("pattern", "page"),
    [
        ("/lunch-deal", "/lunch-deals"),
        ("/lunch-deal/*", "/lunch-deals/x"),
        ("/lunch-deal", "/lunch-deal/checkout"),
        ("/checkout", "/"),
    ],
)
def test_other_pages_do_not_match(pattern: str, page: str) -> None:
    """A neighbouring path is another page, and a plain pattern does not match below it."""
    assert not matches(pattern, page)


def test_normalise_keeps_the_root() -> None:
    """The site's root stays `/` once its trailing slash is dropped."""
    assert normalise("https://shop.example/?x=1") == "/"
    assert normalise("checkout/") == "/checkout"
