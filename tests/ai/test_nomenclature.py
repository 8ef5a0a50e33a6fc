"""Sector and region names from the bundled table, in English and French (issue 22)."""

from __future__ import annotations

import pytest

from vigie.ai.labels import factor_text, value_name
from vigie.ai.nomenclature import names, region_name, sector_name
from vigie.ai.prospects import NACE_CODES, REGION_NAMES

PROGRAMMING_FR = "Programmation, conseil et autres activités informatiques"


@pytest.mark.parametrize(
    ("code", "en", "fr"),
    [
        ("62.01", "software development", "programmation informatique"),
        ("62.09", "Computer programming and consultancy", PROGRAMMING_FR),
        ("6209", "Computer programming and consultancy", PROGRAMMING_FR),
        ("J", "Information and communication", "Information et communication"),
        ("56", "Restaurants and bars", "Restauration"),
    ],
)  # fmt: skip
def test_a_sector_reads_as_its_class_division_or_section(code: str, en: str, fr: str) -> None:
    """A class known to the base reads as itself, else as its division, else its section."""
    assert sector_name(code, "en") == en
    assert sector_name(code, "fr") == fr


def test_an_unknown_code_is_shown_as_given() -> None:
    """A code the table does not know is kept, not replaced by a guess."""
    assert sector_name("00.00", "en") == "00.00"
    assert region_name("Atlantis", "fr") == "Atlantis"


@pytest.mark.parametrize("value", ["Antwerpen", "BE21", "BE-VAN", "anvers", "Antwerp"])
def test_a_region_reads_the_same_from_any_spelling_or_code(value: str) -> None:
    """Name in any language, ISO 3166-2 or NUTS code: one English and one French name."""
    assert region_name(value, "en") == "Antwerp"
    assert region_name(value, "fr") == "Anvers"


def test_every_sector_and_region_of_the_base_has_a_name() -> None:
    """The synthetic base uses no code that would show as a code."""
    for code in NACE_CODES:
        assert sector_name(code, "fr") != code
    for region in REGION_NAMES:
        assert region_name(region, "en") and region.casefold() in names()["en"]["region"]
    assert len(names()["fr"]["nace"]) >= 88 + 21


def test_labels_use_the_names() -> None:
    """A lead's factors and segment read 'sector: …' and 'region: …' with names."""
    assert factor_text("region", "West-Vlaanderen", "fr") == "région: Flandre-Occidentale"
    assert value_name("nace", "47.11", "en") == "food retail"
