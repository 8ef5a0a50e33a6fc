"""CSV export and all-or-nothing CSV import of CRM records.

An import is checked whole before anything is written: every bad row is reported with its
line number and reason, and a file with one bad row imports nothing. A good file becomes
CRM events appended to the log in one transaction, then applied by the CRM processor.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import msgspec
import pydantic
import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.crm import records
from vigie.crm.commands import new_id, write_events
from vigie.crm.entities import ENTITIES, Entity, ReadBase
from vigie.crm.processor import CrmProcessor
from vigie.crm.sla import CrmConfig
from vigie.events import Event
from vigie.log import ProcessorRunner, SqlEventLog

Progress = Callable[[int], None]
ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
FORMATS = {
    "country": "an ISO 3166-1 alpha-2 country code (e.g. BE, FR) / un code pays",
    "currency": "an ISO 4217 currency code (e.g. EUR) / un code devise",
    "nace": "a NACE Rev. 2 code (e.g. 62.01, or section J) / un code NACE",
    "email": "an e-mail address / une adresse e-mail",
}


class RowError(msgspec.Struct, kw_only=True, frozen=True):
    """Why one line of a CSV file cannot be imported."""

    line: int
    reason: str


class ImportReport(msgspec.Struct, kw_only=True):
    """The outcome of an import: rows created and updated, or the errors (nothing imported)."""

    entity: str
    created: int = 0
    updated: int = 0
    errors: list[RowError] = []

    @property
    def ok(self) -> bool:
        return not self.errors


def _json_columns(entity: Entity) -> set[str]:
    return {c.name for c in entity.table.c if isinstance(c.type, sa.JSON)}


def header(entity: Entity) -> list[str]:
    """The columns of an export, which an import accepts back."""
    return list(entity.read.model_fields)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(entity: Entity, rows: Iterable[ReadBase]) -> str:
    """Records as CSV text, with a header row; lists and objects as JSON cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = header(entity)
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([_cell(data[c]) for c in columns])
    return out.getvalue()


def _reason(entity: Entity, exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "row"
        message = error["msg"]
        hint = FORMATS.get(str(error["loc"][0])) if error["loc"] else None
        if error["type"] == "string_pattern_mismatch" and hint:
            # "should match pattern '^[A-Z]{2}$'" helps nobody; say what is expected.
            message = f"{error['input']!r} is not {hint}"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse(
    entity: Entity, text: str
) -> tuple[list[tuple[int, str | None, dict[str, Any]]], list[RowError]]:
    """Validate every row: (line, id or None, fields) for good rows, and the errors."""
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    known = set(entity.read.model_fields)
    unknown = [f for f in fields if f not in known]
    if not fields:
        return [], [RowError(line=1, reason="the file is empty: a header row is required")]
    if unknown:
        return [], [
            RowError(
                line=1,
                reason=f"unknown column(s) {', '.join(unknown)}; "
                f"the columns are: {', '.join(header(entity))}",
            )
        ]
    json_columns = _json_columns(entity)
    accepted = set(entity.create.model_fields)
    good: list[tuple[int, str | None, dict[str, Any]]] = []
    errors: list[RowError] = []
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if None in row:
            errors.append(RowError(line=start, reason="more cells than columns in the header"))
            continue
        values: dict[str, Any] = {}
        problem = None
        for name, raw in row.items():
            if name not in accepted or raw is None or raw == "":
                continue
            if name in json_columns:
                try:
                    values[name] = json.loads(raw)
                except json.JSONDecodeError as exc:
                    problem = f"{name}: not valid JSON ({exc.msg})"
                    break
            else:
                values[name] = raw
        if problem is None:
            try:
                model = entity.create.model_validate(values)
            except pydantic.ValidationError as exc:
                problem = _reason(entity, exc)
        if problem is not None:
            errors.append(RowError(line=start, reason=problem))
            continue
        record_id = (row.get("id") or "").strip() or None
        if record_id is not None and not ID.match(record_id):
            errors.append(
                RowError(line=start, reason=f"id: {record_id!r} is not a valid identifier")
            )
            continue
        good.append((start, record_id, model.model_dump(mode="json", include=set(values))))
    if not good and not errors:
        errors.append(RowError(line=1, reason="no rows below the header"))
    return good, errors


def plan_import(
    *,
    engine: sa.Engine,
    entity: Entity,
    text: str,
    actor: Actor,
    now: datetime,
    progress: Progress | None = None,
) -> tuple[ImportReport, list[Event]]:
    """Check a whole file; the report, and the CRM events to append when it has no error."""
    report = ImportReport(entity=entity.name)
    good, errors = parse(entity, text)
    ids_in_file: set[str] = set()
    for line, record_id, _ in good:
        if record_id is not None and record_id in ids_in_file:
            errors.append(RowError(line=line, reason=f"id {record_id!r} appears twice in the file"))
        elif record_id is not None:
            ids_in_file.add(record_id)
    pending = {entity.name: ids_in_file}
    events: list[Event] = []
    with engine.connect() as conn:
        table = entity.table
        existing = (
            {
                row.id: dict(row._mapping)
                for row in conn.execute(sa.select(table).where(table.c.id.in_(ids_in_file)))
            }
            if ids_in_file
            else {}
        )
        names = records.all_names(conn)
        for line, record_id, data in good:
            problems = records.missing_references(
                conn, entity, data, entities=ENTITIES, pending=pending
            )
            if problems:
                errors.append(RowError(line=line, reason="; ".join(problems)))
                continue
            operation = "update" if record_id in existing else "create"
            if operation == "update":
                report.updated += 1
            else:
                report.created += 1
            events.extend(
                write_events(
                    entity=entity,
                    operation=operation,
                    record_id=record_id or new_id(entity),
                    data=data,
                    before=existing.get(record_id) if record_id else None,
                    actor=actor,
                    now=now,
                    names=names,
                )
            )
            if progress is not None:
                progress(1)
    if errors:
        return ImportReport(entity=entity.name, errors=sorted(errors, key=lambda e: e.line)), []
    return report, events


def import_csv(
    *,
    engine: sa.Engine,
    entity: Entity,
    text: str,
    actor: Actor,
    now: datetime,
    config: CrmConfig | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Check a whole file, then append it as CRM events in one transaction and apply them
    (for the command line; the server appends through its writer and waits for its runner)."""
    report, events = plan_import(
        engine=engine, entity=entity, text=text, actor=actor, now=now, progress=progress
    )
    if not report.ok:
        return report
    log = SqlEventLog(engine)
    log.append(events, source=events[0].source, endpoint=f"import:{entity.name}", received_at=now)
    ProcessorRunner(log, [CrmProcessor(engine, config)]).run_once()
    return report
