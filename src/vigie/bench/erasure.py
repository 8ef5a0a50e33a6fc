"""`vigie bench erasure`: what erasing one person costs in a log of `events` events.

The store is filled with visitors' events (a realistic body each, with context and traits),
one of them the person to erase: a contact with an e-mail, a name, a user id and two visitor
ids, who sent `person_events` of them. Measured in one run on that store: the erasure
(every table searched, the person's rows rewritten, the columnar copy rewritten, `VACUUM` and
the WAL truncated), and beside it the two baselines it cannot beat: one full scan of the
log's bodies for one identifier, and `VACUUM` alone.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console

from vigie.auth.audit import Actor
from vigie.chat.processor import SAID, forget_transcripts
from vigie.clock import SystemClock
from vigie.crm.notes import forget_notes, note_events
from vigie.crm.tables import contacts
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.columnar import ColumnarCopy
from vigie.log.eventlog import AppendJob
from vigie.privacy import DataSubjects
from vigie.store import connect, upgrade

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EMAIL = "erasure.subject@example.org"
USER_ID = "user-erasure-subject"
VISITORS = ["anon-erasure-subject-1", "anon-erasure-subject-2"]
CHUNK = 5000


def _event(n: int, person_every: int) -> Event:
    at = START + timedelta(seconds=n)
    if n % person_every == 0:
        visitor, user, traits = VISITORS[n % 2], USER_ID, {"email": EMAIL, "name": "Ada Subject"}
    else:
        visitor, user, traits = f"anon-{n % 20_000:06d}", None, {}
    return Event(
        message_id=f"m{n}", type="track", source="web", event="Product Viewed",
        anonymous_id=visitor, user_id=user, timestamp=at, received_at=at, traits=traits,
        properties={"sku": f"SKU-{n % 500}", "price": 19.9, "currency": "EUR"},
        context={"ip": "203.0.113.0", "page": {"path": f"/p/{n % 500}"},
                 "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"},
    )  # fmt: skip


def _fill(engine: sa.Engine, events: int, person_events: int) -> None:
    log = SqlEventLog(engine)
    person_every = max(1, events // max(1, person_events))
    for first in range(0, events, CHUNK):
        batch = [_event(n, person_every) for n in range(first, min(events, first + CHUNK))]
        log.append_many([AppendJob(events=batch, rejections=[], source="web", endpoint="bench")])
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            {"id": "ct_subject", "version": 1, "created_at": START, "updated_at": START,
             "first_name": "Ada", "last_name": "Subject", "email": EMAIL,
             "external_id": USER_ID, "anonymous_ids": VISITORS, "consent": {}},
        )  # fmt: skip


def _vacuum(engine: sa.Engine) -> None:
    """`VACUUM` outside any transaction (as the erasure runs it)."""
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("VACUUM")
    finally:
        raw.close()


def run_erasure_bench(
    *, events: int, person_events: int, db_url: str | None, console: Console
) -> dict[str, Any]:
    """Fill a store, erase the person, then time the baselines on the same store."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-erasure-") as folder:
        url = db_url or f"sqlite:///{Path(folder) / 'vigie.db'}"
        engine = connect(url)
        try:
            upgrade(engine)
            started = time.perf_counter()
            _fill(engine, events, person_events)
            console.print(f"filled {events:,} events in {time.perf_counter() - started:.1f} s")
            columns = ColumnarCopy.for_store(engine, Path(folder) / "columns")
            if columns is not None:
                columns.catch_up()
            # As the server erases: the CRM's notes about the person blanked too.
            subjects = DataSubjects(
                engine=engine,
                clock=SystemClock(),
                columns=columns,
                forget_notes=forget_notes,
                notes=note_events(),
                said=SAID,
                forget_said=forget_transcripts,
            )
            started = time.perf_counter()
            erasure = subjects.erase("ct_subject", actor=Actor(name="bench"))
            erase_s = time.perf_counter() - started
            sqlite = engine.dialect.name == "sqlite"
            scan = (
                "SELECT COUNT(*) FROM events WHERE instr(body, ?) > 0"
                if sqlite
                else "SELECT COUNT(*) FROM events WHERE position(%s::bytea in body) > 0"
            )
            started = time.perf_counter()
            with engine.connect() as conn:
                conn.exec_driver_sql(scan, (EMAIL.encode(),)).scalar()
            scan_s = time.perf_counter() - started
            started = time.perf_counter()
            _vacuum(engine)
            vacuum_s = time.perf_counter() - started
            database = Path(str(engine.url.database)) if sqlite else None
            size_mb = database.stat().st_size / 1e6 if database is not None else None
        finally:
            engine.dispose()
    figures = {
        "events": events,
        "rows_rewritten": sum(erasure.rows.values()),
        "erase_s": round(erase_s, 3),
        "scan_one_identifier_s": round(scan_s, 3),
        "vacuum_s": round(vacuum_s, 3),
        "erase_over_vacuum": round(erase_s / vacuum_s, 2) if vacuum_s else None,
        "erase_over_scan": round(erase_s / scan_s, 2) if scan_s else None,
        "db_mb": round(size_mb, 1) if size_mb is not None else None,
        "segments_rewritten": erasure.segments_rewritten,
    }
    console.print(
        f"erased {figures['rows_rewritten']} rows in {erase_s:.2f} s; one scan of the log "
        f"{scan_s:.2f} s, VACUUM alone {vacuum_s:.2f} s"
    )
    return figures
