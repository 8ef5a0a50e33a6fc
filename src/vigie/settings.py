"""Runtime settings, built by a factory from the command line, environment and `vigie.yaml`."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from vigie.config import Config, default_config, load_config
from vigie.store.engine import DEFAULT_DB_URL


class Settings(msgspec.Struct, kw_only=True):
    """Everything a running Vigie needs to know before it starts."""

    db_url: str = DEFAULT_DB_URL
    log_url: str | None = None
    config: Config
    config_path: str | None = None
    generated_write_key: bool = False
    sqlite_synchronous: str = "FULL"
    # Where the log's columnar copy lives (default: next to a SQLite file; none on PostgreSQL).
    columns_dir: str | None = None


def build_settings(
    *,
    db_url: str | None = None,
    config_path: str | Path | None = None,
    log_url: str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Settings from explicit arguments first, then `VIGIE_*` environment variables."""
    env = dict(os.environ) if environ is None else environ
    db_url = db_url or env.get("VIGIE_DB") or DEFAULT_DB_URL
    path = config_path or env.get("VIGIE_CONFIG")
    if path:
        config = load_config(path)
        generated = False
    else:
        config, generated = default_config(environ=env)
    return Settings(
        db_url=db_url,
        log_url=log_url or env.get("VIGIE_LOG"),
        config=config,
        config_path=str(path) if path else None,
        generated_write_key=generated,
        sqlite_synchronous=env.get("VIGIE_SQLITE_SYNCHRONOUS", "FULL").upper(),
        columns_dir=env.get("VIGIE_COLUMNS_DIR") or None,
    )
