"""Alerts kept in the SQL store, so that active alerts and their history survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigie.rules.alerts import Alert
from vigie.store.schema import metadata
from vigie.types import to_us

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("starts_at_us", sa.BigInteger, nullable=False),
    sa.Column("ends_at_us", sa.BigInteger),
    sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)
sa.Index("ix_alerts_status", alerts.c.status)
sa.Index("ix_alerts_starts_at_us", alerts.c.starts_at_us)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Alert)


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


class AlertStore:
    """Reads and writes alerts; each alert (one pending->resolved life) is one row."""

    def __init__(self, engine: sa.Engine, *, on_saved: Callable[[], None] | None = None) -> None:
        """`on_saved` is called after each save has committed (a worker process nudges the
        server, whose alert stream then relays what it reads back)."""
        self.engine = engine
        self.on_saved = on_saved
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def save(self, changed: list[Alert]) -> None:
        """Insert or update the rows of `changed` in one transaction."""
        if not changed:
            return
        rows: list[dict[str, Any]] = [
            {
                "id": a.id,
                "fingerprint": a.fingerprint,
                "rule": a.rule,
                "status": a.status,
                "severity": a.severity,
                "starts_at_us": _us(a.starts_at),
                "ends_at_us": _us(a.ends_at),
                "updated_at_us": _us(a.updated_at or a.starts_at),
                "body": _encoder.encode(a),
            }
            for a in changed
        ]
        statement = self._insert(alerts)
        statement = statement.on_conflict_do_update(
            index_elements=[alerts.c.id],
            set_={
                c: statement.excluded[c]
                for c in ("status", "severity", "ends_at_us", "updated_at_us", "body")
            },
        )
        with self.engine.begin() as conn:
            for row in rows:
                conn.execute(statement, row)
        if self.on_saved is not None:
            self.on_saved()

    def changed_since(self, after_us: int, *, limit: int = 500) -> list[tuple[Alert, int]]:
        """Alerts saved with an update time at or after `after_us`, oldest change first,
        each with that time (for a node that follows the alerts another process fires)."""
        query = (
            sa.select(alerts.c.body, alerts.c.updated_at_us)
            .where(alerts.c.updated_at_us >= after_us)
            .order_by(alerts.c.updated_at_us, alerts.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(_decoder.decode(bytes(body)), int(at)) for body, at in conn.execute(query)]

    def last_change_us(self) -> int:
        """The newest update time of any alert (0 when there is none)."""
        with self.engine.connect() as conn:
            latest = conn.execute(sa.select(sa.func.max(alerts.c.updated_at_us))).scalar()
        return int(latest or 0)

    def active(self) -> list[Alert]:
        """Alerts pending or firing, as they were last saved."""
        query = sa.select(alerts.c.body).where(alerts.c.status != "resolved")
        with self.engine.connect() as conn:
            return [_decoder.decode(bytes(body)) for (body,) in conn.execute(query)]

    def get(self, alert_id: str) -> Alert | None:
        """The alert with id `alert_id`, as last saved."""
        query = sa.select(alerts.c.body).where(alerts.c.id == alert_id)
        with self.engine.connect() as conn:
            body = conn.execute(query).scalar()
        return None if body is None else _decoder.decode(bytes(body))

    def life_at(self, fingerprint: str, moment: datetime) -> Alert | None:
        """The alert of `fingerprint` that had started by `moment` (its latest life then)."""
        query = (
            sa.select(alerts.c.body)
            .where(alerts.c.fingerprint == fingerprint, alerts.c.starts_at_us <= to_us(moment))
            .order_by(alerts.c.starts_at_us.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            body = conn.execute(query).scalar()
        return None if body is None else _decoder.decode(bytes(body))

    def list(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts newest first, optionally of one status or rule, started after `since`."""
        query = sa.select(alerts.c.body)
        if status is not None:
            query = query.where(alerts.c.status == status)
        if rule is not None:
            query = query.where(alerts.c.rule == rule)
        if since is not None:
            query = query.where(alerts.c.starts_at_us >= _us(since))
        query = query.order_by(alerts.c.updated_at_us.desc(), alerts.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_decoder.decode(bytes(body)) for (body,) in conn.execute(query)]
