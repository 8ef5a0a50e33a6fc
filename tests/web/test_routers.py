"""`PrefixRouter` turns away paths outside its prefix without trying its routes, and serves
its own paths (and their 405s) as a plain `APIRouter` does."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

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
