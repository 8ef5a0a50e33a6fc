"""Each user's preferences for the web interface (for now: the language), kept in the store
so that they follow the user from one browser to another.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigie.store.schema import metadata

user_preferences = sa.Table(
    "user_preferences",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("language", sa.String(8), nullable=False),
)


def get_language(*, engine: sa.Engine, user_id: int) -> str | None:
    """The language the user chose, or None when they never chose one."""
    query = sa.select(user_preferences.c.language).where(user_preferences.c.user_id == user_id)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return str(value) if value is not None else None


def set_language(*, engine: sa.Engine, user_id: int, language: str) -> None:
    """Remember the user's language."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(user_preferences).values(user_id=user_id, language=language)
    statement = statement.on_conflict_do_update(
        index_elements=[user_preferences.c.user_id], set_={"language": language}
    )
    with engine.begin() as conn:
        conn.execute(statement)
