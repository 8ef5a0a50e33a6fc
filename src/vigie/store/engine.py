"""Engines for the two supported stores: SQLite (embedded default, WAL) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

DEFAULT_DB_URL = "sqlite:///./vigie-data/vigie.db"


def is_sqlite(engine_or_url: sa.Engine | str) -> bool:
    """True when the store is SQLite."""
    return _backend(engine_or_url) == "sqlite"


def is_postgres(engine_or_url: sa.Engine | str) -> bool:
    """True when the store is PostgreSQL."""
    return _backend(engine_or_url) == "postgresql"


def _backend(engine_or_url: sa.Engine | str) -> str:
    url = engine_or_url.url if isinstance(engine_or_url, sa.Engine) else make_url(engine_or_url)
    return url.get_backend_name()


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and route them to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def connect(url: str = DEFAULT_DB_URL, *, synchronous: str = "FULL") -> sa.Engine:
    """Build an engine for `url`, creating the SQLite folder and setting WAL where needed.

    On SQLite, `synchronous=FULL` makes each commit durable across a power loss, not only a
    crash of the process; the log's group commit keeps that affordable.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, synchronous=synchronous)
    if backend == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise ValueError(
        f"database URL {parsed.render_as_string(hide_password=True)!r} is not supported: "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


SQLITE_PAGE_SIZE = 2048
SQLITE_CHECKPOINT_BYTES = 16 * 1024 * 1024


def sqlite_pragmas(synchronous: str = "FULL") -> list[str]:
    """The pragmas every SQLite connection runs, in order (the benchmark's ceiling reuses them).

    Each commit writes every page it touched to the WAL, and the log's unique index on
    (source, messageId) is keyed by random ids: a 500-event commit dirties hundreds of its
    pages. 2 KB pages (taking effect when the file is created) write about 30% fewer WAL
    bytes per event than the 4 KB default (see BENCHMARKS.md); checkpoints run every 16 MB
    of WAL so that hot pages are written back to the file less often.
    """
    return [
        f"PRAGMA page_size={SQLITE_PAGE_SIZE}",
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={synchronous}",
        f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_BYTES // SQLITE_PAGE_SIZE}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=30000",
    ]


class _SqliteConnection(sa.Connection):
    """A connection that remembers whether its transaction began by itself (a statement run
    on `engine.connect()`, a read everywhere in Vigie) or by `begin()` (a write)."""

    _autobegun = False

    def _autobegin(self) -> None:
        self._autobegun = True
        try:
            super()._autobegin()
        finally:
            self._autobegun = False


def _sqlite_engine(url: str, *, synchronous: str) -> sa.Engine:
    parsed = make_url(url)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=int(os.environ.get("VIGIE_SQLITE_POOL", "8")),
        max_overflow=8,
    )
    engine._connection_cls = _SqliteConnection

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_pragmas(synchronous):
            cursor.execute(pragma)
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # `begin()` takes the write lock up front: in WAL mode a transaction that read and
        # then writes after another connection committed fails at once ("database is locked")
        # instead of waiting. A transaction begun by a statement on `engine.connect()` (how
        # Vigie reads) is deferred and takes no write lock, so a reader never holds up the
        # log writer; `execution_options(sqlite_immediate=...)` overrides either default.
        autobegun = isinstance(conn, _SqliteConnection) and conn._autobegun
        if conn.get_execution_options().get("sqlite_immediate", not autobegun):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
