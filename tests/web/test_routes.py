"""The order in which the app includes its routers (hot routers first, for FastAPI's linear
matching) shadows no route: each route's own path reaches it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from fastapi.routing import APIRoute, APIRouter, _IncludedRouter
from starlette.routing import BaseRoute, Match

from tests.conftest import WRITE_KEY
from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.system import build_system
from vigie.web import create_app


def _leaves(router: APIRouter) -> Iterator[BaseRoute]:
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            yield from _leaves(route.original_router)
        else:
            yield route


def _served_by(routes: list[BaseRoute], method: str, path: str) -> str | None:
    """The path template of the route FastAPI picks first for `method path` (its matching
    as of 0.165: included routers are matched in order, each through its own routes)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in routes:
        if isinstance(route, _IncludedRouter):
            match, _, found, _ = route._match(scope)
            while match == Match.FULL and isinstance(found, _IncludedRouter):
                match, _, found, _ = found._match(scope)
        else:
            (match, _), found = route.matches(scope), route
        if match == Match.FULL:
            return getattr(found, "path", None)
    return None


def _sample(template: str) -> str:
    path = re.sub(r"\{[^}:]+:int\}", "1", template)
    path = re.sub(r"\{[^}:]+:path\}", "a/b", path)
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_api_route_is_reached_by_its_own_path(tmp_path: Path) -> None:
    """For every HTTP route of the app, a path of its own shape and one of its methods is
    served by a route of that same shape, not by another router included before it."""
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)])
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    checked, shadowed = 0, []
    for leaf in _leaves(app.router):
        if not isinstance(leaf, APIRoute):
            continue
        for method in sorted(leaf.methods):
            served = _served_by(app.router.routes, method, _sample(leaf.path))
            checked += 1
            if served is None or _sample(served) != _sample(leaf.path):
                shadowed.append(f"{method} {leaf.path} -> {served}")
    assert checked > 200
    assert shadowed == []
