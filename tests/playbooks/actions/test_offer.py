"""Offers recorded for a while and announced by a signed webhook."""

from __future__ import annotations

import sqlalchemy as sa

from tests.playbooks.conftest import SECRET, Receiver, firing, make_engine, playbook
from vigie.clock import SystemClock
from vigie.playbooks.actions.base import ActionSettings, WebhookEndpoint
from vigie.playbooks.outputs import offers


def test_an_offer_is_recorded_and_announced(engine: sa.Engine, receiver: Receiver) -> None:
    """The offer is stored with its end, and an offer.started CloudEvent is delivered."""
    settings = ActionSettings(
        webhooks=[WebhookEndpoint(name="shop", url=receiver.url, secret=SECRET)],
        allow_private_networks=True,
    )
    book = playbook(
        {
            "name": "offer",
            "triggers": [{"rule": "crowding"}],
            "steps": [
                {
                    "action": "offer",
                    "params": {
                        "scope": "zone",
                        "target": "{{ labels.zone }}",
                        "title": "-10 %",
                        "duration_minutes": "45",
                        "announce": "shop",
                    },
                }
            ],
        }
    )
    runner = make_engine(engine, [book], clock=SystemClock(), settings=settings)
    (run,) = runner.handle(firing(rule="crowding", labels={"zone": "monnaie"}))
    assert run.status == "succeeded", run.steps
    with engine.connect() as conn:
        row = conn.execute(sa.select(offers)).one()
    assert (row.scope, row.target) == ("zone", "monnaie")
    assert row.ends_at_us - row.starts_at_us == 45 * 60 * 1_000_000
    (got,) = receiver.received
    assert got["event"]["type"] == "be.vigie.offer.started"
    assert got["event"]["data"]["target"] == "monnaie"
