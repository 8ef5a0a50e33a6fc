"""The entity registry is the one list of CRM entity names."""

from __future__ import annotations

from typing import get_args

from vigie.auth.roles import CRM_RESOURCES, GRANTS, Role
from vigie.crm.entities import ENTITIES, EntityName


def test_entity_name_type_lists_exactly_the_registered_entities() -> None:
    """`EntityName` accepts the names of ENTITIES, in order, and nothing else."""
    assert get_args(EntityName) == tuple(ENTITIES)


def test_every_entity_is_a_resource_of_the_role_matrix() -> None:
    """The role matrix names every CRM entity (auth sits below crm, so it keeps its own list)."""
    assert sorted(CRM_RESOURCES) == sorted(ENTITIES)
    assert all(GRANTS[Role.ADMIN][name] == {"read", "write"} for name in ENTITIES)
