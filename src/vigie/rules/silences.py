"""Silences in Alertmanager's shape: label matchers and a time range during which the
alerts they match notify nobody and run no playbook, yet are still recorded and shown.

The matchers and their meaning are Alertmanager API v2's: `name`, `value`, `isRegex`
(an anchored regular expression) and `isEqual` (false negates); a missing label matches as
the empty string; an alert's labels include `alertname` (its rule) and `severity`. Like
Alertmanager, a silence must have a matcher that the empty string does not satisfy, so that
one silence cannot mute everything by mistake. Deleting a silence expires it.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.clock import Clock
from vigie.rules.alerts import Alert, AlertListener
from vigie.rules.triage import Invalid, clean_text
from vigie.store.schema import metadata
from vigie.types import from_us, to_us

SilenceState = Literal["pending", "active", "expired"]
MAX_MATCHERS = 20
MAX_NAME = 200
MAX_VALUE = 1000
MAX_COMMENT = 2000
REFRESH_SECONDS = 5.0
"""How often a process re-reads the silences another process (a worker, the CLI) wrote."""

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("starts_at_us", sa.BigInteger, nullable=False),
    sa.Column("ends_at_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("updated_at_us", sa.BigInteger, nullable=False),
)
sa.Index("ix_silences_ends_at_us", silences.c.ends_at_us)


class Matcher(msgspec.Struct, kw_only=True, rename="camel"):
    """One label condition of a silence (`isEqual: false` negates it)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether the alert labels `labels` satisfy this condition."""
        value = labels.get(self.name, "")
        hit = (
            _compiled(self.value).fullmatch(value) is not None
            if self.is_regex
            else value == self.value
        )
        return hit == self.is_equal


class SilenceStatus(msgspec.Struct, kw_only=True):
    """Alertmanager's `status` object."""

    state: SilenceState


class Silence(msgspec.Struct, kw_only=True, rename="camel"):
    """A stored silence, as `GET /api/silences` shows it (Alertmanager's GettableSilence)."""

    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime
    status: SilenceStatus

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether every matcher holds for `labels`."""
        return all(m.matches(labels) for m in self.matchers)

    def state_at(self, now: datetime) -> SilenceState:
        """Pending before its start, active until its end, expired after."""
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"


class SilenceDraft(msgspec.Struct, kw_only=True):
    """What a person asks for (Alertmanager's PostableSilence without `createdBy`, which is
    the signed-in user); `starts_at` defaults to now."""

    matchers: list[Matcher]
    ends_at: datetime
    starts_at: datetime | None = None
    comment: str = ""


class SilenceNotFound(LookupError):
    """No silence has that id."""


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        if len(_REGEX_CACHE) > 1000:
            _REGEX_CACHE.clear()
        found = _REGEX_CACHE[pattern] = re.compile(pattern)
    return found


def alert_labels(alert: Alert) -> dict[str, str]:
    """The labels silences match an alert on: its own, `alertname` and `severity`."""
    return {"severity": alert.severity, **alert.labels, "alertname": alert.rule}


def validate(draft: SilenceDraft, *, now: datetime) -> SilenceDraft:
    """`draft` with its texts cleaned and its start set, or `Invalid` naming the field."""
    if not draft.matchers:
        raise Invalid("matchers", "give at least one matcher, e.g. alertname=RULE")
    if len(draft.matchers) > MAX_MATCHERS:
        raise Invalid("matchers", f"at most {MAX_MATCHERS} matchers are allowed")
    cleaned = []
    for index, matcher in enumerate(draft.matchers):
        where = f"matchers[{index}]"
        name = clean_text(f"{where}.name", matcher.name, limit=MAX_NAME)
        if "\x00" in matcher.value:
            raise Invalid(f"{where}.value", "must not contain NUL characters")
        if len(matcher.value) > MAX_VALUE:
            raise Invalid(f"{where}.value", f"at most {MAX_VALUE} characters are allowed")
        if matcher.is_regex:
            try:
                _compiled(matcher.value)
            except (re.error, RecursionError, OverflowError) as exc:
                raise Invalid(f"{where}.value", f"not a valid regular expression: {exc}") from None
        cleaned.append(
            Matcher(
                name=name, value=matcher.value, is_regex=matcher.is_regex, is_equal=matcher.is_equal
            )
        )
    if all(m.matches({}) for m in cleaned):
        raise Invalid(
            "matchers",
            "every matcher matches an empty label, so this silence would mute every alert; "
            "name at least one label value, e.g. alertname=RULE",
        )
    starts_at = draft.starts_at or now
    if draft.ends_at.tzinfo is None or starts_at.tzinfo is None:
        raise Invalid("endsAt", "give a time zone, e.g. 2030-01-01T08:00:00Z")
    if draft.ends_at <= starts_at:
        raise Invalid("endsAt", "must be after startsAt")
    if draft.ends_at <= now:
        raise Invalid("endsAt", "is in the past; a silence must end in the future")
    comment = clean_text("comment", draft.comment, limit=MAX_COMMENT, required=False)
    return SilenceDraft(
        matchers=cleaned, starts_at=starts_at, ends_at=draft.ends_at, comment=comment
    )


def _silence(row: sa.Row[tuple[object, ...]], now: datetime) -> Silence:
    silence = Silence(
        id=str(row.id),
        matchers=msgspec.json.decode(str(row.matchers), type=list[Matcher]),
        starts_at=from_us(int(row.starts_at_us)),
        ends_at=from_us(int(row.ends_at_us)),
        created_by=str(row.created_by),
        comment=str(row.comment),
        updated_at=from_us(int(row.updated_at_us)),
        status=SilenceStatus(state="active"),
    )
    silence.status = SilenceStatus(state=silence.state_at(now))
    return silence


class Silences:
    """Creates, lists and expires silences (audited), and tells which silence an alert is under.

    The silences not yet expired are kept in memory, read again after every change made
    here and every few seconds, so that asking costs no query on the alert path.
    """

    def __init__(self, *, engine: sa.Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._current: list[Silence] = []
        self._read_at: float | None = None

    def create(self, draft: SilenceDraft, *, actor: Actor) -> Silence:
        """Store a new silence from `actor`; `Invalid` names what is wrong."""
        now = self._clock.now()
        checked = validate(draft, now=now)
        assert checked.starts_at is not None
        silence_id = str(uuid.uuid4())
        matchers = msgspec.json.encode(checked.matchers).decode()
        with self._engine.begin() as conn:
            conn.execute(
                silences.insert().values(
                    id=silence_id,
                    matchers=matchers,
                    starts_at_us=to_us(checked.starts_at),
                    ends_at_us=to_us(checked.ends_at),
                    created_by=actor.name,
                    comment=checked.comment,
                    updated_at_us=to_us(now),
                )
            )
            details = {
                "matchers": msgspec.to_builtins(checked.matchers),
                "startsAt": checked.starts_at.isoformat(),
                "endsAt": checked.ends_at.isoformat(),
                "comment": checked.comment,
            }
            conn.execute(
                audit_log.insert().values(
                    **audit_row(
                        actor=actor,
                        action="silence.create",
                        entity="silences",
                        entity_id=silence_id,
                        at=now,
                        details=details,
                    )
                )
            )
        self._refresh()
        return self.get(silence_id)

    def expire(self, silence_id: str, *, actor: Actor) -> Silence:
        """End a silence now (what deleting it means in Alertmanager); audited."""
        silence = self.get(silence_id)
        now = self._clock.now()
        if silence.status.state != "expired":
            ends = max(now, silence.starts_at)
            with self._engine.begin() as conn:
                conn.execute(
                    silences.update()
                    .where(silences.c.id == silence.id)
                    .values(ends_at_us=to_us(ends), updated_at_us=to_us(now))
                )
                conn.execute(
                    audit_log.insert().values(
                        **audit_row(
                            actor=actor,
                            action="silence.expire",
                            entity="silences",
                            entity_id=silence.id,
                            at=now,
                            details={"was": silence.status.state},
                        )
                    )
                )
            self._refresh()
        return self.get(silence_id)

    def get(self, silence_id: str) -> Silence:
        """The silence with id `silence_id`, or `SilenceNotFound`."""
        if len(silence_id) > 36 or "\x00" in silence_id:
            raise SilenceNotFound(f"no silence {silence_id[:40]!r}")
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()
        if row is None:
            raise SilenceNotFound(f"no silence {silence_id!r}; GET /api/silences lists them")
        return _silence(row, self._clock.now())

    def silencing(self, alert: Alert) -> list[str]:
        """The ids of the silences muting `alert` now (none: it notifies as usual)."""
        now = self._clock.now()
        labels = alert_labels(alert)
        current = self._unexpired()
        return [s.id for s in current if s.state_at(now) == "active" and s.matches(labels)]

    def _unexpired(self) -> Sequence[Silence]:
        if self._read_at is None or time.monotonic() - self._read_at > REFRESH_SECONDS:
            self._refresh()
        return self._current

    def _refresh(self) -> None:
        now = self._clock.now()
        query = sa.select(silences).where(silences.c.ends_at_us > to_us(now))
        with self._engine.connect() as conn:
            current = [_silence(row, now) for row in conn.execute(query)]
        with self._lock:
            self._current, self._read_at = current, time.monotonic()

    def list(self, *, state: SilenceState | None = None, limit: int = 200) -> list[Silence]:
        """Silences, those ending last first; only those in `state` when given."""
        now = self._clock.now()
        query = sa.select(silences).order_by(silences.c.ends_at_us.desc(), silences.c.id)
        if state in ("pending", "active"):
            query = query.where(silences.c.ends_at_us > to_us(now))
        elif state == "expired":
            query = query.where(silences.c.ends_at_us <= to_us(now))
        with self._engine.connect() as conn:
            found = [_silence(row, now) for row in conn.execute(query.limit(limit * 2))]
        return [s for s in found if state is None or s.status.state == state][:limit]


class Silenced:
    """An alert listener that passes a change on to `listener` unless a silence mutes the
    alert: how silences keep playbooks, notifications and webhooks quiet while the alert
    itself is still recorded (the store and the live feed are not behind this gate)."""

    def __init__(self, listener: AlertListener, silences: Silences) -> None:
        self.listener = listener
        self.silences = silences
        self.suppressed = 0

    def alert_changed(self, alert: Alert) -> None:
        if self.silences.silencing(alert):
            self.suppressed += 1
            return
        self.listener.alert_changed(alert)
