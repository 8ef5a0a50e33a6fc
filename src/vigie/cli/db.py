"""`vigie db …`: the SQL store's schema."""

from __future__ import annotations

import typer

from vigie.cli.options import DbOption, console, load_settings

db_app = typer.Typer(
    help="The SQL store.\n\nExample: vigie db upgrade --db sqlite:///vigie-data/vigie.db",
    no_args_is_help=True,
)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the database schema to the newest version.

    Example: vigie db upgrade --db postgresql://vigie@localhost/vigie
    """
    from vigie.store import connect, upgrade

    settings = load_settings(db, None)
    engine = connect(settings.db_url)
    upgrade(engine)
    engine.dispose()
    console.print(f"database is up to date: {engine.url.render_as_string(hide_password=True)}")
