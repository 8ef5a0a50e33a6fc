"""Tolerant page matching: `/lunch-deal`, `/lunch-deal/`, `/lunch-deal/?utm=x` are one page,
and a pattern ending in `*` (`/lunch-deal/*`) matches the pages under it."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from urllib.parse import urlsplit


def normalise(page: str) -> str:
    """The path of `page` (a path or a URL) without query, fragment or trailing slash."""
    path = urlsplit(page.strip()).path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def matcher(pattern: str) -> Callable[[str], bool]:
    """A test of already normalised paths against `pattern`, which is read once: an
    invitation checks every visitor on the site against the same pattern."""
    if pattern.endswith("/*") and "*" not in pattern[:-2]:
        base = normalise(pattern[:-2])
        below = base.rstrip("/") + "/"
        return lambda path: path == base or path.startswith(below)
    if "*" in pattern:
        glob = urlsplit(pattern.strip()).path.rstrip("/") or "/"
        return lambda path: fnmatchcase(path, glob)
    exact = normalise(pattern)
    return lambda path: path == exact


def matches(pattern: str, page: str) -> bool:
    """True when `page` is the page `pattern` names, or under it for a `…/*` pattern."""
    return matcher(pattern)(normalise(page))
