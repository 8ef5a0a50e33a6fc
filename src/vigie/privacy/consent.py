"""Consent checked at use: before Vigie reaches out to a person for a purpose, it looks at
what that person agreed to (the contact's `consent`, per purpose).

A visitor known as a contact (one of the contact's anonymous ids, or stitched to its user id)
is reached only with the consent of that purpose; a visitor Vigie knows nothing about has
only the consent the site's own banner gave the tracker, and is not refused here.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa

Purpose = Literal["marketing", "profiling", "analytics", "third_parties"]

PURPOSE_FIELDS: dict[str, tuple[str, ...]] = {
    "marketing": ("email_marketing", "phone_marketing"),
    "profiling": ("profiling",),
    "analytics": ("analytics",),
    "third_parties": ("third_parties",),
}
"""The contact's consent fields that each give a purpose (any one of them is enough)."""

_contacts = sa.table(
    "crm_contacts",
    sa.column("id", sa.String),
    sa.column("external_id", sa.String),
    sa.column("anonymous_ids", sa.JSON),
    sa.column("consent", sa.JSON),
)
_identities = sa.table(
    "analytics_identities", sa.column("visitor_id", sa.String), sa.column("profile_id", sa.String)
)
_CHUNK = 500
_TABLES: weakref.WeakKeyDictionary[sa.Engine, set[str]] = weakref.WeakKeyDictionary()
"""The tables seen to exist, per engine: a table is not dropped while Vigie runs, so the
catalogue is asked only until it is there (it was two catalogue queries per check, on the
path of every chat invitation)."""


def _has_table(engine: sa.Engine, name: str) -> bool:
    seen = _TABLES.setdefault(engine, set())
    if name not in seen and sa.inspect(engine).has_table(name):
        seen.add(name)
    return name in seen


def skipped_reason(purpose: str) -> str:
    """What a run record says of the people a step left out for want of consent."""
    return f"skipped: no {purpose.replace('_', ' ')} consent"


def gives(consent: Mapping[str, Any] | None, purpose: str) -> bool:
    """Whether a contact's `consent` covers `purpose` (absent means not given)."""
    if not consent:
        return False
    return any(consent.get(name) is True for name in PURPOSE_FIELDS[purpose])


class ConsentBook:
    """Answers "may we, for this purpose?" for visitors, from the CRM's contacts."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def contact_gives(self, contact_id: str, purpose: str) -> bool | None:
        """Whether contact `contact_id` gave consent for `purpose`; None when there is no
        such contact."""
        if purpose not in PURPOSE_FIELDS:
            raise ValueError(
                f"unknown consent purpose {purpose!r}; use one of {list(PURPOSE_FIELDS)}"
            )
        if not _has_table(self.engine, "crm_contacts"):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(_contacts.c.consent).where(_contacts.c.id == contact_id)
            ).first()
        return None if row is None else gives(row[0], purpose)

    def refused(self, visitors: Sequence[str], purpose: str) -> set[str]:
        """The visitor ids among `visitors` that belong to a contact without consent for
        `purpose`.

        Only the contacts of these visitors are read, in SQL: those listing one of them among
        their anonymous ids, those whose user id is one of them, and those whose user id one
        of them was stitched to (a chat invitation asks about a few visitors; reading every
        contact made it slower as the CRM grew)."""
        if purpose not in PURPOSE_FIELDS:
            raise ValueError(
                f"unknown consent purpose {purpose!r}; use one of {list(PURPOSE_FIELDS)}"
            )
        wanted = sorted(set(visitors))
        if not wanted:
            return set()
        if not _has_table(self.engine, "crm_contacts"):
            return set()
        # Asked before the read: on SQLite the catalogue's own connection would wait on it.
        stitched = _has_table(self.engine, "analytics_identities")
        refused: set[str] = set()
        with self.engine.connect() as conn:
            listed = _listed_ids(conn.dialect.name)
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                queries = [
                    sa.select(listed.c.value, _contacts.c.consent)
                    .select_from(_contacts)
                    .join(listed, sa.true())
                    .where(listed.c.value.in_(chunk)),
                    sa.select(_contacts.c.external_id, _contacts.c.consent).where(
                        _contacts.c.external_id.in_(chunk)
                    ),
                ]
                if stitched:
                    queries.append(
                        sa.select(_identities.c.visitor_id, _contacts.c.consent)
                        .join(_contacts, _contacts.c.external_id == _identities.c.profile_id)
                        .where(_identities.c.visitor_id.in_(chunk))
                    )
                for query in queries:
                    refused.update(
                        str(visitor)
                        for visitor, consent in conn.execute(query)
                        if not gives(consent, purpose)
                    )
        return refused


def _listed_ids(dialect: str) -> Any:
    """The anonymous ids a contact lists, one row each (`value`): a table-valued function
    joined to `crm_contacts`, which both stores let read the row's column (no LATERAL, which
    SQLite does not parse)."""
    ids = _contacts.c.anonymous_ids
    if dialect == "postgresql":
        # A JSON scalar (never written by Vigie, but possible) has no elements to list.
        arrays = sa.case(
            (sa.func.json_typeof(ids) == "array", ids), else_=sa.literal_column("'[]'::json")
        )
        return sa.func.json_array_elements_text(arrays).table_valued("value").alias("listed")
    return sa.func.json_each(ids).table_valued("value").alias("listed")
