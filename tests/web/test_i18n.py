"""The interface's languages: catalogs, Accept-Language and the messages pages use."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from vigie.web.i18n import (
    LANGUAGES,
    Translator,
    catalog,
    format_number,
    format_percent,
    negotiate,
    terminal_language,
    terminal_time_zone,
    weekday_name,
)

WEB = Path(__file__).parents[2] / "src" / "vigie" / "web"
TEMPLATE_KEY = re.compile(r"""_\(\s*["']([a-z0-9_.]+)["']""")
# Scripts name their messages as string literals starting with "js." (passed to t() or notice()).
SCRIPT_KEY = re.compile(r"""["'`](js\.[a-z0-9_.]+)["'`]""")


def _keys(pattern: re.Pattern[str], folder: Path, suffix: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob(f"*{suffix}")):
        found[path.name] = set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_templates_and_scripts_use_messages() -> None:
    """The walk below finds the message keys of every template and script (not an empty pass)."""
    templates = _keys(TEMPLATE_KEY, WEB / "templates", ".html")
    scripts = _keys(SCRIPT_KEY, WEB / "static", ".js")
    assert {"base.html", "login.html", "overview.html"} <= set(templates)
    assert all(templates.values()), "a template without any message"
    assert sum(len(keys) for keys in scripts.values()) > 10


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_message_is_translated(language: str) -> None:
    """Each key a template asks for exists, non-empty, in the French and English catalogs."""
    messages = catalog(language)
    for name, keys in _keys(TEMPLATE_KEY, WEB / "templates", ".html").items():
        missing = sorted(k for k in keys if not messages.get(k))
        assert not missing, f"{name}: no {language} message for {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_script_message_is_translated_and_sent(language: str) -> None:
    """Each `js.` key a script names is in the catalogs (the `js.` part is sent to the page)."""
    messages = catalog(language)
    for name, keys in _keys(SCRIPT_KEY, WEB / "static", ".js").items():
        missing = sorted(k for k in keys if not messages.get(k))
        assert not missing, f"{name}: no {language} message for {missing}"


def test_catalogs_have_the_same_keys() -> None:
    """French and English define exactly the same messages."""
    assert set(catalog("fr")) == set(catalog("en"))


def test_catalogs_use_the_same_placeholders() -> None:
    """A message's {placeholders} are the same in both languages."""
    field = re.compile(r"\{(\w+)\}")
    for key, english in catalog("en").items():
        french = catalog("fr")[key]
        assert set(field.findall(english)) == set(field.findall(french)), key


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr-BE,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4", "fr"),
        ("nl, en;q=0.2, fr;q=0.7", "fr"),
        ("fr;q=0, en", "en"),
        ("*", "en"),
        ("fr;q=bogus, en;q=0.1", "en"),
    ],
)
def test_negotiate_accept_language(header: str | None, expected: str) -> None:
    """The best supported language wins by quality value, then by order."""
    assert negotiate(header) == expected


def test_translator_formats_and_shows_unknown_keys() -> None:
    """Values fill a message's placeholders; an unknown key shows itself instead of failing."""
    french = Translator("fr")
    assert french("js.threshold", value="12") == "seuil 12"
    assert french("no.such.key") == "no.such.key"
    assert Translator("xx").language == "en"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "fr_BE.UTF-8"}, "fr"),
        ({"LANG": "fr_BE.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LC_MESSAGES": "fr_FR", "LANG": "en_US.UTF-8"}, "fr"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_terminal_language(environ: dict[str, str], expected: str) -> None:
    """A terminal's language comes from LC_ALL, then LC_MESSAGES, then LANG; else English."""
    assert terminal_language(environ) == expected


def test_weekday_names_in_both_languages() -> None:
    """5 December 2026 is a Saturday, a samedi."""
    day = date(2026, 12, 5)
    assert (weekday_name("en", day), weekday_name("fr", day)) == ("Saturday", "samedi")


@pytest.mark.parametrize(
    ("language", "value", "digits", "expected"),
    [
        ("en", 9878, 0, "9,878"),
        ("fr", 9878, 0, "9\u202f878"),
        ("fr", 1234567.25, 1, "1\u202f234\u202f567,2"),
        ("en", -0.2, 0, "0"),
        ("fr", 1e21, 0, "1" + "\u202f000" * 7),
    ],
)
def test_numbers_are_written_as_the_reader_writes_them(
    language: str, value: float, digits: int, expected: str
) -> None:
    """Thousands by a comma in English and a narrow no-break space in French, a decimal comma
    in French (as Intl.NumberFormat writes them on the dashboard); no "-0"."""
    assert format_number(language, value, digits) == expected


def test_percentages_in_both_languages() -> None:
    """9.85 is +985% in English and +985 % in French (with a narrow no-break space); a
    signed zero has no sign and a fall keeps its minus."""
    assert format_percent("en", 9.85, signed=True) == "+985%"
    assert format_percent("fr", 9.85, signed=True) == "+985\u202f%"
    assert format_percent("fr", 31.87) == "3\u202f187\u202f%"
    assert format_percent("en", 0.001, signed=True) == "0%"
    assert format_percent("en", -0.42, signed=True) == "-42%"


@pytest.mark.parametrize(
    ("tz", "expected"),
    [("Europe/Brussels", "Europe/Brussels"), (":America/Montreal", "America/Montreal")],
)
def test_terminal_time_zone_from_tz(tz: str, expected: str) -> None:
    """TZ names the terminal's zone, with or without POSIX's leading colon."""
    zone = terminal_time_zone({"TZ": tz})
    assert zone is not None and zone.key == expected


@pytest.mark.parametrize("tz", ["No/Such_Zone", "../../etc/passwd", "\x00", "x" * 10_000])
def test_a_tz_that_names_no_zone_falls_back_to_the_systems(tz: str) -> None:
    """A TZ that names no zone (or is hostile) is passed over for the system's zone, as when
    TZ is unset, instead of failing the demo."""
    assert terminal_time_zone({"TZ": tz}) == terminal_time_zone({})
