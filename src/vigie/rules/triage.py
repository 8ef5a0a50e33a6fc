"""What people do with an alert: acknowledge it, assign it, annotate it, and say whether it
was useful or a false alarm (the review loop, and each rule's precision).

Every action is one row of `alert_actions` and one line of the audit trail, written in the
same transaction; an alert's current handling is folded from its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.clock import Clock
from vigie.rules.store import AlertStore
from vigie.schedule import ScheduleConfig
from vigie.store.schema import Offset, metadata
from vigie.types import from_us, to_us

ActionKind = Literal["ack", "assign", "note", "feedback"]
Verdict = Literal["useful", "false_alarm"]
VERDICTS: tuple[Verdict, ...] = ("useful", "false_alarm")
MAX_NOTE = 4000
MAX_NAME = 200

alert_actions = sa.Table(
    "alert_actions",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
)
sa.Index("ix_alert_actions_alert", alert_actions.c.alert_id)
sa.Index("ix_alert_actions_rule", alert_actions.c.rule, alert_actions.c.kind)


class AlertNotFound(LookupError):
    """No alert has that id."""


class Invalid(ValueError):
    """An input people gave is refused: `field` names it, `reason` says why and what to do."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Note(msgspec.Struct, kw_only=True):
    """A remark someone left on an alert."""

    by: str
    at: datetime
    text: str


class Handling(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where people are with one alert: who acknowledged it and when, who it is assigned
    to, their notes, and their verdict."""

    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    assignee: str | None = None
    assigned_by: str | None = None
    assigned_at: datetime | None = None
    notes: list[Note] = []
    feedback: Verdict | None = None
    feedback_by: str | None = None
    feedback_at: datetime | None = None


class RulePrecision(msgspec.Struct, kw_only=True):
    """People's verdicts on a rule's alerts: `precision` is useful / (useful + false alarms),
    None until someone gave one."""

    useful: int = 0
    false_alarm: int = 0
    precision: float | None = None


def clean_text(field: str, value: str, *, limit: int, required: bool = True) -> str:
    """`value` stripped, or `Invalid` naming `field` when empty, too long or holding NUL."""
    text = value.strip()
    if "\x00" in text:
        raise Invalid(field, "must not contain NUL characters")
    if len(text) > limit:
        raise Invalid(field, f"is {len(text)} characters long; at most {limit} are allowed")
    if required and not text:
        raise Invalid(field, "must not be empty")
    return text


def fold(rows: Iterable[sa.Row[tuple[object, ...]]]) -> Handling:
    """The handling of one alert from its action rows, oldest first."""
    handling = Handling()
    for row in rows:
        at = from_us(int(row.at_us))
        actor, value = str(row.actor), str(row.value)
        if row.kind == "ack" and handling.acknowledged_by is None:
            handling.acknowledged_by, handling.acknowledged_at = actor, at
        elif row.kind == "assign":
            handling.assignee, handling.assigned_by, handling.assigned_at = value, actor, at
        elif row.kind == "note":
            handling.notes = [*handling.notes, Note(by=actor, at=at, text=value)]
        elif row.kind == "feedback" and value in VERDICTS:
            handling.feedback, handling.feedback_by, handling.feedback_at = (
                value,
                actor,
                at,
            )
    return handling


class AlertTriage:
    """Acknowledgements, assignments, notes and verdicts on alerts, audited."""

    def __init__(
        self, *, engine: sa.Engine, alerts: AlertStore, schedule: ScheduleConfig, clock: Clock
    ) -> None:
        self._engine = engine
        self._alerts = alerts
        self._schedule = schedule
        self._clock = clock

    def acknowledge(self, alert_id: str, *, actor: Actor) -> Handling:
        """Record that `actor` has seen the alert and is on it (the first one counts)."""
        if self.handling([alert_id]).get(alert_id, Handling()).acknowledged_by is not None:
            self._rule_of(alert_id)
            return self.handling([alert_id])[alert_id]
        return self._act(alert_id, "ack", "", actor=actor)

    def assign(self, alert_id: str, assignee: str, *, actor: Actor) -> Handling:
        """Give the alert to a person or a team of the schedule."""
        name = clean_text("assignee", assignee, limit=MAX_NAME)
        if self._schedule.person(name) is None and self._schedule.team(name) is None:
            known = [p.name for p in self._schedule.people] + [t.name for t in self._schedule.teams]
            listed = ", ".join(known[:20]) or "none configured"
            raise Invalid(
                "assignee", f"{name!r} is neither a person nor a team of schedule: ({listed})"
            )
        return self._act(alert_id, "assign", name, actor=actor)

    def note(self, alert_id: str, text: str, *, actor: Actor) -> Handling:
        """Add a remark to the alert."""
        return self._act(alert_id, "note", clean_text("text", text, limit=MAX_NOTE), actor=actor)

    def feedback(self, alert_id: str, verdict: str, *, actor: Actor) -> Handling:
        """Say the alert was useful or a false alarm; a later verdict replaces an earlier one."""
        if verdict not in VERDICTS:
            raise Invalid("verdict", f"must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        return self._act(alert_id, "feedback", verdict, actor=actor)

    def handling(self, alert_ids: Sequence[str]) -> dict[str, Handling]:
        """The handling of each alert of `alert_ids` that people have acted on."""
        if not alert_ids:
            return {}
        query = (
            sa.select(alert_actions)
            .where(alert_actions.c.alert_id.in_(list(dict.fromkeys(alert_ids))))
            .order_by(alert_actions.c.id)
        )
        grouped: dict[str, list[sa.Row[tuple[object, ...]]]] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                grouped.setdefault(str(row.alert_id), []).append(row)
        return {alert_id: fold(rows) for alert_id, rows in grouped.items()}

    def precision(self) -> dict[str, RulePrecision]:
        """Per rule, how many of its alerts people found useful or a false alarm (each
        alert's latest verdict)."""
        latest = (
            sa.select(sa.func.max(alert_actions.c.id))
            .where(alert_actions.c.kind == "feedback")
            .group_by(alert_actions.c.alert_id)
        )
        query = (
            sa.select(alert_actions.c.rule, alert_actions.c.value, sa.func.count())
            .where(alert_actions.c.id.in_(latest))
            .group_by(alert_actions.c.rule, alert_actions.c.value)
        )
        out: dict[str, RulePrecision] = {}
        with self._engine.connect() as conn:
            for rule, verdict, count in conn.execute(query):
                figures = out.setdefault(str(rule), RulePrecision())
                if verdict == "useful":
                    figures.useful = int(count)
                elif verdict == "false_alarm":
                    figures.false_alarm = int(count)
        for figures in out.values():
            given = figures.useful + figures.false_alarm
            figures.precision = figures.useful / given if given else None
        return out

    def _rule_of(self, alert_id: str) -> str:
        if len(alert_id) > 64 or "\x00" in alert_id:
            raise AlertNotFound(f"no alert {alert_id[:80]!r}")
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id!r}; GET /api/alerts lists them")
        return alert.rule

    def _act(self, alert_id: str, kind: ActionKind, value: str, *, actor: Actor) -> Handling:
        rule = self._rule_of(alert_id)
        now = self._clock.now()
        details = {"rule": rule} | ({kind if kind != "note" else "text": value} if value else {})
        with self._engine.begin() as conn:
            conn.execute(
                alert_actions.insert().values(
                    alert_id=alert_id,
                    rule=rule,
                    kind=kind,
                    actor=actor.name,
                    at_us=to_us(now),
                    value=value,
                )
            )
            conn.execute(
                audit_log.insert().values(
                    **audit_row(
                        actor=actor,
                        action=f"alert.{kind}",
                        entity="alerts",
                        entity_id=alert_id,
                        at=now,
                        details=details,
                    )
                )
            )
        return self.handling([alert_id])[alert_id]
