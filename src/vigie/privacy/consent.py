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
        `purpose`."""
        if purpose not in PURPOSE_FIELDS:
            raise ValueError(
                f"unknown consent purpose {purpose!r}; use one of {list(PURPOSE_FIELDS)}"
            )
        wanted = set(visitors)
        if not wanted:
            return set()
        if not _has_table(self.engine, "crm_contacts"):
            return set()
        # Asked before the read: on SQLite the catalogue's own connection would wait on it.
        stitched = _has_table(self.engine, "analytics_identities")
        with self.engine.connect() as conn:
            # Contacts are few beside events: read those who did not consent once, then
            # look up the visitors' stitched profiles only when one of them has a user id.
            query = sa.select(
                _contacts.c.external_id, _contacts.c.anonymous_ids, _contacts.c.consent
            )
            their_visitors: set[str] = set()
            their_ids: set[str] = set()
            for external_id, anonymous_ids, consent in conn.execute(query):
                if gives(consent, purpose):
                    continue
                their_visitors.update(anonymous_ids or ())
                if external_id is not None:
                    their_ids.add(external_id)
            refused = wanted & (their_visitors | their_ids)
            if their_ids and stitched:
                rest = sorted(wanted - refused)
                for start in range(0, len(rest), _CHUNK):
                    query = sa.select(_identities.c.visitor_id, _identities.c.profile_id).where(
                        _identities.c.visitor_id.in_(rest[start : start + _CHUNK])
                    )
                    refused.update(
                        str(row[0]) for row in conn.execute(query) if row[1] in their_ids
                    )
        return refused
