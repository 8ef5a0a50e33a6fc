"""Issue 17: security headers on every response, HSTS behind TLS, and the optional guard of
`/metrics` and `/docs`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port, make_settings
from vigie.config import Config, HttpSettings, Source
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

OPS_TOKEN = "ops-token-0123456789abcdef"
TEMPLATES = Path(__file__).parents[2] / "src" / "vigie" / "web" / "templates"


def _serve(tmp_path: Path, http: HttpSettings) -> Iterator[str]:
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)], http=http)
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db", config)))
    with BackgroundServer(app, port=free_port()) as running:
        yield running.url


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with the default settings: `/metrics` and `/docs` public."""
    yield from _serve(tmp_path_factory.mktemp("open"), HttpSettings())


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose `/metrics` and `/docs` need the ops token (no address is allowed)."""
    yield from _serve(tmp_path_factory.mktemp("guarded"), HttpSettings(ops_token=OPS_TOKEN))


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/auth/me", "/t.js", "/nowhere"])
def test_every_response_carries_the_security_headers(open_server: str, path: str) -> None:
    """Pages, API answers, errors and the tracker all forbid framing and sniffing, send a
    strict referrer policy and a CSP that runs no inline script."""
    response = httpx.get(open_server + path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    script = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script.split() == ["script-src", "'self'"]
    assert "strict-transport-security" not in response.headers


def test_hsts_only_behind_tls(open_server: str) -> None:
    """Strict-Transport-Security is sent when a proxy says the client came over HTTPS."""
    tls = httpx.get(open_server + "/healthz", headers={"x-forwarded-proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    plain = httpx.get(open_server + "/healthz", headers={"x-forwarded-proto": "http"})
    assert "strict-transport-security" not in plain.headers


def test_templates_hold_no_inline_script_or_handler() -> None:
    """No template runs inline JavaScript (which the CSP would block): scripts come from
    files, the only inline block is JSON data, and no element has an on… handler."""
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for tag in text.split("<script")[1:]:
            opening = tag.split(">", 1)[0]
            assert "src=" in opening or 'type="application/json"' in opening, template.name
        assert " onclick=" not in text and " onload=" not in text and " onsubmit=" not in text


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json"])
def test_ops_pages_are_public_by_default(open_server: str, path: str) -> None:
    """Without `http.ops_token` or `http.ops_allow`, `/metrics` and `/docs` are served."""
    assert httpx.get(open_server + path).status_code == 200


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json"])
def test_ops_pages_need_the_token_when_set(guarded_server: str, path: str) -> None:
    """With `http.ops_token`, `/metrics` and `/docs` answer 401 without it, or with a wrong
    one, and 200 with it; the rest of the server is unaffected."""
    assert httpx.get(guarded_server + path).status_code == 401
    wrong = {"authorization": "Bearer not-the-token"}
    assert httpx.get(guarded_server + path, headers=wrong).status_code == 401
    right = {"authorization": f"Bearer {OPS_TOKEN}"}
    assert httpx.get(guarded_server + path, headers=right).status_code == 200
    assert httpx.get(guarded_server + "/healthz").status_code == 200


def test_an_allowed_address_reads_the_ops_pages(tmp_path: Path) -> None:
    """An address in `http.ops_allow` reads `/metrics` without a token; others cannot."""
    for url in _serve(tmp_path / "a", HttpSettings(ops_allow=["127.0.0.0/8"])):
        assert httpx.get(url + "/metrics").status_code == 200
    for url in _serve(tmp_path / "b", HttpSettings(ops_allow=["10.0.0.0/8"])):
        assert httpx.get(url + "/metrics").status_code == 401
