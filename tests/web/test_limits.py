"""Issue 17: bodies over their route family's limit are refused (413) before any work, with or
without credentials, declared or streamed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import psutil
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from vigie.config import Config, HttpSettings, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.limits import INGEST_BYTES, route_family
from vigie.web.server import BackgroundServer

FORTY_MB = 40 * 1024 * 1024
CHUNK = 64 * 1024
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
FAMILIES = {
    "/v1/batch": "ingest",
    "/v1/sensors/epcis": "ingest",
    "/i/v0/e": "ingest",
    "/api/contacts": "api",
    "/api/import/{entity_name}": "import",
    "/chat/v1/say": "api",
    "/api/auth/login": "api",
    "/login": "api",
    "/language": "api",
    "/hooks/{name}": "api",
}
"""Routes that must be among those generated, one of each family the issue names (ingest,
sensors, the API, imports, the chat, sign-in, the forms, webhooks), with the limit they get."""
ROUTES = [
    ("/v1/batch", "ingest"),
    ("/v1/t", "ingest"),
    ("/i/v0/e/", "ingest"),
    ("/batch", "ingest"),
    ("/api/auth/login", "api"),
    ("/api/auth/token", "api"),
    ("/api/contacts", "api"),
    ("/api/contacts/batch", "api"),
    ("/api/alerts/1/notes", "api"),
    ("/api/import/contacts", "import"),
]


def body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of `app` that takes a body, path parameters filled in:
    generated, so that a route added later is checked without anyone listing it."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in sorted(set(getattr(route, "methods", None) or ()) & set(BODY_METHODS)):
            found.add((method, route.path_format))
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "x1", path)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The application with a 64 KB API limit and a 256 KB import limit."""
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        http=HttpSettings(max_body_bytes=64 * 1024, max_import_bytes=256 * 1024),
    )
    db = tmp_path_factory.mktemp("limits") / "vigie.db"
    return create_app(build_system(make_settings(f"sqlite:///{db}", config)))


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[tuple[str, str]]:
    """The application served, and an admin's token."""
    with BackgroundServer(app, port=free_port()) as running:
        token = user_token(app.state.system, username="limits-admin", role="admin")
        yield running.url, token


def test_route_families() -> None:
    """Event routes, imports and the rest of the API each have their own limit."""
    assert [route_family(path) for path, _ in ROUTES] == [family for _, family in ROUTES]
    assert route_family("/capture") == "ingest"
    assert route_family("/api/events") == "api"


def test_the_generated_routes_hold_every_family(app: FastAPI) -> None:
    """The routes generated from the app include one of each family the issue names, and
    each gets its family's limit: the generation cannot silently come back empty."""
    paths = {path for _, path in body_routes(app)}
    assert set(FAMILIES) <= paths, set(FAMILIES) - paths
    assert {path: route_family(_filled(path)) for path in FAMILIES} == FAMILIES
    assert len(paths) > 60


def test_every_route_refuses_40_mb_unauthenticated_with_bounded_memory(
    app: FastAPI, server: tuple[str, str]
) -> None:
    """Issue 17, generated from the app's routes: every route that takes a body, sent 40 MB
    without credentials, declared or streamed (chunked), answers before the client has sent
    a quarter of it: 413 when declared; when streamed, 413 once past the limit, or the
    route's own answer given without reading on (401 for want of credentials, a form's 422,
    logout's redirect); never a server error. The server's memory grows by less than 50 MB
    over all of them."""
    url, _ = server
    process = psutil.Process()
    before = process.memory_info().rss
    wrong = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for method, path in body_routes(app):
            for declared in (True, False):
                sent = 0

                def body() -> Iterator[bytes]:
                    nonlocal sent
                    chunk = b"[" * CHUNK
                    while sent < FORTY_MB:
                        sent += CHUNK
                        yield chunk

                headers = {"content-type": "application/json"}
                if declared:
                    headers["content-length"] = str(FORTY_MB)
                response = client.request(method, _filled(path), content=body(), headers=headers)
                status = response.status_code
                refused = status == 413 if declared else status < 500
                if not refused or sent >= FORTY_MB // 4:
                    wrong.append((method, path, declared, status, sent))
    grown = process.memory_info().rss - before
    assert wrong == [], wrong
    assert grown < 50 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MB"


@pytest.mark.parametrize("path", [path for path, _ in ROUTES])
def test_a_declared_40_mb_body_is_refused_unread(server: tuple[str, str], path: str) -> None:
    """A 40 MB Content-Length is answered 413 before the body is read: the client, which
    streams it, has sent only what the sockets buffer when the answer comes back."""
    url, _ = server
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"[" * CHUNK
        while sent < FORTY_MB:
            sent += CHUNK
            yield chunk

    headers = {"content-length": str(FORTY_MB), "content-type": "application/json"}
    response = httpx.post(url + path, content=body(), headers=headers, timeout=60)
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]
    assert sent < FORTY_MB // 2


@pytest.mark.parametrize("path", [path for path, _ in ROUTES])
def test_a_streamed_40_mb_body_is_cut_at_the_limit(server: tuple[str, str], path: str) -> None:
    """Without a Content-Length (chunked), the body is counted while it streams and refused
    once past the limit (or refused unread for want of credentials, on a route that checks
    them first); either way the server does not read on to the end."""
    url, _ = server
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"9" * CHUNK
        while sent < FORTY_MB:
            sent += CHUNK
            yield chunk

    response = httpx.post(
        url + path, content=body(), headers={"content-type": "text/csv"}, timeout=60
    )
    assert response.status_code in (401, 413), response.text
    assert sent < FORTY_MB // 2


def test_bodies_under_the_limit_are_served(server: tuple[str, str]) -> None:
    """An event batch under the ingest limit and an API body under the API limit get through
    to the routes, which answer as usual."""
    url, _ = server
    batch = {"batch": [{"type": "track", "event": "Small", "anonymousId": "a"}]}
    assert httpx.post(url + "/v1/batch", json=batch, auth=(WRITE_KEY, "")).status_code == 200
    login = {"username": "nobody", "password": "x" * 900}
    assert httpx.post(url + "/api/auth/login", json=login).status_code == 401
    too_long = httpx.post(url + "/api/auth/login", json={"username": "u", "password": "x" * 50_000})
    assert too_long.status_code == 422
    assert len(too_long.content) < 2_000, "a refused input is not echoed back whole"
    assert "xxxxxxxxxx" not in too_long.text, "a password is never echoed"
    over = {"username": "nobody", "password": "x" * 70_000}
    assert httpx.post(url + "/api/auth/login", json=over).status_code == 413
    assert INGEST_BYTES > 500 * 1024


def test_refusals_are_counted(server: tuple[str, str]) -> None:
    """Each refused body is counted on /metrics by route family, beside the rejected input
    dropped to keep its table bounded."""
    url, _ = server
    httpx.post(url + "/api/contacts", content=b"{" * (65 * 1024))
    metrics = httpx.get(url + "/metrics").text
    assert 'vigie_http_bodies_refused_total{family="api"}' in metrics
    assert "# TYPE vigie_rejected_dropped_total counter" in metrics


def test_a_nested_api_body_is_a_client_error(server: tuple[str, str]) -> None:
    """JSON nested 20,000 deep on an API route is refused as a client error, not a 500."""
    url, token = server
    deep = b"[" * 20_000 + b"]" * 20_000
    response = httpx.post(
        url + "/api/contacts",
        content=deep,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
