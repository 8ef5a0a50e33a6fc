"""What playbooks did, seen, closed and undone by a person (issue 21): every output of a run
is listed with its run and alert; closing a flag, ending an offer early and sending a moved
agent back are recorded with who and why; a closed action cannot be closed again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.playbooks.conftest import START, firing, make_engine, playbook
from vigie.clock import ManualClock
from vigie.playbooks.actions.base import ActionSettings
from vigie.playbooks.ledger import ActionLedger, NotAllowed
from vigie.playbooks.outputs import current_queues
from vigie.schedule import Person, ScheduleConfig

PEOPLE = ScheduleConfig(people=[Person(name="marie"), Person(name="ana"), Person(name="bo")])
SETTINGS = ActionSettings(queues={"sales": ["ana", "bo"]})
BOOK = playbook(
    {
        "name": "checkout-broken",
        "triggers": [{"rule": "r"}],
        "steps": [
            {"action": "task", "params": {"assignee": "marie", "title": "Check the checkout"}},
            {"action": "page.flag", "params": {"page": "/checkout", "reason": "conversion fell"}},
            {
                "action": "offer",
                "params": {
                    "scope": "campaign",
                    "target": "lunch",
                    "title": "-10 %",
                    "duration_minutes": 120,
                },
            },
            {"action": "reassign", "params": {"agents": ["ana"], "to_queue": "support"}},
        ],
    }
)


@pytest.fixture
def ran(engine: sa.Engine) -> tuple[ActionLedger, ManualClock, str]:
    """One run of the playbook, on a clock at a working time, and the ledger over it."""
    clock = ManualClock(START)
    runner = make_engine(engine, [BOOK], clock=clock, schedule=PEOPLE, settings=SETTINGS)
    (run,) = runner.handle(firing(rule="r", fingerprint="alert-7"))
    assert run.status == "succeeded", run.steps
    return ActionLedger(engine=engine, clock=clock), clock, run.id


def test_every_output_of_a_run_is_listed_with_its_run_and_alert(
    ran: tuple[ActionLedger, ManualClock, str],
) -> None:
    """The task, the flag, the offer and the move are listed, open, linked to the run, the
    playbook and the alert that started it."""
    ledger, _clock, run_id = ran
    found = ledger.list(run_id=run_id)
    assert sorted(a.kind for a in found) == ["move", "offer", "page_flag", "task"]
    assert {a.state for a in found} == {"open"}
    assert {(a.playbook, a.alert) for a in found} == {("checkout-broken", "alert-7")}
    assert [a.kind for a in ledger.list(alert="alert-7", kind="task")] == ["task"]
    assert ledger.list(alert="another") == []


def test_closing_and_undoing_are_recorded_and_take_effect(
    engine: sa.Engine, ran: tuple[ActionLedger, ManualClock, str]
) -> None:
    """Closing the flag marks it done with who and why; undoing the offer ends it now;
    undoing the move puts Ana back in sales; none can be changed twice."""
    ledger, clock, _run = ran
    by_kind = {a.kind: a for a in ledger.list()}
    clock.set(START + timedelta(minutes=5))
    flag = ledger.close("page_flag", by_kind["page_flag"].id, by="marie", note="fixed the CSS")
    assert flag.state == "done"
    assert [(c.from_state, c.to_state, c.by, c.note) for c in flag.changes] == [
        ("open", "done", "marie", "fixed the CSS")
    ]
    offer = ledger.undo("offer", by_kind["offer"].id, by="marie")
    assert offer.state == "undone"
    with engine.connect() as conn:
        ends = conn.exec_driver_sql("SELECT ends_at_us FROM playbook_offers").scalar_one()
    assert ends == int((START + timedelta(minutes=5)).timestamp() * 1_000_000)
    with engine.connect() as conn:
        assert current_queues(conn, SETTINGS.queues)["ana"] == "support"
    ledger.undo("move", by_kind["move"].id, by="marie", note="rush over")
    with engine.connect() as conn:
        assert current_queues(conn, SETTINGS.queues)["ana"] == "sales"
    with pytest.raises(NotAllowed, match="done"):
        ledger.close("page_flag", by_kind["page_flag"].id, by="marie")
    with pytest.raises(NotAllowed):
        ledger.undo("task", by_kind["task"].id, by="marie")
    assert ledger.close("task", by_kind["task"].id, by="marie").state == "done"
    assert {a.kind for a in ledger.list(state="open")} == set()


def test_an_offer_past_its_end_is_expired(ran: tuple[ActionLedger, ManualClock, str]) -> None:
    """Three hours later the two-hour offer shows as expired and can no longer be undone."""
    ledger, clock, _run = ran
    clock.set(START + timedelta(hours=3))
    (offer,) = ledger.list(kind="offer")
    assert (offer.state, offer.can_undo, offer.can_close) == ("expired", False, False)
