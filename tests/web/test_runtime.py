"""What the server's runtime builds from its settings."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from vigie.settings import build_settings
from vigie.web import Runtime


def test_the_log_columnar_copy_sits_next_to_the_sqlite_file(tmp_path: Path) -> None:
    """A SQLite server keeps its columnar copy in `<file>-columns`, or where configured."""
    runtime = Runtime(make_settings(f"sqlite:///{tmp_path}/vigie.db"))
    assert runtime.columns is not None
    assert runtime.columns.folder == tmp_path / "vigie.db-columns"
    runtime.engine.dispose()
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db",
        environ={"VIGIE_COLUMNS_DIR": str(tmp_path / "copy"), "VIGIE_WRITE_KEY": "k" * 24},
    )
    assert settings.columns_dir == str(tmp_path / "copy")
    runtime = Runtime(settings)
    assert runtime.columns is not None and runtime.columns.folder == tmp_path / "copy"
    runtime.engine.dispose()


def test_postgresql_has_a_columnar_copy_only_when_configured(tmp_path: Path) -> None:
    """PostgreSQL has no file to sit next to: no copy unless a folder is set."""
    url = "postgresql://postgres@127.0.0.1:5432/unused"
    runtime = Runtime(make_settings(url))
    assert runtime.columns is None
    runtime.engine.dispose()
    settings = make_settings(url)
    settings.columns_dir = str(tmp_path)
    runtime = Runtime(settings)
    assert runtime.columns is not None and runtime.columns.folder == tmp_path
    runtime.engine.dispose()
