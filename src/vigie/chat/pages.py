"""Tolerant page matching: `/lunch-deal`, `/lunch-deal/`, `/lunch-deal/?utm=x` are one page,
and a pattern ending in `*` (`/lunch-deal/*`) matches the pages under it."""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import urlsplit


def normalise(page: str) -> str:
    """The path of `page` (a path or a URL) without query, fragment or trailing slash."""
    path = urlsplit(page.strip()).path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def matches(pattern: str, page: str) -> bool:
    """True when `page` is the page `pattern` names, or under it for a `…/*` pattern."""
    path = normalise(page)
    if pattern.endswith("/*") and "*" not in pattern[:-2]:
        base = normalise(pattern[:-2])
        return path == base or path.startswith(base.rstrip("/") + "/")
    if "*" in pattern:
        return fnmatchcase(path, urlsplit(pattern.strip()).path.rstrip("/") or "/")
    return normalise(pattern) == path
