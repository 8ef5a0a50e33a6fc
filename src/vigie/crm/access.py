"""Object-level authorisation: which owned records (accounts, contacts, deals, offers, tasks,
interactions) a user sees — their own as a salesperson, their team's as a manager, all
otherwise. An interaction is also seen by the owner of its contact, account or deal."""

from __future__ import annotations

import sqlalchemy as sa

from vigie.auth.roles import Scope, scope_of
from vigie.auth.users import Principal
from vigie.crm.entities import ENTITIES, Entity
from vigie.crm.tables import staff


def visible_owners(conn: sa.Connection, user: Principal) -> set[str] | None:
    """The staff ids whose records `user` sees; None means every record."""
    scope = scope_of(user.role)
    if scope is Scope.ALL:
        return None
    if user.staff_id is None:
        return set()
    if scope is Scope.OWN:
        return {user.staff_id}
    team = conn.execute(sa.select(staff.c.team).where(staff.c.id == user.staff_id)).scalar()
    if team is None:
        return {user.staff_id}
    members = conn.execute(sa.select(staff.c.id).where(staff.c.team == team)).scalars()
    return {user.staff_id, *members}


def owner_clause(
    conn: sa.Connection, entity: Entity, user: Principal
) -> sa.ColumnElement[bool] | None:
    """A WHERE clause restricting `entity` to what `user` sees, or None for no restriction."""
    if entity.owner is None:
        return None
    owners = visible_owners(conn, user)
    if owners is None:
        return None
    if not owners:
        return sa.false()
    visible = sorted(owners)
    clauses = [entity.table.c[entity.owner].in_(visible)]
    for column in entity.via:
        parent = ENTITIES[entity.refs[column]]
        if parent.owner is None:  # pragma: no cover - `via` names owned parents only
            continue
        owned = sa.select(parent.table.c.id).where(parent.table.c[parent.owner].in_(visible))
        clauses.append(entity.table.c[column].in_(owned))
    return sa.or_(*clauses)


def may_assign(conn: sa.Connection, user: Principal, owner_id: str | None) -> bool:
    """True when `user` may give a record to `owner_id` (sales: themselves; managers: team)."""
    owners = visible_owners(conn, user)
    return owners is None or (owner_id is not None and owner_id in owners)
