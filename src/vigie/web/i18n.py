"""The interface's languages: message catalogs (one JSON file per language) and the choice
of a language from the user's setting or the browser's `Accept-Language`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


@cache
def catalog(language: str) -> dict[str, str]:
    """The messages of `language`, keyed by message id (read once from the package)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}; known: {', '.join(LANGUAGES)}")
    text = resources.files("vigie.web").joinpath("locales", f"{language}.json").read_text("utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an `Accept-Language` header (RFC 9110 quality values)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Earlier entries win ties, as browsers list them in order of preference.
        score = quality - position * 1e-6
        if quality > 0 and score > best_q:
            best, best_q = primary, score
    return best


def terminal_language(environ: Mapping[str, str]) -> str:
    """The language of a terminal's user, from the POSIX locale variables in the order that
    decides messages (`LC_ALL`, `LC_MESSAGES`, `LANG`): `fr_BE.UTF-8` is French; an unset,
    `C` or unsupported locale is English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            primary = value.split(".")[0].split("_")[0].split("-")[0].lower()
            return primary if primary in LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def terminal_time_zone(environ: Mapping[str, str]) -> ZoneInfo | None:
    """The time zone of a terminal's user, by name: `TZ` when it names one ("Europe/Brussels",
    ":America/Montreal"), else the zone /etc/localtime links to; None when neither says."""
    names = [environ.get("TZ", "").lstrip(":")]
    with suppress(OSError):
        names.append(Path("/etc/localtime").resolve().as_posix().partition("zoneinfo/")[2])
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return None


def format_number(language: str, value: float, digits: int = 0) -> str:
    """`value` written as readers of `language` write numbers: 9,878.5 in English, 9 878,5 in
    French (a narrow no-break space between thousands, a decimal comma), as the dashboard's
    `Intl.NumberFormat` does."""
    text = f"{value:,.{digits}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")  # a value that rounds to zero has no sign
    if language == "fr":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def format_percent(language: str, ratio: float, *, signed: bool = False) -> str:
    """`ratio` as a whole percentage: 42% and +985% in English, 42 % and +985 % in French."""
    text = format_number(language, ratio * 100)
    if signed and round(ratio * 100) > 0:
        text = f"+{text}"
    return f"{text}\u202f%" if language == "fr" else f"{text}%"


def weekday_name(language: str, moment: date) -> str:
    """The name of `moment`'s day of the week in `language` ("Saturday", "samedi")."""
    return Translator(language)(f"weekday.{moment.weekday()}")


class Translator:
    """Looks messages up in one language; a missing message shows its id, never crashes."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.messages = catalog(self.language)

    def __call__(self, key: str, /, **values: Any) -> str:
        text = self.messages.get(key, key)
        return text.format(**values) if values else text

    def subset(self, prefix: str) -> dict[str, str]:
        """The messages whose id starts with `prefix` (those the page's script needs)."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefix)}
