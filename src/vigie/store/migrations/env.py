"""Alembic environment: runs migrations on the engine handed over by `vigie.store.migrate`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
