"""What an alert caused and whether it worked: the playbook runs its firing (and its
resolution) started, each step's actions with their state, and each step's measured effect
where one can be measured, in French and English.

An effect is measured only against a control group (a step's `holdout:`): the step's units
in this run, and over every run of the step, with the experiments' verdict (no p-value
before the planned sample). A step without one says so plainly rather than passing a
before/after for an effect; the alert's own course after the first action is given as a
fact, not as the action's effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.playbooks import runs
from vigie.playbooks.holdouts import HoldoutBook, HoldoutReport
from vigie.playbooks.ledger import ActionLedger, ActionRecord
from vigie.playbooks.trigger import PlaybookTrigger
from vigie.rules.alerts import Alert

NOT_MEASURED = {
    "en": "Not measured: this step has no control group (declare `holdout:` on it to measure "
    "its effect).",
    "fr": "Non mesuré : cette étape n'a pas de groupe témoin (déclarez-lui un `holdout:` "
    "pour mesurer son effet).",
}


class Effect(msgspec.Struct, kw_only=True):
    """A step's measured effect: in this run, and over every run of the step."""

    metric: str
    this_run: HoldoutReport
    all_runs: HoldoutReport
    sentence: dict[str, str]


class StepOutcome(msgspec.Struct, kw_only=True):
    """One step of a run: what it did, the actions it left, and its effect if measured."""

    index: int
    name: str
    action: str
    status: str
    error: str | None
    actions: list[ActionRecord]
    effect: Effect | None
    sentence: dict[str, str]


class RunOutcome(msgspec.Struct, kw_only=True):
    """One playbook run the alert started, step by step."""

    id: str
    playbook: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    steps: list[StepOutcome]


class AlertOutcome(msgspec.Struct, kw_only=True):
    """Everything an alert caused, and a plain summary in both languages."""

    alert: str
    fingerprint: str
    runs: list[RunOutcome]
    actions: int
    open_actions: int
    measured_steps: int
    sentence: dict[str, str]


def _minutes(seconds: float, lang: str) -> str:
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    text = f"{hours:.1f}".replace(".", ",") if lang == "fr" else f"{hours:.1f}"
    return f"{text} h"


def _summary(alert: Alert, outcomes: Sequence[RunOutcome], now: datetime) -> dict[str, str]:
    actions = [a for run in outcomes for step in run.steps for a in step.actions]
    measured = sum(1 for run in outcomes for step in run.steps if step.effect is not None)
    if not outcomes:
        return {
            "en": "No playbook ran for this alert.",
            "fr": "Aucun playbook n'a tourné pour cette alerte.",
        }
    first = min(run.started_at for run in outcomes)
    en = f"{len(outcomes)} playbook run(s), {len(actions)} action(s)"
    fr = f"{len(outcomes)} exécution(s) de playbook, {len(actions)} action(s)"
    still = sum(1 for a in actions if a.state == "open")
    if still:
        en += f" ({still} open)"
        fr += f" ({still} ouverte(s))"
    if alert.status == "resolved" and alert.ends_at is not None:
        gap = (alert.ends_at - first).total_seconds()
        en += f"; the alert resolved {_minutes(gap, 'en')} after the first run"
        fr += f" ; l'alerte s'est résolue {_minutes(gap, 'fr')} après la première exécution"
    else:
        gap = (now - first).total_seconds()
        en += f"; the alert is still {alert.status} {_minutes(gap, 'en')} after the first run"
        fr += f" ; l'alerte est toujours active {_minutes(gap, 'fr')} après la première exécution"
    en += " (a course of events, not a measured effect)"
    fr += " (un constat, pas un effet mesuré)"
    en += f". {measured} step(s) measured against a control group."
    fr += f". {measured} étape(s) mesurée(s) contre un groupe témoin."
    return {"en": en, "fr": fr}


class AlertOutcomes:
    """Reads what each alert caused from the runs, the action ledger and the control groups."""

    def __init__(
        self, *, engine: sa.Engine, ledger: ActionLedger, holdouts: HoldoutBook, clock: Clock
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._holdouts = holdouts
        self._clock = clock

    def for_alert(self, alert: Alert) -> AlertOutcome:
        """The runs `alert`'s firing and resolution started, their actions and effects."""
        outcomes = [self._run(run) for run in self.runs_of(alert)]
        actions = [a for run in outcomes for step in run.steps for a in step.actions]
        return AlertOutcome(
            alert=alert.id,
            fingerprint=alert.fingerprint,
            runs=outcomes,
            actions=len(actions),
            open_actions=sum(1 for a in actions if a.state == "open"),
            measured_steps=sum(1 for r in outcomes for s in r.steps if s.effect is not None),
            sentence=_summary(alert, outcomes, self._clock.now()),
        )

    def runs_of(self, alert: Alert) -> list[runs.RunRecord]:
        """Runs whose trigger is this life of the alert: its fingerprint, started when it
        fired or when it resolved (a run key reads `playbook/rule/fingerprint/status/at`)."""
        moments = {m for m in (alert.fired_at or alert.starts_at, alert.ends_at) if m}
        table = runs.playbook_runs
        pattern = f"%/{_escape(alert.rule)}/{_escape(alert.fingerprint)}/%"
        with self._engine.connect() as conn:
            ids = conn.execute(
                sa.select(table.c.id)
                .where(table.c.key.like(pattern, escape="\\"))
                .order_by(table.c.started_at_us)
            ).scalars()
            found = [r for i in ids if (r := runs.get_run(conn, run_id=i)) is not None]
        return [r for r in found if _trigger_at(r.trigger) in moments]

    def _run(self, run: runs.RunRecord) -> RunOutcome:
        actions = self._ledger.list(run_id=run.id, limit=1000)
        trigger = run.trigger if isinstance(run.trigger, dict) else {}
        steps = []
        for step in run.steps:
            effect = self._effect(run.playbook, step.name, run.id)
            steps.append(
                StepOutcome(
                    index=step.index,
                    name=step.name,
                    action=step.action,
                    status=step.status,
                    error=step.error,
                    actions=[a for a in actions if a.step == step.index],
                    effect=effect,
                    sentence=effect.sentence if effect is not None else NOT_MEASURED,
                )
            )
        return RunOutcome(
            id=run.id,
            playbook=run.playbook,
            status=run.status,
            trigger=str(trigger.get("status", "")),
            started_at=run.started_at,
            finished_at=run.finished_at,
            steps=steps,
        )

    def _effect(self, playbook: str, step: str, run_id: str) -> Effect | None:
        this_run = self._holdouts.report(playbook, step, run_id=run_id)
        all_runs = self._holdouts.report(playbook, step)
        if this_run is None or all_runs is None:
            return None
        treated = next(a for a in this_run.verdict.arms if a.variant == "treated")
        held = next(a for a in this_run.verdict.arms if a.variant == "held_out")
        metric = this_run.holdout.metric
        return Effect(
            metric=metric,
            this_run=this_run,
            all_runs=all_runs,
            sentence={
                "en": f"{metric}: {treated.converted} of {treated.exposed} treated and "
                f"{held.converted} of {held.exposed} held out in this run. Over every run: "
                + all_runs.verdict.sentence["en"],
                "fr": f"{metric} : {treated.converted} sur {treated.exposed} traités et "
                f"{held.converted} sur {held.exposed} témoins dans cette exécution. Sur "
                "toutes les exécutions : " + all_runs.verdict.sentence["fr"],
            },
        )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _trigger_at(trigger: Any) -> datetime | None:
    try:
        return msgspec.convert(trigger, PlaybookTrigger).at
    except msgspec.ValidationError:
        return None
