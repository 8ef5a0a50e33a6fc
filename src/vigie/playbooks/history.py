"""What the playbooks did, as the edges read it: runs with their steps, and the chat
invitations waiting for a visitor."""

from __future__ import annotations

import sqlalchemy as sa

from vigie.clock import Clock
from vigie.playbooks import runs
from vigie.playbooks.outputs import Invitation, pending_for
from vigie.playbooks.runs import RunRecord


class PlaybookHistory:
    """Reads the playbooks' records in the store."""

    def __init__(self, *, engine: sa.Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def runs(
        self, *, playbook: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Playbook runs, newest first, each with its steps."""
        with self._engine.connect() as conn:
            return runs.list_runs(conn, playbook=playbook, status=status, limit=limit)

    def run(self, run_id: str) -> RunRecord | None:
        """One run with its steps, if there is one with this id."""
        with self._engine.connect() as conn:
            return runs.get_run(conn, run_id=run_id)

    def invitations_for(self, anonymous_id: str) -> list[Invitation]:
        """The chat invitations for a visitor that have not expired, newest first."""
        return pending_for(self._engine, anonymous_id=anonymous_id, now=self._clock.now())
