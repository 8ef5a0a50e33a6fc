"""From an alert to the morning digest, through the built system: a message a playbook sent
at night about an alert that resolved before morning arrives marked as resolved."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import make_settings
from tests.rules.test_silences import CONFIG, _orders
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.store import upgrade
from vigie.system import build_system

BRUSSELS = ZoneInfo("Europe/Brussels")
OFFICE = CONFIG.replace(
    'time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]',
    'time_intervals: [{weekdays: ["monday:friday"], location: Europe/Brussels,'
    ' times: [{start_time: "08:00", end_time: "18:00"}]}]',
).replace('{earliest: "00:00", latest: "24:00", weekends: true}', '{latest: "18:00"}')


def test_a_resolved_alert_is_marked_in_the_morning_digest(db_url: str) -> None:
    """At 22:00 the rush alert fires and its message to Ana is held; the alert resolves at
    night (three quiet hourly windows after the rush); at 08:00 Ana gets one digest saying
    it resolved since."""
    night = datetime(2026, 11, 2, 22, 0, tzinfo=BRUSSELS)  # a Monday
    clock = ManualClock(night)
    system = build_system(make_settings(db_url, parse_config(OFFICE)), clock=clock)
    try:
        upgrade(system.engine)
        system.alerting.process(_orders("spring", 1, night))
        system.playbooks.resume()
        (held,) = system.dispatcher.notifications()
        assert (held.status, held.hold_until) == (
            "held",
            datetime(2026, 11, 3, 8, 0, tzinfo=BRUSSELS),
        )
        for hour in range(1, 5):
            clock.set(night + timedelta(hours=hour))
            system.alerting.tick()
        assert system.alerts.list(status="resolved")
        clock.set(datetime(2026, 11, 3, 8, 0, tzinfo=BRUSSELS))
        assert system.dispatcher.deliver_due() == 1
        digest, original = system.dispatcher.notifications()
        assert original.status == "digested"
        assert digest.subject == "Vigie : 1 message pendant votre absence (1 résolu depuis)"
        assert "Rush on spring [résolue depuis]" in digest.body
    finally:
        system.engine.dispose()
