"""`PrefixRouter` turns away paths outside its prefix without trying its routes, and serves
its own paths (and their 405s) as a plain `APIRouter` does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

from tests.conftest import WRITE_KEY
from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.routers import PrefixRouter


def _app() -> tuple[FastAPI, PrefixRouter]:
    things = PrefixRouter(prefix="/api/things")

    @things.get("")
    async def list_things() -> dict[str, str]:
        return {"served_by": "things"}

    @things.get("/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"served_by": "things", "id": thing_id}

    others = APIRouter(prefix="/api")

    @others.get("/{name}")
    async def anything(name: str) -> dict[str, str]:
        return {"served_by": "others", "name": name}

    app = FastAPI()
    app.include_router(things)
    app.include_router(others)
    return app, things


def test_paths_under_the_prefix_reach_its_routes() -> None:
    """The router's own paths, with and without parameters, are served by its routes."""
    app, _ = _app()
    with TestClient(app) as client:
        assert client.get("/api/things").json() == {"served_by": "things"}
        assert client.get("/api/things/t1").json() == {"served_by": "things", "id": "t1"}


def test_a_wrong_method_under_the_prefix_is_still_405() -> None:
    """A known path with a method it does not take is refused with 405, not passed on."""
    app, _ = _app()
    with TestClient(app) as client:
        assert client.delete("/api/things").status_code == 405


def test_other_paths_go_to_the_routers_after_it() -> None:
    """A path outside the prefix, even one that shares its first characters, is served by
    the next router that matches it."""
    app, _ = _app()
    with TestClient(app) as client:
        assert client.get("/api/deals").json() == {"served_by": "others", "name": "deals"}
        assert client.get("/api/thingsX").json() == {"served_by": "others", "name": "thingsX"}


def test_a_path_outside_the_prefix_tries_none_of_its_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serving a foreign path never asks the router's routes whether they match it; its
    own path still does."""
    app, things = _app()
    tried: list[str] = []
    for route in things.routes:
        assert isinstance(route, APIRoute)

        def spy(scope: Scope, route: APIRoute = route) -> tuple[Match, Scope]:
            tried.append(route.path)
            return APIRoute.matches(route, scope)

        monkeypatch.setattr(route, "matches", spy)
    with TestClient(app) as client:
        assert client.get("/api/deals").json()["served_by"] == "others"
        assert tried == []
        assert client.get("/api/things").json()["served_by"] == "things"
        assert tried


def test_the_prefix_is_compared_below_the_root_path() -> None:
    """Behind a proxy that serves the app under a root path, the prefix is compared with
    the path inside the app."""
    app, _ = _app()
    with TestClient(app, root_path="/vigie") as client:
        assert client.get("/vigie/api/things/t2").json() == {"served_by": "things", "id": "t2"}


def test_every_route_of_the_apps_prefix_routers_is_reached(tmp_path: Path) -> None:
    """Through the app's own dispatch, a request of each route's shape under a
    `PrefixRouter` (the CRM's entities, the leads) reaches a route: refused for want of a
    token, never 404 or 405 for want of a route."""
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)])
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    seen: set[int] = set()
    checked, lost = 0, []
    with TestClient(app) as client:
        for router in _prefix_routers(app.router, seen):
            for route in router.routes:
                if not isinstance(route, APIRoute):
                    continue
                path = re.sub(r"\{[^}]+\}", "x1", route.path)
                for method in sorted(route.methods):
                    status = client.request(method, path).status_code
                    checked += 1
                    if status in (404, 405):
                        lost.append(f"{method} {route.path}: {status}")
    assert checked > 50
    assert lost == []


def _prefix_routers(router: APIRouter, seen: set[int]) -> list[PrefixRouter]:
    found: list[PrefixRouter] = []
    for route in router.routes:
        if isinstance(route, _IncludedRouter) and id(route.original_router) not in seen:
            seen.add(id(route.original_router))
            if isinstance(route.original_router, PrefixRouter):
                found.append(route.original_router)
            found.extend(_prefix_routers(route.original_router, seen))
    return found
