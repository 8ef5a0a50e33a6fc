"""A faster `engine` fixture for the playbooks and schedule tests: still SQLite and
PostgreSQL, but one PostgreSQL database per session, migrated once and emptied before each
test, instead of a database created and dropped per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, _admin_engine, require_service
from vigie.store import connect, upgrade


@pytest.fixture(scope="session")
def shared_postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole session, dropped at its end."""
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        require_service("PostgreSQL", str(exc).splitlines()[0])
    name = f"vigie_test_pb_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    migrated = connect(url)
    upgrade(migrated)
    migrated.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty store: a fresh SQLite file, or the session's PostgreSQL emptied
    (the body of the `engine` fixture of the playbooks and schedule conftests)."""
    if request.param == "sqlite":
        eng = connect(f"sqlite:///{tmp_path}/vigie.db")
        upgrade(eng)
    else:
        eng = connect(request.getfixturevalue("shared_postgres_url"))
        tables = [t for t in sa.inspect(eng).get_table_names() if t != "alembic_version"]
        with eng.begin() as conn:
            # DELETE is much quicker than TRUNCATE on tables this small.
            for table in tables:
                conn.exec_driver_sql(f'DELETE FROM "{table}"')
    yield eng
    eng.dispose()
