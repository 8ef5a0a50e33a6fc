"""Run the Alembic migrations that ship inside the package (`vigie db upgrade`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: sa.Engine) -> Config:
    """An Alembic configuration bound to `engine`, without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "heads") -> None:
    """Bring the database to the newest schema; every part's branch is upgraded (`heads`)."""
    command.upgrade(alembic_config(engine), revision)
