"""Running playbooks: matching, templating, conditions, retries, idempotence and restarts."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.playbooks.conftest import (
    SECRET,
    START,
    Crash,
    Receiver,
    Recorder,
    firing,
    make_engine,
    playbook,
)
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.playbooks import PlaybookTrigger
from vigie.playbooks.actions.base import ActionSettings, WebhookEndpoint
from vigie.playbooks.registry import ActionRegistry
from vigie.playbooks.runs import list_runs
from vigie.schedule import Person, ScheduleConfig

THREE_STEPS = {
    "name": "three",
    "triggers": [{"rule": "conversion-drop"}],
    "steps": [
        {
            "action": "test.record",
            "name": "first",
            "params": {"label": "one {{ labels.page | default('') }}"},
        },
        {"action": "test.record", "name": "second", "params": {"label": "two"}},
        {"action": "test.record", "name": "third", "params": {"label": "three"}},
    ],
}


def test_vigie_actions_come_through_the_entry_points() -> None:
    """Every built-in action is found through the `vigie.actions` entry-point group."""
    names = ActionRegistry.from_entry_points().names()
    for name in ("chat.invite", "webhook", "notify", "broadcast", "offer", "task", "page.flag"):
        assert name in names


def test_a_firing_runs_matching_playbooks_with_templated_params(engine: sa.Engine) -> None:
    """The alert's labels fill the step parameters, and every step is recorded."""
    recorder = Recorder()
    runner = make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder])
    (run,) = runner.handle(firing(labels={"page": "/lunch"}))
    assert run.status == "succeeded"
    assert [label for _, label in recorder.calls] == ["one /lunch", "two", "three"]
    assert [(s.name, s.status, s.attempts) for s in run.steps] == [
        ("first", "succeeded", 1),
        ("second", "succeeded", 1),
        ("third", "succeeded", 1),
    ]


def test_one_firing_runs_a_playbook_once(engine: sa.Engine) -> None:
    """The same firing handled twice (even by a new engine) runs nothing twice."""
    recorder = Recorder()
    make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder]).handle(firing())
    make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder]).handle(firing())
    assert len(recorder.calls) == 3


def test_other_rules_and_statuses_do_not_match(engine: sa.Engine) -> None:
    """A resolution, or another rule, does not start a playbook listening for firings."""
    runner = make_engine(engine, [playbook(THREE_STEPS)], actions=[Recorder()])
    resolved = PlaybookTrigger(
        rule="conversion-drop", status="resolved", fingerprint="fp", at=firing().at
    )
    assert runner.handle(resolved) == []
    assert runner.handle(firing(rule="other")) == []


def test_a_restart_in_the_middle_resumes_without_running_a_step_twice(engine: sa.Engine) -> None:
    """The process dies during step two; a new engine finishes the run, step one ran once."""
    recorder = Recorder()
    recorder.crash_on = "two"
    with pytest.raises(Crash):
        make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder]).handle(firing())
    assert [label for _, label in recorder.calls] == ["one "]

    restarted = make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder])
    assert restarted.resume() == 1
    assert restarted.handle(firing())[0].status == "succeeded"
    assert [label for _, label in recorder.calls] == ["one ", "two", "three"]
    keys = [key for key, _ in recorder.calls]
    assert len(set(keys)) == 3, "each step keeps its own idempotency key"


def test_retries_are_recorded(engine: sa.Engine) -> None:
    """A step failing twice with two retries allowed succeeds on its third attempt."""
    waits: list[float] = []
    book = playbook(
        {
            "name": "flaky",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [
                {
                    "action": "test.record",
                    "params": {"label": "x", "fail_times": 2},
                    "retries": 2,
                    "retry_delay_seconds": 0.5,
                }
            ],
        }
    )
    (run,) = make_engine(engine, [book], actions=[Recorder()], sleep=waits.append).handle(firing())
    assert run.status == "succeeded"
    assert run.steps[0].attempts == 3
    assert waits == [0.5, 1.0]
    errors = (run.steps[0].error or "").splitlines()
    assert [e.split(":")[0] for e in errors] == ["attempt 1", "attempt 2"]


def test_a_step_out_of_retries_fails_the_run_with_its_error(engine: sa.Engine) -> None:
    """When retries run out the step and the run are failed, and the error is kept."""
    book = playbook(
        {
            "name": "broken",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [
                {"action": "test.record", "params": {"label": "x", "fail_times": 5}, "retries": 1},
                {"action": "test.record", "params": {"label": "never"}},
            ],
        }
    )
    recorder = Recorder()
    (run,) = make_engine(engine, [book], actions=[recorder]).handle(firing())
    assert run.status == "failed"
    assert run.steps[0].status == "failed" and run.steps[0].attempts == 2
    assert "fails on purpose" in (run.steps[0].error or "")
    assert "never" not in [label for _, label in recorder.calls]


def test_conditions_skip_steps(engine: sa.Engine) -> None:
    """A step whose `when:` is false is recorded as skipped and does not act."""
    book = playbook(
        {
            "name": "cond",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [
                {"action": "test.record", "when": "values.rate < 0.01", "params": {"label": "a"}},
                {"action": "test.record", "when": "values.rate < 0.05", "params": {"label": "b"}},
            ],
        }
    )
    recorder = Recorder()
    (run,) = make_engine(engine, [book], actions=[recorder]).handle(firing(values={"rate": 0.03}))
    assert [s.status for s in run.steps] == ["skipped", "succeeded"]
    assert [label for _, label in recorder.calls] == ["b"]


def test_dry_run_shows_the_plan_and_acts_on_nothing(engine: sa.Engine) -> None:
    """A dry run renders parameters and conditions, records no run and calls no action."""
    recorder = Recorder()
    runner = make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder])
    plan = runner.plan(
        "three", runner.manual_trigger("three", {"page": "/menu"}), {"page": "/menu"}
    )
    assert [s.outcome for s in plan.steps] == ["run", "run", "run"]
    assert plan.steps[0].params == {"label": "one /menu"}
    assert recorder.calls == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM playbook_runs").scalar() == 0


def test_manual_runs_take_parameters(engine: sa.Engine) -> None:
    """`run(name, params)` starts a new run each time, parameters as labels."""
    recorder = Recorder()
    runner = make_engine(engine, [playbook(THREE_STEPS)], actions=[recorder])
    assert runner.run("three", {"page": "/a"}).status == "succeeded"
    assert runner.run("three", {"page": "/b"}).status == "succeeded"
    assert [label for _, label in recorder.calls if label.startswith("one")] == ["one /a", "one /b"]


def test_a_bad_template_fails_the_step_with_a_clear_error(engine: sa.Engine) -> None:
    """A template naming a missing label fails its step and says which template."""
    book = playbook(
        {
            "name": "bad",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [{"action": "test.record", "params": {"label": "{{ labels.nope }}"}}],
        }
    )
    (run,) = make_engine(engine, [book], actions=[Recorder()]).handle(firing())
    assert run.status == "failed"
    assert "labels.nope" in (run.steps[0].error or "") or "nope" in (run.steps[0].error or "")


class CrashAfterActing:
    """Wraps a real action and dies right after it acted, before the engine could record the
    step's end: the worst moment for a restart."""

    def __init__(self, name: str) -> None:
        self.inner = ActionRegistry.from_entry_points().get(name)
        self.name = name
        self.params_type = self.inner.params_type
        self.crashed = False

    def run(self, params: Any, context: Any) -> dict[str, Any]:
        result = self.inner.run(params, context)
        if not self.crashed:
            self.crashed = True
            raise Crash("after acting")
        return result


CRASHING_STEPS = {
    "page.flag": ({"page": "/lunch"}, "page_flags"),
    "task": ({"assignee": "marie", "title": "Review /lunch"}, "playbook_tasks"),
    "offer": ({"scope": "zone", "target": "monnaie", "title": "-10 %"}, "playbook_offers"),
    "reassign": ({"agents": ["ana"], "to_queue": "support"}, "reassignments"),
    "notify": ({"to": "marie", "subject": "Drop on /lunch"}, "notifications"),
    "chat.invite": ({"page": "/lunch"}, "chat_invitations"),
    "webhook": ({"endpoint": "crm"}, "webhook_deliveries"),
}


@pytest.mark.parametrize("action", sorted(CRASHING_STEPS))
def test_a_crash_after_acting_does_not_act_twice(
    engine: sa.Engine, receiver: Receiver, action: str
) -> None:
    """The step re-run after the restart keeps its idempotency key: each built-in action
    leaves one page flag, task, offer, move, notification, invitation or delivery, not two."""
    params, table = CRASHING_STEPS[action]
    SqlEventLog(engine).append([_page_view("visitor-1", "/lunch")])
    book = playbook(
        {
            "name": "once",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [{"action": action, "params": params}],
        }
    )
    options: dict[str, Any] = {
        "schedule": ScheduleConfig(people=[Person(name="marie"), Person(name="ana")]),
        "settings": ActionSettings(
            webhooks=[WebhookEndpoint(name="crm", url=receiver.url, secret=SECRET)],
            allow_private_networks=True,
            queues={"sales": ["ana"]},
        ),
        "actions": [CrashAfterActing(action)],
    }
    with pytest.raises(Crash):
        make_engine(engine, [book], **options).handle(firing())
    restarted = make_engine(engine, [book], **options)
    assert restarted.resume() == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 1
        run = list_runs(conn)[0]
    assert run.status == "succeeded" and run.steps[0].attempts == 2, run.steps
    if action == "webhook":
        assert len(receiver.received) == 1


def _page_view(visitor: str, path: str) -> Event:
    return Event(
        message_id=f"{visitor}-{path}",
        type="page",
        source="website",
        timestamp=START,
        received_at=START,
        anonymous_id=visitor,
        properties={"path": path},
    )
