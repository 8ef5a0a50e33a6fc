"""Issue 17: bodies over their route family's limit are refused (413) before any work, with or
without credentials, declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from vigie.config import Config, HttpSettings, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.limits import INGEST_BYTES, route_family
from vigie.web.server import BackgroundServer

FORTY_MB = 40 * 1024 * 1024
CHUNK = 64 * 1024
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server with a 64 KB API limit and a 256 KB import limit, and an admin's token."""
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        http=HttpSettings(max_body_bytes=64 * 1024, max_import_bytes=256 * 1024),
    )
    db = tmp_path_factory.mktemp("limits") / "vigie.db"
    app = create_app(build_system(make_settings(f"sqlite:///{db}", config)))
    with BackgroundServer(app, port=free_port()) as running:
        token = user_token(app.state.system, username="limits-admin", role="admin")
        yield running.url, token


def test_route_families() -> None:
    """Event routes, imports and the rest of the API each have their own limit."""
    assert [route_family(path) for path, _ in ROUTES] == [family for _, family in ROUTES]
    assert route_family("/capture") == "ingest"
    assert route_family("/api/events") == "api"


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
