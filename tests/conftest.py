"""Shared fixtures: stores (SQLite and PostgreSQL), live servers, service checks.

Service-backed tests skip when the service is absent, except under
`VIGIE_REQUIRE_SERVICES=1` (set by `.ci/run`), where a missing service fails the test.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.store import connect, upgrade
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

PG_ADMIN_URL = os.environ.get("VIGIE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("VIGIE_TEST_NATS", "nats://127.0.0.1:4222")
MQTT_HOST = os.environ.get("VIGIE_TEST_MQTT_HOST", "127.0.0.1")
WRITE_KEY = "test-write-key-0123456789"


HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""How long the tests' HTTP clients wait, where a test names no timeout: httpx's own 5 s
fails a request to a server slowed by a loaded machine (tests run beside other work on a few
cores), which is not what a test checks."""


def pytest_configure(config: pytest.Config) -> None:
    """Give every httpx client and request of the tests `HTTP_TIMEOUT` by default, in this one
    place rather than in each of the hundreds of calls (httpx has no global setting; its
    default is a keyword default of each entry point). A timeout a test passes still wins."""
    entry_points = (httpx.Client.__init__, httpx.AsyncClient.__init__, httpx.request,
                    httpx.get, httpx.post, httpx.put, httpx.patch, httpx.delete, httpx.head,
                    httpx.options, getattr(httpx.stream, "__wrapped__", httpx.stream))  # fmt: skip
    for function in entry_points:
        defaults = function.__kwdefaults__
        assert defaults is not None and "timeout" in defaults, function
        defaults["timeout"] = HTTP_TIMEOUT


def require_service(name: str, reason: str) -> None:
    """Skip the test for a missing service, or fail it when services are required."""
    message = f"{name} is not available: {reason}"
    if os.environ.get("VIGIE_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (VIGIE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_engine() -> sa.Engine:
    return sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        require_service("PostgreSQL", str(exc).splitlines()[0])
    name = f"vigie_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = sa.engine.make_url(PG_ADMIN_URL)
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite store and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/vigie.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated engine on `db_url`."""
    eng = connect(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def make_settings(db_url: str, config: Config | None = None) -> Settings:
    """Settings for tests: one source `web` with a known write key unless told otherwise."""
    return Settings(
        db_url=db_url,
        config=config or Config(sources=[Source(name="web", write_key=WRITE_KEY)]),
    )


class VigieAuth(httpx.Auth):
    """The write key (HTTP Basic user) on the ingest endpoints, a user's token on /api/."""

    def __init__(self, write_key: str, token: str) -> None:
        self.basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self.bearer = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        api = request.url.path.startswith("/api/")
        request.headers["Authorization"] = self.bearer if api else self.basic
        yield request


@dataclass
class LiveServer:
    """A Vigie server running on loopback for the duration of a test."""

    url: str
    write_key: str
    system: System
    admin_token: str = ""

    @property
    def admin(self) -> dict[str, str]:
        """Headers that authenticate as the test admin on /api/*."""
        return {"Authorization": f"Bearer {self.admin_token}"}


def user_token(system: System, *, username: str, role: str, staff_id: str | None = None) -> str:
    """Create a user with `role` on the server's store and return an API token for it."""
    from vigie.auth.tokens import issue_token
    from vigie.auth.users import create_user

    now = system.clock.now()
    user = create_user(
        engine=system.engine,
        username=username,
        password="correct horse battery",
        role=role,
        staff_id=staff_id,
        now=now,
    )
    return issue_token(engine=system.engine, user_id=user.id, name="test", now=now).token


@pytest.fixture
def live_server(db_url: str) -> Iterator[LiveServer]:
    """A real uvicorn server on a free port, on SQLite or PostgreSQL."""
    settings = make_settings(db_url)
    app = create_app(build_system(settings))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        token = user_token(system, username="test-admin", role="admin")
        yield LiveServer(url=server.url, write_key=WRITE_KEY, system=system, admin_token=token)
