"""Chat invitations for the visitors on a page or a funnel step right now."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.playbooks.conftest import START, firing, make_engine, playbook
from vigie.clock import ManualClock
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.playbooks.outputs import pending_for


def _track(visitor: str, name: str, minutes_ago: float, n: int) -> Event:
    at = START - timedelta(minutes=minutes_ago)
    return Event(
        message_id=f"{visitor}-{n}",
        type="track",
        source="web",
        timestamp=at,
        received_at=at,
        anonymous_id=visitor,
        event=name,
    )


def test_visitors_stuck_at_a_funnel_step_are_invited_once(engine: sa.Engine) -> None:
    """Visitors whose last step is 'Checkout Started' are invited; those who went on, or
    came too long ago, are not; a second firing's step adds no duplicate."""
    SqlEventLog(engine).append(
        [
            _track("stuck", "Checkout Started", 2, 1),
            _track("done", "Checkout Started", 3, 1),
            _track("done", "Order Completed", 1, 2),
            _track("old", "Checkout Started", 30, 1),
        ]
    )
    book = playbook(
        {
            "name": "funnel",
            "triggers": [{"rule": "checkout-drop"}],
            "steps": [
                {
                    "action": "chat.invite",
                    "params": {"funnel_step": "Checkout Started", "within_minutes": 10},
                }
            ],
        }
    )
    clock = ManualClock(START)
    runner = make_engine(engine, [book], clock=clock)
    (run,) = runner.handle(firing(rule="checkout-drop"))
    assert run.steps[0].result["invited"] == 1
    runner.handle(firing(rule="checkout-drop"))
    assert [i.anonymous_id for i in pending_for(engine, anonymous_id="stuck", now=START)] == [
        "stuck"
    ]
    assert pending_for(engine, anonymous_id="done", now=START) == []
    assert pending_for(engine, anonymous_id="stuck", now=START + timedelta(hours=1)) == [], (
        "expired invitations are not offered"
    )


def test_page_or_funnel_step_is_required(engine: sa.Engine) -> None:
    """Without a page or a funnel step the step fails once, saying what is missing."""
    book = playbook(
        {"name": "x", "triggers": [{"rule": "r"}], "steps": [{"action": "chat.invite"}]}
    )
    (run,) = make_engine(engine, [book]).handle(firing(rule="r"))
    assert run.status == "failed" and "page or funnel_step" in (run.steps[0].error or "")


def _contact(
    engine: sa.Engine, contact_id: str, anonymous_id: str, consent: dict[str, bool]
) -> None:
    from vigie.crm.tables import contacts

    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            {"id": contact_id, "version": 1, "created_at": START, "updated_at": START,
             "anonymous_ids": [anonymous_id], "consent": consent},
        )  # fmt: skip


def test_a_contact_without_marketing_consent_is_not_invited(engine: sa.Engine) -> None:
    """Of three visitors stuck at checkout, the contact who refused marketing is left out and
    the run record says "skipped: no marketing consent"; the one who agreed by e-mail and the
    unknown visitor are invited (issue 17)."""
    SqlEventLog(engine).append(
        [
            _track("refused", "Checkout Started", 2, 1),
            _track("agreed", "Checkout Started", 2, 1),
            _track("unknown", "Checkout Started", 2, 1),
        ]
    )
    _contact(engine, "ct_no", "refused", {"email_marketing": False, "analytics": True})
    _contact(engine, "ct_yes", "agreed", {"email_marketing": True})
    book = playbook(
        {
            "name": "funnel",
            "triggers": [{"rule": "checkout-drop"}],
            "steps": [{"action": "chat.invite", "params": {"funnel_step": "Checkout Started"}}],
        }
    )
    (run,) = make_engine(engine, [book], clock=ManualClock(START)).handle(
        firing(rule="checkout-drop")
    )
    result = run.steps[0].result
    assert result["invited"] == 2
    assert result["skipped"] == {"visitors": 1, "reason": "skipped: no marketing consent"}
    assert pending_for(engine, anonymous_id="refused", now=START) == []
    assert len(pending_for(engine, anonymous_id="agreed", now=START)) == 1
    assert len(pending_for(engine, anonymous_id="unknown", now=START)) == 1
