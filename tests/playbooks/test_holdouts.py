"""Control groups built into actions (issue 21): a step with `holdout:` leaves a stable,
recorded share of its units alone, and the step's effect is measured between the groups from
the event log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa

from tests.playbooks.conftest import START, firing, make_engine, playbook
from vigie.clock import ManualClock
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.playbooks.actions.base import ActionContext
from vigie.playbooks.holdouts import HoldoutBook, holdout_units

VISITORS = [f"visitor-{i}" for i in range(400)]


class ReachParams(msgspec.Struct, kw_only=True):
    """Who a test action would reach."""

    units: list[str]


class Reach:
    """A plugin action that acts on a list of units, as `chat.invite` does on visitors."""

    name: ClassVar[str] = "test.reach"
    params_type: ClassVar[type[msgspec.Struct]] = ReachParams

    def run(self, params: ReachParams, context: ActionContext) -> dict[str, Any]:
        return {"reached": context.port.split(params.units)}


BOOK = {
    "name": "rescue",
    "triggers": [{"rule": "r"}],
    "steps": [
        {
            "name": "invite",
            "action": "test.reach",
            "params": {"units": VISITORS},
            "holdout": {"share": 0.2, "metric": "Order Completed", "horizon": "2h",
                        "baseline": 0.1, "mde": 0.3},
        }
    ],
}  # fmt: skip


def _groups(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(holdout_units.c.unit, holdout_units.c.grp)).all())


def test_the_holdout_is_left_alone_recorded_and_stable(engine: sa.Engine) -> None:
    """About 20 % of the 400 visitors are held out and not reached; a second run of another
    alert, and an engine rebuilt as after a restart, put every visitor in the same group."""
    clock = ManualClock(START)
    runner = make_engine(engine, [playbook(BOOK)], clock=clock, actions=[Reach()])
    (run,) = runner.handle(firing(rule="r", fingerprint="a"))
    reached = run.steps[0].result["reached"]
    groups = _groups(engine)
    held = {u for u, g in groups.items() if g == "held_out"}
    assert len(groups) == 400 and 50 <= len(held) <= 110
    assert set(reached) == set(VISITORS) - held
    again = make_engine(engine, [playbook(BOOK)], clock=clock, actions=[Reach()])
    (second,) = again.handle(firing(rule="r", fingerprint="b"))
    assert set(second.steps[0].result["reached"]) == set(reached)
    assert _groups(engine) == groups


def test_the_effect_is_measured_between_the_groups(engine: sa.Engine) -> None:
    """Orders within two hours: 60 % of the treated, 10 % of the held out, and orders after
    the horizon ignored; the verdict says the step raised conversion, with its interval."""
    clock = ManualClock(START)
    runner = make_engine(engine, [playbook(BOOK)], clock=clock, actions=[Reach()])
    runner.handle(firing(rule="r"))
    groups = _groups(engine)
    orders = []
    for n, (unit, group) in enumerate(sorted(groups.items())):
        share = 0.6 if group == "treated" else 0.1
        if (n * 7919 % 100) / 100 < share:
            at = START + timedelta(minutes=30)
            orders.append(Event(message_id=f"o{n}", type="track", source="web",
                                event="Order Completed", anonymous_id=unit,
                                timestamp=at, received_at=at))  # fmt: skip
        late = START + timedelta(hours=5)
        orders.append(Event(message_id=f"late{n}", type="track", source="web",
                            event="Order Completed", anonymous_id=unit,
                            timestamp=late, received_at=late))  # fmt: skip
    SqlEventLog(engine).append(orders)
    book = HoldoutBook(
        engine=engine, designs=[("rescue", "invite", playbook(BOOK).steps[0].holdout)]
    )  # type: ignore[list-item]
    (report,) = book.reports()
    held, treated = report.verdict.arms
    assert (held.variant, treated.variant) == ("held_out", "treated")
    assert held.exposed + treated.exposed == 400
    assert treated.converted / treated.exposed > 0.45 > 0.25 > held.converted / held.exposed
    assert report.verdict.status == "complete"
    (comparison,) = report.verdict.comparisons
    assert comparison.significant and comparison.low > 0.2
    assert "raised Order Completed conversion" in comparison.sentence["en"]


def test_a_bad_holdout_is_refused_by_the_configuration_check() -> None:
    """A share of 1.5 and an unreadable horizon are named with their key path."""
    from vigie.playbooks.actions.base import ActionSettings
    from vigie.playbooks.validation import check
    from vigie.schedule import ScheduleConfig

    bad = dict(
        BOOK,
        steps=[dict(BOOK["steps"][0], holdout={"share": 1.5, "metric": "x", "horizon": "soon"})],
    )  # type: ignore[index]
    problems = check([playbook(bad)], ActionSettings(), ScheduleConfig(), actions=["test.reach"])
    keys = [".".join(str(p) for p in path) for path, _ in problems]
    assert "playbooks.0.steps.0.holdout.share" in keys
    assert "playbooks.0.steps.0.holdout.horizon" in keys
