"""The CRM's record models: what they refuse whoever sends the record."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from vigie.crm.models import ContactCreate, InteractionCreate


@pytest.mark.parametrize(
    "properties",
    [
        {"note": "a\x00b"},
        {"a\x00": 1},
        {"lines": [{"sku": "ok"}, {"sku": ["x", "\x00"]}]},
        {"deep": {"deeper": {"deepest": ("t", "\x00")}}},
    ],
)
def test_a_nul_character_anywhere_in_a_record_is_refused(properties: dict[str, Any]) -> None:
    """Text with NUL, in a field, a key or a value nested in lists and objects, is refused
    (PostgreSQL cannot store it); the same record without it is taken."""
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        InteractionCreate.model_validate({"kind": "invoice", "properties": properties})
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        ContactCreate.model_validate({"first_name": "Ann\x00", "anonymous_ids": ["v1"]})
    clean = InteractionCreate.model_validate({"kind": "invoice", "properties": {"note": "ab"}})
    assert clean.properties == {"note": "ab"}
