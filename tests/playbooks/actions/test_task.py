"""Tasks for people or teams, and moving agents and tickets, each once per step."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa

from tests.playbooks.conftest import firing, make_engine, playbook
from vigie.clock import ManualClock
from vigie.playbooks.actions.base import ActionSettings
from vigie.playbooks.outputs import current_queues, reassignments, tasks
from vigie.schedule import Person, ScheduleConfig, is_working
from vigie.types import from_us

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


BRUSSELS = ZoneInfo("Europe/Brussels")
OFFICE = msgspec.convert(
    {
        "time_intervals": [
            {
                "name": "office",
                "time_intervals": [
                    {
                        "weekdays": ["monday:friday"],
                        "times": [{"start_time": "09:00", "end_time": "17:00"}],
                        "location": "Europe/Brussels",
                    }
                ],
            }
        ],
        "people": [
            {"name": "marie", "working_hours": ["office"]},
            {"name": "tom", "teams": ["support"], "working_hours": ["office"]},
            {"name": "ines", "teams": ["support"], "holidays": ["2026-11-24"]},
        ],
        "teams": [{"name": "support"}],
        "policy": {"earliest": "00:00", "latest": "24:00", "weekends": True},
    },
    ScheduleConfig,
)


def _task_book(*steps: dict[str, object]) -> object:
    return playbook({"name": "review", "triggers": [{"rule": "r"}], "steps": list(steps)})


def test_a_task_at_night_is_due_in_its_assignees_working_hours(engine: sa.Engine) -> None:
    """Issue 21: at 00:20 on a Saturday a task "due in 90 minutes" for Marie is hers, due
    on Monday at 10:30 (90 minutes into her day), never during her weekend."""
    saturday = datetime(2026, 11, 28, 0, 20, tzinfo=BRUSSELS)
    book = _task_book(
        {"action": "task", "params": {"assignee": "marie", "title": "Fix", "due_in_minutes": 90}}
    )
    runner = make_engine(engine, [book], schedule=OFFICE, clock=ManualClock(saturday))
    (run,) = runner.handle(firing(rule="r"))
    (step,) = run.steps
    back = datetime.fromisoformat(step.result["off_duty_until"])
    assert back == datetime(2026, 11, 30, 9, 0, tzinfo=BRUSSELS)
    with engine.connect() as conn:
        (assignee, due_us) = conn.execute(sa.select(tasks.c.assignee, tasks.c.due_at_us)).one()
    due = from_us(due_us)
    assert (assignee, due) == ("marie", datetime(2026, 11, 30, 10, 30, tzinfo=BRUSSELS))
    assert is_working(OFFICE, OFFICE.people[0], due)


def test_a_teams_task_goes_to_a_member_at_work(engine: sa.Engine) -> None:
    """On a Tuesday morning a task for the support team goes to Tom, who is working, not to
    Ines, who is on holiday; the result says whom it was for."""
    tuesday = datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS)
    book = _task_book({"action": "task", "params": {"assignee": "support", "title": "Calls"}})
    runner = make_engine(engine, [book], schedule=OFFICE, clock=ManualClock(tuesday))
    (run,) = runner.handle(firing(rule="r"))
    (step,) = run.steps
    assert (step.result["assignee"], step.result["for"]) == ("tom", "support")
    assert datetime.fromisoformat(step.result["due_at"]) == tuesday
    assert "off_duty_until" not in step.result


def test_a_task_for_nobody_known_fails_naming_the_assignee(engine: sa.Engine) -> None:
    """A task for someone the schedule does not know fails, naming them, and stores nothing."""
    book = _task_book({"action": "task", "params": {"assignee": "zoe", "title": "Calls"}})
    (run,) = make_engine(engine, [book], schedule=OFFICE).handle(firing(rule="r"))
    assert run.status == "failed"
    assert "'zoe' is neither a person nor a team" in (run.steps[0].error or "")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar() == 0


def test_a_task_without_a_title_fails_naming_the_field(engine: sa.Engine) -> None:
    """An empty title (say, a template that rendered to nothing) fails the step at once,
    naming the title, rather than being retried."""
    book = _task_book({"action": "task", "params": {"assignee": "marie", "title": " "}})
    (run,) = make_engine(engine, [book], schedule=OFFICE).handle(firing(rule="r"))
    assert run.status == "failed" and run.steps[0].attempts == 1
    assert "title must have 1 to 200 characters" in (run.steps[0].error or "")
