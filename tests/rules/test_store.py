"""Alerts in the SQL store (SQLite and PostgreSQL): saved, updated, listed, restored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import sqlalchemy as sa

from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_save_update_and_list(engine: sa.Engine) -> None:
    """An alert saved firing then resolved is one row; active() only returns live ones."""
    store = AlertStore(engine)
    alert = Alert(
        id="fp1-1",
        fingerprint="fp1",
        rule="drop",
        status="firing",
        labels={"campaign": "c"},
        starts_at=T0,
        fired_at=T0,
        values={"value": 0.1, "events": [1, 2]},
    )
    other = msgspec.structs.replace(alert, id="fp2-1", fingerprint="fp2", rule="sla")
    store.save([alert, other])
    assert {a.id for a in store.active()} == {"fp1-1", "fp2-1"}
    resolved = msgspec.structs.replace(alert, status="resolved", ends_at=T0 + timedelta(minutes=3))
    store.save([resolved])
    assert [a.id for a in store.active()] == ["fp2-1"]
    assert store.list(status="resolved") == [resolved]
    assert [a.rule for a in store.list(rule="sla")] == ["sla"]
    assert len(store.list()) == 2


def test_a_node_that_fires_nothing_relays_the_alert_changes_another_process_stored(
    engine: sa.Engine,
) -> None:
    """An API node's relay hands its alert stream each change stored after it started, once."""
    from vigie.rules.feed import StoredAlertsRelay

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def alert_changed(self, alert: Alert) -> None:
            self.seen.append((alert.id, alert.status))

    store = AlertStore(engine)
    old = Alert(id="old-1", fingerprint="old", rule="r", status="firing", starts_at=T0,
                updated_at=T0)  # fmt: skip
    store.save([old])
    feed = Recorder()
    relay = StoredAlertsRelay(store, feed)  # type: ignore[arg-type]
    relay.start()
    later = T0 + timedelta(minutes=1)
    new = Alert(id="new-1", fingerprint="new", rule="r", status="firing", starts_at=later,
                updated_at=later)  # fmt: skip
    store.save([new])
    assert relay.poll() == 1
    assert relay.poll() == 0
    resolved = msgspec.structs.replace(new, status="resolved", updated_at=later + timedelta(1))
    store.save([resolved])
    assert relay.poll() == 1
    assert feed.seen == [("new-1", "firing"), ("new-1", "resolved")]


def test_an_alert_change_the_worker_sent_before_storing_it_is_streamed_once(
    engine: sa.Engine,
) -> None:
    """A change pushed by the worker (`AlertSender`) is streamed at once, and the relay's
    poll after it was stored does not stream it again; a later change of it is streamed."""
    from vigie.rules.feed import AlertSender, StoredAlertsRelay

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def alert_changed(self, alert: Alert) -> None:
            self.seen.append((alert.id, alert.status))

    store = AlertStore(engine)
    feed = Recorder()
    relay = StoredAlertsRelay(store, feed)  # type: ignore[arg-type]
    relay.start()
    sender = AlertSender(relay.pushed)
    firing = Alert(id="a-1", fingerprint="a", rule="r", status="firing", starts_at=T0,
                   updated_at=T0)  # fmt: skip
    sender.alert_changed(firing)
    assert feed.seen == [("a-1", "firing")]
    store.save([firing])
    assert relay.poll() == 0
    resolved = msgspec.structs.replace(firing, status="resolved", updated_at=T0 + timedelta(1))
    store.save([resolved])
    assert relay.poll() == 1
    assert feed.seen == [("a-1", "firing"), ("a-1", "resolved")]


def test_a_push_that_comes_after_a_poll_streamed_its_change_is_not_streamed_again(
    engine: sa.Engine,
) -> None:
    """A poll streams X then a later Y; the worker's push of X arriving afterwards is not
    streamed a second time, while a push of a change stored late (after Y) still is, once."""
    from vigie.rules.feed import AlertSender, StoredAlertsRelay

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def alert_changed(self, alert: Alert) -> None:
            self.seen.append(alert.id)

    store = AlertStore(engine)
    feed = Recorder()
    relay = StoredAlertsRelay(store, feed)  # type: ignore[arg-type]
    relay.start()
    sender = AlertSender(relay.pushed)

    def alert(name: str, at: datetime) -> Alert:
        return Alert(id=f"{name}-1", fingerprint=name, rule="r", status="firing",
                     starts_at=at, updated_at=at)  # fmt: skip

    x, y = alert("x", T0), alert("y", T0 + timedelta(seconds=2))
    store.save([x, y])
    assert relay.poll() == 2
    sender.alert_changed(x)
    assert feed.seen == ["x-1", "y-1"]
    late = alert("z", T0 + timedelta(seconds=1))
    sender.alert_changed(late)
    store.save([late])
    assert relay.poll() == 0
    assert feed.seen == ["x-1", "y-1", "z-1"]
