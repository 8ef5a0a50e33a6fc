"""Versions of tuned rules: a change to a rule's threshold is a new version (who, when, why,
what changed), audited in the same transaction, and live without a restart; restoring an
earlier version is a new version too, so the history only grows. Version 0 is the rule as
`vigie.yaml` has it.

Every process that evaluates rules (the server, a worker) calls `sync` on its timer: it
applies the versions written since it last looked, by whichever process wrote them.

A version the rules could not put in place (vigie.yaml has since given the rule another kind
or metric, or a same_slot rule asks for more days or another time zone than the history
learned since the start) is refused when it is restored or tuned (`NotApplicable`, 409),
naming the rule and why, rather than stored and then skipped while the answer said done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.auth.audit import Actor, audit_log, audit_row
from vigie.clock import Clock
from vigie.rules.definitions import Rule
from vigie.rules.triage import Invalid, clean_text
from vigie.rules.tuning import Parameter, tunable
from vigie.store.schema import Offset, metadata
from vigie.types import from_us, to_us

logger = logging.getLogger(__name__)

MAX_REASON = 2000

rule_versions = sa.Table(
    "rule_versions",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("rule", "version", name="uq_rule_versions_version"),
)


class RuleNotFound(LookupError):
    """No configured rule has that name."""


class NotApplicable(Invalid):
    """A version the rules cannot put in place as they run (HTTP 409): `reason` names the
    rule, why, and what to do instead (change vigie.yaml and restart)."""


class Change(msgspec.Struct, kw_only=True):
    field: str
    before: Any
    after: Any


class RuleVersion(msgspec.Struct, kw_only=True):
    """One version of a rule and what changed from the one before."""

    rule: str
    version: int
    actor: str
    reason: str
    at: datetime | None
    changes: list[Change]
    body: dict[str, Any]


def _body(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(rule)
    return out


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    return [
        Change(field=key, before=before.get(key), after=after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


class RuleVersions:
    """The versions of the configured rules, and the hook that makes the latest live."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        rules: Sequence[Rule],
        clock: Clock,
        apply: Callable[[Rule], None],
        check: Callable[[Rule], str | None] | None = None,
    ) -> None:
        self._engine = engine
        self._configured = {rule.name: rule for rule in rules}
        self._clock = clock
        self._apply = apply
        self._check = check
        self._seen = 0
        self._lock = threading.Lock()
        self.skipped: list[tuple[str, int, str]] = []
        """The versions `sync` could not apply: (rule, version, why)."""

    def problem(self, rule: Rule) -> str | None:
        """Why the rules could not put `rule` (a version of a configured rule) in place as
        they run, None when they can."""
        configured = self._configured[rule.name]
        if (rule.kind, rule.metric) != (configured.kind, configured.metric):
            return (
                f"rule {rule.name!r}: vigie.yaml now makes it a {configured.kind} rule on "
                f"{configured.metric!r}, this version a {rule.kind} rule on {rule.metric!r}; "
                "its kind and metric change only with vigie.yaml and a restart"
            )
        return None if self._check is None else self._check(rule)

    def rule(self, name: str) -> Rule:
        """The rule as it stands now: its latest version that went live and that the rules
        can put in place (one `sync` skipped is passed over: a tuning made on it would be
        skipped too), or vigie.yaml's (once vigie.yaml has given it another kind or metric,
        say, the stored versions no longer apply)."""
        history = self.history(name)
        dead = {version for rule, version, _ in self.skipped if rule == name}
        for version in reversed(history[1:]):
            if version.version in dead:
                continue
            stored = msgspec.convert(version.body, Rule)
            if self.problem(stored) is None:
                return stored
        return self._configured[name]

    def history(self, name: str) -> list[RuleVersion]:
        """Version 0 (vigie.yaml) then each stored version, oldest first, with its changes."""
        configured = self._configured.get(name)
        if configured is None:
            known = ", ".join(sorted(self._configured)) or "none configured"
            raise RuleNotFound(f"no rule {name!r} (rules: {known})")
        bodies = [_body(configured)]
        versions = [
            RuleVersion(
                rule=name, version=0, actor="vigie.yaml", reason="", at=None, changes=[],
                body=bodies[0],
            )
        ]  # fmt: skip
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(rule_versions)
                .where(rule_versions.c.rule == name)
                .order_by(rule_versions.c.version)
            ).all()
        for row in rows:
            body = msgspec.json.decode(row.body)
            versions.append(
                RuleVersion(
                    rule=name,
                    version=int(row.version),
                    actor=str(row.actor),
                    reason=str(row.reason),
                    at=from_us(int(row.at_us)),
                    changes=_diff(versions[-1].body, body),
                    body=body,
                )
            )
        return versions

    def tune(
        self, name: str, parameter: str, value: float, *, actor: Actor, reason: str
    ) -> RuleVersion:
        """A new version of `name` with `parameter` set to `value`, live at once."""
        current = self.rule(name)
        allowed: Parameter | None = tunable(current)
        if allowed is None:
            raise Invalid(
                "rule",
                f"{name!r} is a {current.kind} rule: only threshold and change rules are "
                "tuned here; edit vigie.yaml for the others",
            )
        if parameter != allowed:
            raise Invalid("parameter", f"{name!r} tunes {allowed!r}, not {parameter!r}")
        if not isinstance(value, int | float) or value != value or abs(value) > 1e12:
            raise Invalid("value", f"must be a finite number, got {value!r}")
        if parameter == "drop" and not 0 < value < 1:
            raise Invalid("value", "a drop is a fraction between 0 and 1, e.g. 0.4")
        if parameter == "rise" and value <= 0:
            raise Invalid("value", "a rise is a positive fraction, e.g. 0.5")
        changed = msgspec.structs.replace(current, **{parameter: float(value)})
        problem = self.problem(changed)
        if problem is not None:
            raise NotApplicable("rule", problem)
        return self._write(name, changed, actor=actor, reason=reason, action="tune")

    def restore(self, name: str, version: int, *, actor: Actor, reason: str = "") -> RuleVersion:
        """A new version equal to `version` (0 is vigie.yaml's), live at once."""
        history = self.history(name)
        found = next((v for v in history if v.version == version), None)
        if found is None:
            raise Invalid("version", f"{name!r} has versions 0 to {history[-1].version}")
        rule = msgspec.convert(found.body, Rule)
        problem = self.problem(rule)
        if problem is not None:
            raise NotApplicable("version", f"version {version} is not restored: {problem}")
        why = reason or f"restore version {version}"
        return self._write(name, rule, actor=actor, reason=why, action="restore")

    def _write(
        self, name: str, rule: Rule, *, actor: Actor, reason: str, action: str
    ) -> RuleVersion:
        why = clean_text("reason", reason, limit=MAX_REASON, required=False)
        now = self._clock.now()
        before = self.rule(name)
        # Live before it is stored, outside the transaction (the engine's lock is not waited
        # for while holding the store's): a version that cannot go live (a same_slot
        # comparison deeper than learned) is refused, not kept as a dead version.
        try:
            self._apply(rule)
        except (KeyError, TypeError):
            pass  # not evaluated here: `sync` logs it, as for another process's version
        except ValueError as exc:
            raise NotApplicable("version" if action == "restore" else "rule", str(exc)) from exc
        try:
            self._store(name, rule, actor=actor, why=why, action=action, now=now)
        except BaseException:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                self._apply(before)  # not stored: the rule as it was stays live
            raise
        self.sync()
        return self.history(name)[-1]

    def _store(
        self, name: str, rule: Rule, *, actor: Actor, why: str, action: str, now: datetime
    ) -> None:
        """Write `rule` as the next version of `name`, audited in the same transaction."""
        with self._engine.begin() as conn:
            last = conn.execute(
                sa.select(sa.func.max(rule_versions.c.version)).where(rule_versions.c.rule == name)
            ).scalar()
            version = int(last or 0) + 1
            conn.execute(
                rule_versions.insert().values(
                    rule=name, version=version, body=msgspec.json.encode(_body(rule)).decode(),
                    actor=actor.name, reason=why, at_us=to_us(now),
                )
            )  # fmt: skip
            conn.execute(
                audit_log.insert().values(
                    **audit_row(
                        actor=actor, action=action, entity="rule", entity_id=name, at=now,
                        details={"version": version, "reason": why},
                    )
                )
            )  # fmt: skip

    def sync(self) -> int:
        """Make the versions written since the last call live (in order); returns how many."""
        with self._lock:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    sa.select(rule_versions)
                    .where(rule_versions.c.id > self._seen)
                    .order_by(rule_versions.c.id)
                ).all()
            for row in rows:
                if row.rule in self._configured:
                    self._apply_row(row)
                self._seen = max(self._seen, int(row.id))
            return len(rows)

    def _apply_row(self, row: Any) -> None:
        """Make one stored version live; one that no longer fits the rule as vigie.yaml now
        defines it (its kind or metric changed) is skipped and logged, so that it does not
        stop the rules from starting, nor hold back the versions after it."""
        try:
            self._apply(msgspec.convert(msgspec.json.decode(row.body), Rule))
        except (KeyError, ValueError, TypeError, msgspec.ValidationError) as exc:
            self.skipped.append((str(row.rule), int(row.version), str(exc)))
            logger.warning(
                "rule %r: version %d is not applied (%s); restore a version or tune it again",
                row.rule,
                row.version,
                exc,
            )
