"""Reading the CRM tables: lists with filters, search, sorting and pages; single records."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vigie.crm import tables
from vigie.crm.entities import Entity, ReadBase
from vigie.crm.milestones import Names


def _where(
    entity: Entity,
    *,
    filters: dict[str, Any],
    q: str | None,
    archived: bool,
    restrict: sa.ColumnElement[bool] | None,
) -> list[sa.ColumnElement[bool]]:
    table = entity.table
    clauses: list[sa.ColumnElement[bool]] = []
    for name, value in filters.items():
        if value is not None:
            clauses.append(table.c[name] == value)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(sa.or_(*(table.c[c].ilike(pattern, escape="\\") for c in entity.search)))
    if not archived:
        clauses.append(table.c.archived_at.is_(None))
    if restrict is not None:
        clauses.append(restrict)
    return clauses


def list_records(
    conn: sa.Connection,
    entity: Entity,
    *,
    filters: dict[str, Any],
    q: str | None = None,
    sort: str = "-updated_at",
    limit: int = 50,
    offset: int = 0,
    archived: bool = False,
    restrict: sa.ColumnElement[bool] | None = None,
) -> tuple[list[ReadBase], int]:
    """One page of records and the total matching, sorted by `sort` (`-field` descending)."""
    table = entity.table
    clauses = _where(entity, filters=filters, q=q, archived=archived, restrict=restrict)
    column = table.c[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    query = sa.select(table).where(*clauses).order_by(order, table.c.id).limit(limit).offset(offset)
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*clauses)).scalar()
    items = [entity.read.model_validate(dict(row._mapping)) for row in conn.execute(query)]
    return items, int(total or 0)


def get_record(
    conn: sa.Connection,
    entity: Entity,
    record_id: str,
    *,
    restrict: sa.ColumnElement[bool] | None = None,
) -> ReadBase | None:
    """The record `record_id` if it exists and passes `restrict`, archived or not."""
    table = entity.table
    query = sa.select(table).where(table.c.id == record_id)
    if restrict is not None:
        query = query.where(restrict)
    row = conn.execute(query).first()
    return entity.read.model_validate(dict(row._mapping)) if row is not None else None


def iter_records(conn: sa.Connection, entity: Entity, *, archived: bool = False) -> list[ReadBase]:
    """Every record of `entity`, oldest first (for export)."""
    table = entity.table
    query = sa.select(table).order_by(table.c.created_at, table.c.id)
    if not archived:
        query = query.where(table.c.archived_at.is_(None))
    return [entity.read.model_validate(dict(row._mapping)) for row in conn.execute(query)]


def missing_references(
    conn: sa.Connection,
    entity: Entity,
    data: dict[str, Any],
    *,
    entities: dict[str, Entity],
    restrict_for: dict[str, sa.ColumnElement[bool] | None] | None = None,
    pending: dict[str, set[str]] | None = None,
) -> list[str]:
    """Reasons for each reference in `data` to a record that does not exist (or is not
    visible, per `restrict_for[target]`); `pending` holds ids created in the same import."""
    problems: list[str] = []
    for field, target_name in entity.refs.items():
        value = data.get(field)
        if value is None:
            continue
        if pending and value in pending.get(target_name, set()):
            continue
        target = entities[target_name]
        query = sa.select(target.table.c.id).where(target.table.c.id == value)
        restrict = (restrict_for or {}).get(target_name)
        if restrict is not None:
            query = query.where(restrict)
        if conn.execute(query).first() is None:
            problems.append(f"{field}: no {target_name} record {value!r} / introuvable")
    return problems


def names_for(conn: sa.Connection, record: dict[str, Any]) -> Names:
    """How the staff and the campaign `record` refers to read on a KPI tile: staff names,
    and the UTM campaign name of a CRM campaign (its name when it has none)."""
    staff_ids = [record[k] for k in ("owner_id", "assignee_id", "staff_id") if record.get(k)]
    staff: dict[str, str] = {}
    if staff_ids:
        table = tables.staff
        query = sa.select(table.c.id, table.c.name).where(table.c.id.in_(staff_ids))
        staff = {row.id: row.name for row in conn.execute(query)}
    campaigns: dict[str, str] = {}
    if record.get("campaign_id"):
        table = tables.campaigns
        query = sa.select(table.c.id, table.c.name, table.c.utm_campaign).where(
            table.c.id == record["campaign_id"]
        )
        campaigns = {row.id: row.utm_campaign or row.name for row in conn.execute(query)}
    return Names(staff=staff, campaigns=campaigns)


def all_names(conn: sa.Connection) -> Names:
    """`names_for` every staff member and campaign at once (for a bulk import)."""
    staff, campaigns = tables.staff, tables.campaigns
    return Names(
        staff={row.id: row.name for row in conn.execute(sa.select(staff.c.id, staff.c.name))},
        campaigns={
            row.id: row.utm_campaign or row.name
            for row in conn.execute(
                sa.select(campaigns.c.id, campaigns.c.name, campaigns.c.utm_campaign)
            )
        },
    )


def campaign_for_utm(conn: sa.Connection, utm: str, *, excluding: str | None) -> str | None:
    """The id of the live CRM campaign whose UTM name is `utm` (other than `excluding`)."""
    c = tables.campaigns
    query = sa.select(c.c.id).where(c.c.utm_campaign == utm, c.c.archived_at.is_(None))
    if excluding is not None:
        query = query.where(c.c.id != excluding)
    found: str | None = conn.execute(query.limit(1)).scalar()
    return found
