"""A plugin's action, written as a third party would, does its work through the port alone
and does it once per step, even when the step is run again after a crash."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest
import sqlalchemy as sa

from tests.playbooks.conftest import Crash, firing, make_engine, playbook
from vigie.playbooks.actions.base import ActionContext
from vigie.playbooks.actions.port import PageFlag, Task
from vigie.playbooks.runs import list_runs
from vigie.schedule import Person, ScheduleConfig, Team


class EscalateParams(msgspec.Struct, kw_only=True):
    """Which team to escalate to, about which page."""

    team: str
    page: str


class Escalate:
    """`acme.escalate`: a task and an urgent message for a team, and the page flagged; the
    first run dies right after acting, before the engine records the step's end."""

    name: ClassVar[str] = "acme.escalate"
    params_type: ClassVar[type[msgspec.Struct]] = EscalateParams

    def __init__(self) -> None:
        self.runs = 0

    def run(self, params: EscalateParams, context: ActionContext) -> dict[str, Any]:
        self.runs += 1
        task_id = context.port.once(Task(assignee=params.team, title=f"Look at {params.page}"))
        flag_id = context.port.once(
            PageFlag(page=params.page, reason="escalated", evidence={"rule": context.trigger.rule})
        )
        sent = context.port.notify(to=params.team, subject=f"{params.page} needs you", urgent=True)
        if self.runs == 1:
            raise Crash("after acting")
        return {"task_id": task_id, "flag_id": flag_id, "notified": [n.id for n in sent]}


def _counts(engine: sa.Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
            for table in ("playbook_tasks", "page_flags", "notifications")
        )


def test_a_plugin_acts_through_the_port_once_per_step(engine: sa.Engine) -> None:
    """The plugin is given no engine; run again after a crash, its step finds the task, the
    flag and the messages of the first attempt instead of making new ones."""
    assert "engine" not in ActionContext.__struct_fields__
    book = playbook(
        {
            "name": "escalate",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [{"action": "acme.escalate", "params": {"team": "web", "page": "/lunch"}}],
        }
    )
    schedule = ScheduleConfig(
        people=[Person(name="marie"), Person(name="ana")],
        teams=[Team(name="web", members=["marie", "ana"])],
    )
    action = Escalate()
    with pytest.raises(Crash):
        make_engine(engine, [book], schedule=schedule, actions=[action]).handle(firing())
    after_crash = _counts(engine)
    assert after_crash[:2] == (1, 1) and after_crash[2] >= 1

    restarted = make_engine(engine, [book], schedule=schedule, actions=[action])
    assert restarted.resume() == 1
    assert action.runs == 2 and _counts(engine) == after_crash
    with engine.connect() as conn:
        (run,) = list_runs(conn)
        task_id = conn.exec_driver_sql("SELECT id FROM playbook_tasks").scalar()
    assert run.status == "succeeded"
    assert run.steps[0].result["task_id"] == task_id
