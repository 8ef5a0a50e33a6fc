"""Issue 17: a served app builds at start what its first requests would otherwise build, so
the first dashboard page after a start does not cost seconds of CPU."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import WRITE_KEY, free_port
from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer, warm_up
from vigie.web.ui import served_paths


def test_the_dashboard_offers_the_paths_of_the_openapi_document(tmp_path: Path) -> None:
    """The APIs a page may call are read from the routes, and they are exactly the paths the
    OpenAPI document lists."""
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)])
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    offered = served_paths(app)
    assert app.openapi_schema is None  # worked out without building the document
    assert offered == frozenset(app.openapi()["paths"])


def test_after_warm_up_the_first_page_builds_no_openapi_document(tmp_path: Path) -> None:
    """The sign-in page, first request after a start, is served without building the OpenAPI
    document (a second or more of CPU)."""
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)])
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    warm_up(app)
    with TestClient(app) as client:
        response = client.get("/login")
    assert response.status_code == 200 and 'name="password"' in response.text
    assert app.openapi_schema is None


def test_a_background_server_is_warmed_up_before_it_serves(tmp_path: Path) -> None:
    """A server started in a thread (the demo's, the tests') has worked out its paths and
    compiled its templates before its first request, as `vigie serve` does."""
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)])
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    assert getattr(app.state, "served_paths", None) is None
    with BackgroundServer(app, port=free_port()):
        assert app.state.served_paths == served_paths(app)
