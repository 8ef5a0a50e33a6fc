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
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
import pydantic
import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.crm import batches
from vigie.crm.batches import Progress, describe
from vigie.crm.entities import Entity, ReadBase
from vigie.crm.processor import CrmProcessor
from vigie.crm.sla import CrmConfig
from vigie.events import Event
from vigie.log import ProcessorRunner, ServedLog, SqlEventLog
from vigie.log.eventlog import DurableConsumers

IMPORT_BATCH = 1000
WORKERS_WAIT_SECONDS = 300.0
"""How long an import on NATS JetStream waits for the workers to apply it."""
"""Events the CRM projection applies per transaction during `vigie import` (its progress)."""


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


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet reads as the start of a formula (CSV injection)."""
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def neutralise(text: str) -> str:
    """`text` safe to open in a spreadsheet: a cell that would start a formula gets a
    leading `'` (shown as text, never evaluated); plain numbers such as `-12.5` stay as
    they are. `parse` removes the quote again, so an export imports back unchanged."""
    if text.startswith(FORMULA_PREFIXES) and not _NUMBER.match(text):
        return "'" + text
    return text


def _restore(text: str) -> str:
    """The cell as it was before `neutralise`."""
    if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))


def render(entity: Entity, rows: Iterable[ReadBase]) -> str:
    """Records as CSV text, with a header row; lists and objects as JSON cells."""
    out = io.StringIO()
    # RFC 4180 line ends: the writer then quotes every cell holding a CR or LF, so a
    # carriage return inside a cell cannot split its row.
    writer = csv.writer(out, lineterminator="\r\n")
    columns = header(entity)
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([_cell(data[c]) for c in columns])
    return out.getvalue()


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
                values[name] = _restore(raw)
        if problem is None:
            try:
                model = entity.create.model_validate(values)
            except pydantic.ValidationError as exc:
                problem = describe(exc)
        if problem is not None:
            errors.append(RowError(line=start, reason=problem))
            continue
        record_id = (row.get("id") or "").strip() or None
        if record_id is not None and not batches.ID.match(record_id):
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
    """Check a whole file as one batch (`batches.plan`, an administrator's: every record is
    in scope); the report, and the CRM events to append when it has no error."""
    good, errors = parse(entity, text)
    if progress is not None and errors:
        progress(len(errors))
    rows = [{**data, **({"id": record_id} if record_id else {})} for _, record_id, data in good]
    with engine.connect() as conn:
        planned = batches.plan(
            conn,
            entity,
            rows,
            user=None,
            actor=actor,
            now=now,
            match_external_id=False,
            progress=progress,
        )
    lines = [line for line, _, _ in good]
    errors.extend(RowError(line=lines[e.index], reason=e.reason) for e in planned.errors)
    if errors:
        return ImportReport(entity=entity.name, errors=sorted(errors, key=lambda e: e.line)), []
    report = ImportReport(entity=entity.name, created=planned.created, updated=planned.updated)
    return report, planned.events


class _Counting:
    """The CRM processor, telling `applied` how many change records of `entity` each batch
    held once it has applied them (the progress of an import)."""

    def __init__(self, processor: CrmProcessor, entity: Entity, applied: Progress) -> None:
        self.name = processor.name
        self._processor = processor
        self._events = set(entity.events)
        self._applied = applied

    def process(self, events: Sequence[Event]) -> None:
        self._processor.process(events)
        self._applied(sum(1 for e in events if e.event in self._events))


def import_csv(
    *,
    engine: sa.Engine,
    entity: Entity,
    text: str,
    actor: Actor,
    now: datetime,
    config: CrmConfig | None = None,
    progress: Progress | None = None,
    applied: Progress | None = None,
    log: ServedLog | None = None,
    workers_wait: float = WORKERS_WAIT_SECONDS,
) -> ImportReport:
    """Check a whole file, then append it as CRM events in one transaction and apply them
    (for the command line; the server appends through its writer and waits for its runner).

    `progress` counts the rows checked, `applied` the rows the CRM projection has applied;
    `log` is the one the server's writer appends to, with its safeguards (a contact's visitor
    ids pseudonymised, personal data sealed: `vigie.system.command_log`); the store's own
    log table when not given. On NATS JetStream the workers apply it: the import waits for
    them, at most `workers_wait` seconds (then TimeoutError, the rows being in the log).
    """
    report, events = plan_import(
        engine=engine, entity=entity, text=text, actor=actor, now=now, progress=progress
    )
    if not report.ok:
        return report
    log = log if log is not None else SqlEventLog(engine)
    result = log.append(
        events, source=events[0].source, endpoint=f"import:{entity.name}", received_at=now
    )
    processor = CrmProcessor(engine, config)
    if isinstance(log, DurableConsumers):
        # On NATS JetStream the workers' durable consumer applies the import: running the
        # projection here would take that consumer over from them, mid-stream.
        _await_workers(log, processor.name, max(result.offsets, default=0), workers_wait)
        if applied is not None:
            applied(sum(1 for e in events if e.event in set(entity.events)))
        return report
    runner = ProcessorRunner(
        log,
        [_Counting(processor, entity, applied) if applied is not None else processor],
        batch_size=IMPORT_BATCH,
    )
    runner.run_once()
    return report


def _await_workers(log: Any, consumer: str, last: int, seconds: float) -> None:
    """Wait until `consumer`'s checkpoint has passed offset `last`."""
    deadline = time.monotonic() + seconds
    while log.checkpoint(consumer) <= last:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the import is in the log (up to offset {last}), but no worker applied it "
                f"within {seconds:.0f} s: is `vigie worker` running on this log? It will "
                "be applied when one runs"
            )
        time.sleep(0.2)
