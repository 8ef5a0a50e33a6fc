"""The record of every playbook run: started, each step's result, retries and errors.

A run's `key` identifies the firing that caused it, so one firing runs a playbook once,
even across restarts. Steps are recorded before and after they act, so a restart resumes
at the first step that did not finish.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.store.schema import metadata
from vigie.types import from_us, to_us

playbook_runs = sa.Table(
    "playbook_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(500), nullable=False, unique=True),
    sa.Column("playbook", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("started_at_us", sa.BigInteger, nullable=False),
    sa.Column("finished_at_us", sa.BigInteger),
    sa.Column("error", sa.Text),
)
sa.Index("ix_playbook_runs_status", playbook_runs.c.status)

playbook_steps = sa.Table(
    "playbook_steps",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("params", sa.Text),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("started_at_us", sa.BigInteger, nullable=False),
    sa.Column("finished_at_us", sa.BigInteger),
)

FINISHED_STEP = frozenset({"succeeded", "skipped", "failed"})


class StepRecord(msgspec.Struct, kw_only=True):
    """One step of a run as recorded."""

    index: int
    name: str
    action: str
    status: str
    attempts: int
    params: Any
    result: Any
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class RunRecord(msgspec.Struct, kw_only=True):
    """One run of a playbook, listed by `GET /api/playbook-runs`."""

    id: str
    key: str
    playbook: str
    status: str
    trigger: Any
    params: Any
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    steps: list[StepRecord] = []


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _load(text: str | None) -> Any:
    return msgspec.json.decode(text) if text else None


def create_run(
    conn: sa.Connection,
    *,
    run_id: str,
    key: str,
    playbook: str,
    trigger: Any,
    params: dict[str, Any],
    at: datetime,
) -> None:
    """Insert a run in status `running`; an existing key raises IntegrityError."""
    conn.execute(
        playbook_runs.insert().values(
            id=run_id,
            key=key,
            playbook=playbook,
            status="running",
            trigger=_json(trigger),
            params=_json(params),
            started_at_us=to_us(at),
        )
    )


def run_id_for(conn: sa.Connection, *, key: str) -> str | None:
    """The id of the run recorded for `key`, if any."""
    return conn.execute(sa.select(playbook_runs.c.id).where(playbook_runs.c.key == key)).scalar()


def unfinished(conn: sa.Connection) -> list[str]:
    """Ids of runs still `running` (interrupted by a stop), oldest first."""
    rows = conn.execute(
        sa.select(playbook_runs.c.id)
        .where(playbook_runs.c.status == "running")
        .order_by(playbook_runs.c.started_at_us)
    )
    return [row.id for row in rows]


def finish_run(
    conn: sa.Connection, *, run_id: str, status: str, at: datetime, error: str | None
) -> None:
    """Close a run as `succeeded` or `failed`."""
    conn.execute(
        playbook_runs.update()
        .where(playbook_runs.c.id == run_id)
        .values(status=status, finished_at_us=to_us(at), error=error)
    )


def step_states(conn: sa.Connection, *, run_id: str) -> dict[int, StepRecord]:
    """The recorded steps of a run, by index."""
    return {s.index: s for s in _steps(conn, run_id)}


def start_step(
    conn: sa.Connection,
    *,
    run_id: str,
    index: int,
    name: str,
    action: str,
    params: Any,
    at: datetime,
) -> int:
    """Record that an attempt of a step begins; returns the attempt's number."""
    existing = conn.execute(
        sa.select(playbook_steps.c.attempts).where(
            playbook_steps.c.run_id == run_id, playbook_steps.c.idx == index
        )
    ).scalar()
    if existing is None:
        conn.execute(
            playbook_steps.insert().values(
                run_id=run_id,
                idx=index,
                name=name,
                action=action,
                status="running",
                attempts=1,
                params=_json(params),
                started_at_us=to_us(at),
            )
        )
        return 1
    conn.execute(
        playbook_steps.update()
        .where(playbook_steps.c.run_id == run_id, playbook_steps.c.idx == index)
        .values(status="running", attempts=existing + 1, params=_json(params))
    )
    return int(existing) + 1


def end_step(
    conn: sa.Connection,
    *,
    run_id: str,
    index: int,
    status: str,
    at: datetime,
    result: Any = None,
    error: str | None = None,
) -> None:
    """Record a step's outcome: `succeeded`, `skipped`, `failed`, or `retrying`; errors of
    successive attempts are kept, one per line."""
    values: dict[str, Any] = {"status": status}
    if error is not None:
        before = conn.execute(
            sa.select(playbook_steps.c.error).where(
                playbook_steps.c.run_id == run_id, playbook_steps.c.idx == index
            )
        ).scalar()
        values["error"] = f"{before}\n{error}" if before else error
    if result is not None:
        values["result"] = _json(result)
    if status in FINISHED_STEP:
        values["finished_at_us"] = to_us(at)
    conn.execute(
        playbook_steps.update()
        .where(playbook_steps.c.run_id == run_id, playbook_steps.c.idx == index)
        .values(**values)
    )


def hold_step(conn: sa.Connection, *, run_id: str, index: int, until: datetime, why: str) -> None:
    """Record that a step waits until `until` (a place's quiet hours): the attempt just
    made does not count, and the run stays unfinished until the step runs again."""
    conn.execute(
        playbook_steps.update()
        .where(playbook_steps.c.run_id == run_id, playbook_steps.c.idx == index)
        .values(
            status="held",
            attempts=playbook_steps.c.attempts - 1,
            result=_json({"held_until": until.isoformat(), "held": why}),
        )
    )


def held_until(step: StepRecord) -> datetime | None:
    """When a held step may run again (None for a step that is not held)."""
    if step.status != "held" or not isinstance(step.result, dict):
        return None
    return datetime.fromisoformat(step.result["held_until"])


def skip_step(
    conn: sa.Connection, *, run_id: str, index: int, name: str, action: str, at: datetime, why: str
) -> None:
    """Record a step whose condition was false."""
    conn.execute(
        playbook_steps.insert().values(
            run_id=run_id,
            idx=index,
            name=name,
            action=action,
            status="skipped",
            attempts=0,
            result=_json({"skipped": why}),
            started_at_us=to_us(at),
            finished_at_us=to_us(at),
        )
    )


def _steps(conn: sa.Connection, run_id: str) -> list[StepRecord]:
    rows = conn.execute(
        sa.select(playbook_steps)
        .where(playbook_steps.c.run_id == run_id)
        .order_by(playbook_steps.c.idx)
    )
    return [
        StepRecord(
            index=r.idx,
            name=r.name,
            action=r.action,
            status=r.status,
            attempts=r.attempts,
            params=_load(r.params),
            result=_load(r.result),
            error=r.error,
            started_at=from_us(r.started_at_us),
            finished_at=from_us(r.finished_at_us) if r.finished_at_us is not None else None,
        )
        for r in rows
    ]


def _record(conn: sa.Connection, row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        key=row.key,
        playbook=row.playbook,
        status=row.status,
        trigger=_load(row.trigger),
        params=_load(row.params),
        started_at=from_us(row.started_at_us),
        finished_at=from_us(row.finished_at_us) if row.finished_at_us is not None else None,
        error=row.error,
        steps=_steps(conn, row.id),
    )


def get_run(conn: sa.Connection, *, run_id: str) -> RunRecord | None:
    """One run with its steps."""
    row = conn.execute(sa.select(playbook_runs).where(playbook_runs.c.id == run_id)).first()
    return _record(conn, row) if row is not None else None


def list_runs(
    conn: sa.Connection,
    *,
    playbook: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[RunRecord]:
    """Runs newest first, with their steps."""
    query = sa.select(playbook_runs)
    if playbook is not None:
        query = query.where(playbook_runs.c.playbook == playbook)
    if status is not None:
        query = query.where(playbook_runs.c.status == status)
    rows = conn.execute(query.order_by(playbook_runs.c.started_at_us.desc()).limit(limit)).all()
    return [_record(conn, row) for row in rows]
