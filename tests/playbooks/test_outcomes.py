"""What an alert caused and whether it worked (issue 21): the runs its firing and resolution
started (not another alert's), each step's actions with their state, and each step's effect
measured against its control group, or plainly "not measured", in French and English."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.playbooks.conftest import START, make_engine, playbook
from tests.playbooks.test_holdouts import BOOK as HOLDOUT_BOOK
from tests.playbooks.test_holdouts import Reach
from vigie.clock import ManualClock
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.playbooks.alerts import trigger_for
from vigie.playbooks.holdouts import HoldoutBook, holdout_units
from vigie.playbooks.ledger import ActionLedger
from vigie.playbooks.outcomes import NOT_MEASURED, AlertOutcomes
from vigie.rules.alerts import Alert

BOOK = playbook(
    {
        "name": "rescue",
        "triggers": [{"rule": "r", "status": ["firing"]}],
        "steps": [
            HOLDOUT_BOOK["steps"][0],  # type: ignore[index]
            {"action": "page.flag", "params": {"page": "/checkout", "reason": "conversion fell"}},
        ],
    }
)
RECOVERED = playbook(
    {
        "name": "recovered",
        "triggers": [{"rule": "r", "status": ["resolved"]}],
        "steps": [{"action": "page.flag", "params": {"page": "/ok", "reason": "back"}}],
    }
)


def _alert(fingerprint: str, **extra: object) -> Alert:
    return Alert(
        id=f"alert-{fingerprint}",
        fingerprint=fingerprint,
        rule="r",
        status="firing",
        starts_at=START,
        fired_at=START,
        **extra,  # type: ignore[arg-type]
    )


def _outcomes(engine: sa.Engine, clock: ManualClock) -> AlertOutcomes:
    designs = [("rescue", "invite", BOOK.steps[0].holdout)]
    return AlertOutcomes(
        engine=engine,
        ledger=ActionLedger(engine=engine, clock=clock),
        holdouts=HoldoutBook(engine=engine, designs=designs),  # type: ignore[arg-type]
        clock=clock,
    )


def test_an_alert_shows_its_runs_actions_and_measured_effects(engine: sa.Engine) -> None:
    """The alert's firing run and its resolution run are listed, another alert's run is not;
    the holdout step reports this run's treated and held-out conversions, the flag step its
    open flag and "not measured"; the summary says how long the alert took to resolve."""
    clock = ManualClock(START)
    runner = make_engine(engine, [BOOK, RECOVERED], clock=clock, actions=[Reach()])
    alert = _alert("fp-a")
    other = _alert("fp-b")
    for fired in (alert, other):
        trigger = trigger_for(fired)
        assert trigger is not None
        runner.handle(trigger)
    with engine.connect() as conn:
        groups = dict(conn.execute(sa.select(holdout_units.c.unit, holdout_units.c.grp)).all())
    treated = sorted(u for u, g in groups.items() if g == "treated")
    at = START + timedelta(minutes=20)
    orders = [
        Event(message_id=f"o-{u}", type="track", source="web", event="Order Completed",
              anonymous_id=u, timestamp=at, received_at=at)
        for u in treated[:30]
    ]  # fmt: skip
    SqlEventLog(engine).append(orders)
    clock.set(START + timedelta(minutes=45))
    resolved = _alert("fp-a", ends_at=START + timedelta(minutes=45))
    resolved.status = "resolved"
    trigger = trigger_for(resolved)
    assert trigger is not None
    runner.handle(trigger)

    found = _outcomes(engine, clock).for_alert(resolved)
    assert [run.playbook for run in found.runs] == ["rescue", "recovered"]
    assert [run.trigger for run in found.runs] == ["firing", "resolved"]
    invite, flag = found.runs[0].steps
    assert invite.effect is not None and invite.actions == []
    arms = {a.variant: (a.exposed, a.converted) for a in invite.effect.this_run.verdict.arms}
    assert arms == {"treated": (len(treated), 30), "held_out": (400 - len(treated), 0)}
    assert f"30 of {len(treated)} treated" in invite.sentence["en"]
    assert f"30 sur {len(treated)} traités" in invite.sentence["fr"]
    (flagged,) = flag.actions
    assert (flagged.kind, flagged.state, flagged.step) == ("page_flag", "open", 1)
    assert (flag.effect, flag.sentence) == (None, NOT_MEASURED)
    assert (found.actions, found.open_actions, found.measured_steps) == (2, 2, 1)
    assert "the alert resolved 45 min after the first run" in found.sentence["en"]
    assert "not a measured effect" in found.sentence["en"]
    assert "s'est résolue 45 min après" in found.sentence["fr"]


def test_the_effect_over_every_run_counts_both_alerts(engine: sa.Engine) -> None:
    """A visitor is assigned once for the step: the second alert's run records nobody new, so
    its own run counts none while the step's verdict over every run counts all 400 (its
    planned sample, complete)."""
    clock = ManualClock(START)
    runner = make_engine(engine, [BOOK], clock=clock, actions=[Reach()])
    for fired in (_alert("fp-a"), _alert("fp-b")):
        trigger = trigger_for(fired)
        assert trigger is not None
        runner.handle(trigger)
    second = _outcomes(engine, clock).for_alert(_alert("fp-b"))
    effect = second.runs[0].steps[0].effect
    assert effect is not None
    assert sum(a.exposed for a in effect.this_run.verdict.arms) == 0
    assert sum(a.exposed for a in effect.all_runs.verdict.arms) == 400
    assert effect.all_runs.verdict.status == "complete"
    assert (
        "0 of 0 treated and 0 of 0 held out in this run. Over every run: Complete."
        in (effect.sentence["en"])
    )


def test_an_alert_without_runs_says_so() -> None:
    """No run: the summary says no playbook ran, in both languages."""
    from vigie.playbooks.outcomes import _summary

    assert _summary(_alert("x"), [], START) == {
        "en": "No playbook ran for this alert.",
        "fr": "Aucun playbook n'a tourné pour cette alerte.",
    }
