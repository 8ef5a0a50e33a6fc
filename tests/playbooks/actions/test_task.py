"""Tasks for people or teams, and moving agents and tickets, each once per step."""

from __future__ import annotations

import sqlalchemy as sa

from tests.playbooks.conftest import firing, make_engine, playbook
from vigie.playbooks.actions.base import ActionSettings
from vigie.playbooks.outputs import current_queues, reassignments, tasks
from vigie.schedule import Person, ScheduleConfig

PEOPLE = ScheduleConfig(people=[Person(name="marie"), Person(name="ana"), Person(name="bo")])


def test_a_task_is_created_once(engine: sa.Engine) -> None:
    """A task step handled twice for the same firing makes one task."""
    book = playbook(
        {
            "name": "review",
            "triggers": [{"rule": "r"}],
            "steps": [
                {
                    "action": "task",
                    "params": {"assignee": "marie", "title": "Review {{ labels.page }}"},
                }
            ],
        }
    )
    runner = make_engine(engine, [book], schedule=PEOPLE)
    runner.handle(firing(rule="r", labels={"page": "/lunch"}))
    runner.handle(firing(rule="r", labels={"page": "/lunch"}))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tasks.c.assignee, tasks.c.title)).all()
    assert [tuple(r) for r in rows] == [("marie", "Review /lunch")]


def test_agents_and_tickets_are_reassigned(engine: sa.Engine) -> None:
    """Named agents move to a queue, tickets to a person, and the history is kept."""
    book = playbook(
        {
            "name": "sla",
            "triggers": [{"rule": "r"}],
            "steps": [
                {"action": "reassign", "params": {"agents": ["ana"], "to_queue": "support"}},
                {"action": "reassign", "params": {"tickets": ["T-1", "T-2"], "assignee": "bo"}},
            ],
        }
    )
    settings = ActionSettings(queues={"sales": ["ana", "bo"]})
    (run,) = make_engine(engine, [book], schedule=PEOPLE, settings=settings).handle(
        firing(rule="r")
    )
    assert run.status == "succeeded", run.steps
    with engine.connect() as conn:
        assert current_queues(conn, settings.queues) == {"ana": "support", "bo": "sales"}
        moved = conn.execute(sa.select(reassignments.c.kind, reassignments.c.subject)).all()
    assert sorted(tuple(r) for r in moved) == [
        ("agent", "ana"),
        ("ticket", "T-1"),
        ("ticket", "T-2"),
    ]


def test_asking_for_more_agents_than_the_queue_has_fails(engine: sa.Engine) -> None:
    """Moving three agents out of a queue of two fails and moves nobody."""
    book = playbook(
        {
            "name": "sla",
            "triggers": [{"rule": "r"}],
            "steps": [
                {
                    "action": "reassign",
                    "params": {"from_queue": "sales", "to_queue": "support", "count": 3},
                }
            ],
        }
    )
    settings = ActionSettings(queues={"sales": ["ana", "bo"]})
    (run,) = make_engine(engine, [book], schedule=PEOPLE, settings=settings).handle(
        firing(rule="r")
    )
    assert run.status == "failed"
    with engine.connect() as conn:
        assert current_queues(conn, settings.queues) == {"ana": "sales", "bo": "sales"}
