"""The CRM routes' OpenAPI contract, read from the router alone (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from vigie.crm.entities import ENTITIES, Entity
from vigie.web.api_crm import build_router


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(build_router())
    return app.openapi()


@pytest.mark.parametrize("entity", ENTITIES.values(), ids=list(ENTITIES))
def test_list_query_parameters_keep_their_names(schema: dict[str, Any], entity: Entity) -> None:
    """A list takes q, sort, limit, offset, archived and the entity's filters, in that order."""
    operation = schema["paths"][f"/api/{entity.name}"]["get"]
    parameters = operation["parameters"]
    assert [p["name"] for p in parameters] == [
        "q", "sort", "limit", "offset", "archived", *entity.filters,
    ]  # fmt: skip
    assert {p["in"] for p in parameters} == {"query"}
    sort = next(p for p in parameters if p["name"] == "sort")["schema"]
    assert sort["enum"] == [*entity.sorts, *(f"-{s}" for s in entity.sorts)]
    assert sort["default"] == "-updated_at"


@pytest.mark.parametrize("entity", ENTITIES.values(), ids=list(ENTITIES))
def test_each_entity_has_its_five_operations(schema: dict[str, Any], entity: Entity) -> None:
    """List, create, get, update and archive each keep their path, operation id and models."""
    paths = schema["paths"]
    operations = {
        op["operationId"]: op
        for path in (f"/api/{entity.name}", f"/api/{entity.name}/{{record_id}}")
        for op in paths[path].values()
    }
    name, read = entity.name, entity.read.__name__
    assert set(operations) == {
        f"list_{name}", f"create_{name}", f"get_{name}", f"update_{name}", f"archive_{name}",
    }  # fmt: skip

    def ref(op: str, status: str) -> str:
        content = operations[op]["responses"][status]["content"]["application/json"]
        reference: str = content["schema"]["$ref"]
        return reference.rsplit("/", 1)[-1]

    assert ref(f"list_{name}", "200") == f"{read}Page"
    assert ref(f"create_{name}", "201") == read
    assert ref(f"get_{name}", "200") == ref(f"update_{name}", "200") == read
    body = operations[f"create_{name}"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith(f"/{entity.create.__name__}")


@pytest.mark.parametrize("path", ["/api/export/{entity_name}", "/api/import/{entity_name}"])
def test_export_and_import_take_the_registered_entity_names(
    schema: dict[str, Any], path: str
) -> None:
    """The entity path parameter of export and import lists exactly the registered entities."""
    (operation,) = schema["paths"][path].values()
    (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
    assert parameter["schema"]["enum"] == list(ENTITIES)
