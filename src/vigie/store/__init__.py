"""The SQL store: schema, migrations and connection setup for SQLite and PostgreSQL."""

from vigie.store.engine import DEFAULT_DB_URL, connect, is_postgres, is_sqlite
from vigie.store.migrate import upgrade

__all__ = ["DEFAULT_DB_URL", "connect", "is_postgres", "is_sqlite", "upgrade"]
