"""A playbook's task is a CRM task (issue 21), over HTTP on a live server, on SQLite and
PostgreSQL: run at 00:20 on a Saturday, it shows in `GET /api/tasks` for its assignee, owned
by her staff record and due in her working hours, linked to its run and ledger entry; closing
it in the CRM closes the action, and closing the action closes it in the CRM."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import free_port, make_settings, user_token
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.schedule import is_working
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

BRUSSELS = ZoneInfo("Europe/Brussels")
SATURDAY_NIGHT = datetime(2026, 11, 28, 0, 20, tzinfo=BRUSSELS)
CONFIG = """
sources: [{name: web, write_key: wk_playbook_tasks_0123456789}]
schedule:
  time_intervals:
    - name: office
      time_intervals:
        - {weekdays: ["monday:friday"], location: Europe/Brussels,
           times: [{start_time: "09:00", end_time: "17:00"}]}
  people:
    - {name: marie, email: marie@example.be, working_hours: [office]}
    - {name: julie, email: Julie@Example.be, working_hours: [office]}
playbooks:
  - name: review-page
    steps:
      - action: task
        params: {assignee: marie, title: "Review /lunch", body: "Conversion fell",
                 due_in_minutes: 90}
      - action: task
        params: {assignee: julie, title: "Call the caterer"}
"""

T = TypeVar("T")


def _eventually(read: Callable[[], T | None], timeout: float = 30.0) -> T:
    """`read()` once it answers something, as the CRM projection applies the log."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[System, str]]:
    """A live server on a clock stopped at 00:20 on a Saturday."""
    clock = ManualClock(SATURDAY_NIGHT)
    app = create_app(build_system(make_settings(db_url, parse_config(CONFIG)), clock=clock))
    with BackgroundServer(app, port=free_port()) as server:
        yield app.state.system, server.url


def test_a_playbooks_task_is_a_crm_task_of_its_assignee(served: tuple[System, str]) -> None:
    """Marie (a user linked to her staff record) sees her task in `GET /api/tasks`, due on
    Monday at 10:30; Julie's goes to the staff member with her e-mail address; each names its
    run and its ledger entry, which names it back; a task cannot be linked by hand."""
    system, url = served
    admin = _client(url, user_token(system, username="ada", role="admin"))
    marie_staff = admin.post("/api/staff", json={"name": "Marie Lambert", "role": "marketing"})
    julie_staff = admin.post(
        "/api/staff", json={"name": "Julie", "role": "sales", "email": "julie@example.be"}
    )
    assert marie_staff.status_code == julie_staff.status_code == 201, marie_staff.text
    marie_id, julie_id = marie_staff.json()["id"], julie_staff.json()["id"]
    marie = _client(url, user_token(system, username="marie", role="sales", staff_id=marie_id))

    run = system.playbooks.run("review-page")
    assert run.status == "succeeded", run.steps
    mine: list[dict[str, Any]] = _eventually(lambda: marie.get("/api/tasks").json()["items"])
    (task,) = mine
    due = datetime.fromisoformat(task["due_at"])
    assert due == datetime(2026, 11, 30, 10, 30, tzinfo=BRUSSELS)
    person = system.settings.config.schedule.person("marie")
    assert person is not None and is_working(system.settings.config.schedule, person, due)
    action_id = run.steps[0].result["task_id"]
    assert (task["owner_id"], task["status"], task["title"], task["notes"]) == (
        marie_id,
        "open",
        "Review /lunch",
        "Conversion fell",
    )
    assert (task["playbook_run_id"], task["action_id"]) == (run.id, action_id)
    action = admin.get(f"/api/actions/task/{action_id}").json()
    assert (action["crm_task"], action["owner"], action["state"]) == (task["id"], "marie", "open")

    julies = _eventually(
        lambda: admin.get("/api/tasks", params={"owner_id": julie_id}).json()["items"]
    )
    assert [t["title"] for t in julies] == ["Call the caterer"]
    by_run = admin.get("/api/tasks", params={"playbook_run_id": run.id}).json()["items"]
    assert sorted(t["title"] for t in by_run) == ["Call the caterer", "Review /lunch"]

    forged = admin.post("/api/tasks", json={"title": "Fake", "playbook_run_id": run.id})
    assert forged.status_code == 422 and "playbook_run_id" in forged.text
    relinked = admin.patch(f"/api/tasks/{task['id']}", json={"action_id": 99})
    assert relinked.status_code == 422 and "action_id" in relinked.text


def test_closing_the_task_closes_the_action_and_back(served: tuple[System, str]) -> None:
    """Marie marks her CRM task done: its action shows done. A manager closes the other
    task's action on the Actions page's route: its CRM task becomes done, in the CRM audit."""
    system, url = served
    admin = _client(url, user_token(system, username="ada", role="admin"))
    marie_id = admin.post("/api/staff", json={"name": "Marie", "role": "marketing"}).json()["id"]
    admin.post("/api/staff", json={"name": "Julie", "role": "sales", "email": "julie@example.be"})
    marie = _client(url, user_token(system, username="marie", role="sales", staff_id=marie_id))
    run = system.playbooks.run("review-page")
    first, second = (step.result["task_id"] for step in run.steps)
    (task,) = _eventually(lambda: marie.get("/api/tasks").json()["items"])

    assert marie.patch(f"/api/tasks/{task['id']}", json={"status": "done"}).status_code == 200
    action = admin.get(f"/api/actions/task/{first}").json()
    assert (action["state"], action["can_close"]) == ("done", False)
    assert admin.post(f"/api/actions/task/{first}/close").status_code == 409

    other = admin.get(f"/api/actions/task/{second}").json()
    closed = admin.post(f"/api/actions/task/{second}/close", json={"note": "called"})
    assert closed.status_code == 200 and closed.json()["state"] == "done"
    crm = _eventually(
        lambda: (
            found
            if (found := admin.get(f"/api/tasks/{other['crm_task']}").json())["status"] == "done"
            else None
        )
    )
    assert crm["action_id"] == second
    trail = admin.get("/api/audit", params={"entity": "tasks"}).json()["items"]
    assert any(line["entity_id"] == other["crm_task"] and line["actor"] == "ada" for line in trail)
