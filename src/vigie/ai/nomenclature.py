"""Names of sectors (NACE Rev. 2) and regions in English and French, from a bundled table.

A lead shows "software development, Antwerp" rather than "62.01, BE21". The table
(`nomenclature.json`, shipped with Vigie, never downloaded) holds NACE's sections and
divisions and the Belgian provinces and French regions with their ISO 3166-2 and NUTS
codes; the classes of the synthetic base come from `vigie.ai.prospects.SECTORS`. A code
the table does not know is shown as given.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from vigie.ai.prospects import SECTORS

Lang = Literal["en", "fr"]


@cache
def _table() -> dict[str, Any]:
    text = resources.files("vigie.ai").joinpath("nomenclature.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


@cache
def _regions() -> dict[str, tuple[str, str]]:
    """Every known spelling or code of a region (case-folded) -> (English, French) name."""
    found: dict[str, tuple[str, str]] = {}
    for region in _table()["regions"]:
        names = (region["en"], region["fr"])
        for key in (region["name"], region["en"], region["fr"], *region["codes"]):
            found[key.casefold()] = names
    return found


_CLASSES = {code: (en, fr) for code, en, fr, _share in SECTORS}


def sector_name(code: str | None, lang: Lang) -> str:
    """The sector of a NACE code: its class when known, else its division, else its section.

    '62.01' -> 'software development'; '62.09' -> 'Computer programming and consultancy';
    'J' -> 'Information and communication'; an unknown code is returned unchanged.
    """
    if not code:
        return ""
    index = 0 if lang == "en" else 1
    text = code.strip()
    if text in _CLASSES:
        return _CLASSES[text][index]
    table = _table()
    if text.upper() in table["sections"]:
        name: str = table["sections"][text.upper()][index]
        return name
    digits = text.replace(".", "")
    if len(digits) >= 2 and digits[:2] in table["divisions"]:
        division: str = table["divisions"][digits[:2]][index]
        return division
    return text


def region_name(value: str | None, lang: Lang) -> str:
    """A region's name in `lang` from its name in any language, ISO 3166-2 or NUTS code:
    'BE21', 'BE-VAN' and 'Antwerpen' all read 'Antwerp' in English and 'Anvers' in French."""
    if not value:
        return ""
    names = _regions().get(value.strip().casefold())
    if names is None:
        return value
    return names[0] if lang == "en" else names[1]


@cache
def names() -> dict[str, dict[str, dict[str, str]]]:
    """Every known sector code and region spelling with its name, per language, for the
    dashboard: {"en": {"nace": {code: name}, "region": {casefolded: name}}, "fr": …}."""
    table = _table()
    out: dict[str, dict[str, dict[str, str]]] = {}
    for index, lang in enumerate(("en", "fr")):
        nace = {code: pair[index] for code, pair in table["sections"].items()}
        nace |= {code: pair[index] for code, pair in table["divisions"].items()}
        nace |= {code: pair[index] for code, pair in _CLASSES.items()}
        region = {key: pair[index] for key, pair in _regions().items()}
        out[lang] = {"nace": nace, "region": region}
    return out
