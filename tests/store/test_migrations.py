"""The Alembic migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import vigie
from vigie.store import connect, upgrade
from vigie.store.migrate import alembic_config
from vigie.store.schema import metadata


def _import_every_part() -> None:
    """Every part declares its tables in its own module: import them all onto `metadata`."""
    for module in pkgutil.walk_packages(vigie.__path__, "vigie."):
        if module.name != "vigie.__main__" and ".migrations" not in module.name:
            importlib.import_module(module.name)


_import_every_part()


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_upgrade_matches_the_declared_schema(db_url: str) -> None:
    """After `upgrade`, autogenerate finds nothing between the database and `schema.metadata`."""
    engine = connect(db_url)
    try:
        upgrade(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    """Upgrading an up-to-date database changes nothing and does not fail."""
    engine = connect(db_url)
    try:
        upgrade(engine)
        upgrade(engine)
        with engine.connect() as conn:
            versions = [
                row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ]
        heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
        assert sorted(versions) == sorted(heads)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_new_sqlite_store_uses_the_configured_pages(tmp_path: Path) -> None:
    """A SQLite file created by Vigie is in WAL mode with 2 KB pages."""
    engine = connect(f"sqlite:///{tmp_path}/pages.db")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 2048
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()
