"""The port over the store: each record at most once per step (and subject), read back as
stored, and an agent's move made their queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.playbooks.conftest import START
from vigie.clock import ManualClock
from vigie.playbooks.actions.base import ActionSettings
from vigie.playbooks.actions.port import ChatInvitation, Move, Offer, Task
from vigie.playbooks.outputs import StorePort
from vigie.schedule import Dispatcher, ScheduleConfig


def _port(engine: sa.Engine, key: str, clock: ManualClock | None = None) -> StorePort:
    """A port for step `key`, as a fresh engine would build it after a restart."""
    clock = clock or ManualClock(START)
    return StorePort(
        engine=engine,
        dispatcher=Dispatcher(engine=engine, config=ScheduleConfig(), clock=clock),
        key=key,
        run_id=key.split(":")[0],
        clock=clock,
        settings=ActionSettings(queues={"sales": ["ana", "bo"]}),
    )


def _invitation(visitor: str) -> ChatInvitation:
    return ChatInvitation(
        anonymous_id=visitor,
        page="/lunch",
        funnel_step=None,
        message="Need help?",
        expires_at=START + timedelta(minutes=15),
    )


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


def test_a_record_is_stored_once_per_step(engine: sa.Engine) -> None:
    """The same step storing a task again, even through a new port, gets the first task's
    id back and stores nothing; another step stores its own."""
    task = Task(assignee="marie", title="Review /lunch", due_at=START + timedelta(hours=1))
    first = _port(engine, "run-1:0").once(task)
    assert _port(engine, "run-1:0").once(Task(assignee="marie", title="changed")) == first
    assert _port(engine, "run-1:1").once(task) != first
    assert _count(engine, "playbook_tasks") == 2
    assert _port(engine, "run-1:0").recorded(Task) == [task]


def test_records_read_back_as_stored(engine: sa.Engine) -> None:
    """An offer's details and times come back from `recorded` as they went in."""
    offer = Offer(
        scope="zone",
        target="monnaie",
        title="-10 %",
        details={"aisles": [3, 4]},
        starts_at=START,
        ends_at=START + timedelta(minutes=45),
    )
    port = _port(engine, "run-1:0")
    port.once(offer)
    assert port.recorded(Offer) == [offer]
    assert _port(engine, "run-2:0").recorded(Offer) == []


def test_records_of_many_per_step_are_once_per_subject(engine: sa.Engine) -> None:
    """Invitations are once per step and visitor: a re-run inviting ana and cy adds cy only."""
    port = _port(engine, "run-1:0")
    first = port.once_each([_invitation("ana"), _invitation("bo")])
    again = port.once_each([_invitation("ana"), _invitation("cy")])
    assert again[0] == first[0] and again[1] not in first
    assert [i.anonymous_id for i in port.recorded(ChatInvitation)] == ["ana", "bo", "cy"]


def test_once_each_stores_all_or_none(engine: sa.Engine) -> None:
    """A batch that fails after its records were inserted (the database goes away while
    their ids are read back) leaves nothing stored, so a re-run starts afresh instead of
    finding half a step done."""
    seen: list[str] = []

    def fail_after_the_insert(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "chat_invitations" in statement:
            seen.append(statement.split()[0].upper())
            if seen[-1] == "SELECT" and "INSERT" in seen:
                raise RuntimeError("the database went away")

    port = _port(engine, "run-1:0")
    sa.event.listen(engine, "before_cursor_execute", fail_after_the_insert)
    try:
        with pytest.raises(RuntimeError):
            port.once_each([_invitation("ana"), _invitation("bo")])
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_after_the_insert)
    assert "INSERT" in seen
    assert port.recorded(ChatInvitation) == []


def test_once_each_of_many_records_stores_each_once(engine: sa.Engine) -> None:
    """Many invitations of one step (issue 19: a thousand visitors at once) are stored once
    each, the same visitor twice in a batch once, and a re-run gets the same ids back."""
    visitors = [f"v{i}" for i in range(300)]
    port = _port(engine, "run-1:0")
    ids = port.once_each([_invitation(v) for v in [*visitors, "v0"]])
    assert len(set(ids)) == 300 and ids[0] == ids[-1]
    again = _port(engine, "run-1:0").once_each([_invitation(v) for v in reversed(visitors)])
    assert again == list(reversed(ids[:-1]))
    assert _count(engine, "chat_invitations") == 300
    assert [i.anonymous_id for i in port.recorded(ChatInvitation)] == visitors


def test_moving_an_agent_changes_their_queue_once(engine: sa.Engine) -> None:
    """An agent's move makes the new queue theirs; the same step moving them again (after a
    crash) records one move and leaves the queue as the first move set it."""
    move = Move(kind="agent", subject="ana", before="sales", after="support")
    port = _port(engine, "run-1:0")
    assert port.queues() == {"ana": "sales", "bo": "sales"}
    port.once(move)
    port.once(Move(kind="agent", subject="ana", before="sales", after="billing"))
    assert port.queues() == {"ana": "support", "bo": "sales"}
    assert port.recorded(Move) == [move]
