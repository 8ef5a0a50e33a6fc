"""Alembic environment: runs migrations on the engine handed over by `vigie.store.migrate`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")

# Migrations write: on SQLite their transaction takes the write lock up front, whether Alembic
# begins it or a first statement does (`vigie.store.engine`).
with engine.connect().execution_options(sqlite_immediate=True) as connection:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
