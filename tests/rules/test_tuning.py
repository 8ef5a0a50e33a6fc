"""Threshold tuning (issue 23): a backtest of alternative thresholds against the alerts
people judged, a suggestion that keeps the useful ones, and applying it as a new version of
the rule that is live without a restart, audited, and undone by restoring version 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import WRITE_KEY, make_settings, user_token
from vigie.auth.audit import Actor, list_audit
from vigie.cli import app
from vigie.clock import ManualClock
from vigie.config import Config, Source
from vigie.events import Event
from vigie.kpi.metrics import Metric
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.triage import Invalid
from vigie.rules.tuning import Judged, suggest
from vigie.rules.versions import NotApplicable, RuleNotFound, RuleVersions
from vigie.store import upgrade
from vigie.system import System, build_system
from vigie.web import create_app

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
METRIC = Metric(name="orders", kind="count", where={"event": "Order"}, window="10m")
RULE = Rule(name="busy", metric="orders", op=">", value=5.0)
LEA = Actor(name="lea", role="manager")


def burst(at: datetime, count: int, tag: str, group: str | None = None) -> list[Event]:
    """`count` orders within a minute from `at` (one 10-minute window)."""
    return [
        Event(
            message_id=f"{tag}-{n}",
            type="track",
            source="web",
            event="Order",
            anonymous_id=f"v{n}",
            properties={"shop": group} if group else {},
            timestamp=at + timedelta(seconds=n),
            received_at=at + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def _day() -> tuple[list[Event], list[Judged]]:
    """One big rush (20 orders in a window, people found the alert useful) and three
    moderate peaks of 7 (each judged a false alarm), an hour apart."""
    events: list[Event] = []
    judged: list[Judged] = []
    for hour, (count, verdict) in enumerate(
        [(7, "false_alarm"), (20, "useful"), (7, "false_alarm"), (7, "false_alarm")]
    ):
        at = START + timedelta(hours=hour)
        events += burst(at, count, f"h{hour}")
        judged.append(Judged(starts_at=at, ends_at=at + timedelta(minutes=15), verdict=verdict))  # type: ignore[arg-type]
    return events, judged


def test_the_suggestion_keeps_the_useful_alert_and_drops_the_false_alarms() -> None:
    """Above 5, every peak fires; the closest tried threshold that ignores the peaks of 7 but
    still catches the rush of 20 is 7.5 (5 x 1.5), in words in both languages."""
    events, judged = _day()
    found = suggest(RULE, METRIC, events, judged, until=START + timedelta(hours=5))
    assert found is not None
    assert (found.now.alerts, found.now.useful_caught, found.now.false_alarms_caught) == (4, 1, 3)
    assert found.proposed == 7.5
    assert found.then is not None
    assert (found.then.alerts, found.then.useful_caught, found.then.false_alarms_caught) == (
        1,
        1,
        0,
    )
    too_high = next(c for c in found.candidates if c.value == 10.0)
    assert too_high.useful_caught == 1  # 20 > 10 too, but further from the rule as it is
    assert all(c.useful_caught == 0 for c in found.candidates if c.value >= 20)
    assert "raise the value from 5 to 7.5: 3 fewer false alarms" in found.sentence["en"]
    assert "relever" in found.sentence["fr"]


def test_no_suggestion_when_nothing_does_better() -> None:
    """Only useful alerts judged: no alternative removes a false alarm, none is proposed."""
    events, judged = _day()
    useful_only = [
        Judged(starts_at=j.starts_at, ends_at=j.ends_at, verdict="useful") for j in judged
    ]
    found = suggest(RULE, METRIC, events, useful_only, until=START + timedelta(hours=5))
    assert found is not None and found.proposed is None and found.then is None


@pytest.fixture
def system(tmp_path: Path) -> System:
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)], metrics=[METRIC], rules=[RULE]
    )
    built = build_system(
        make_settings(f"sqlite:///{tmp_path}/vigie.db", config), clock=ManualClock(START)
    )
    upgrade(built.engine)
    return built


def test_a_tuned_threshold_is_live_audited_and_restored(system: System) -> None:
    """Version 1 sets the value to 7.5 in the running engine (no restart), with who, why and
    the change; restoring version 0 brings vigie.yaml's 5 back as version 2."""
    versions = system.rule_versions
    made = versions.tune("busy", "value", 7.5, actor=LEA, reason="weekly review")
    assert made.version == 1
    assert [(c.field, c.before, c.after) for c in made.changes] == [("value", 5.0, 7.5)]
    assert system.alerting.rules[0].value == 7.5
    back = versions.restore("busy", 0, actor=LEA)
    assert back.version == 2 and system.alerting.rules[0].value == 5.0
    assert [v.version for v in versions.history("busy")] == [0, 1, 2]
    trail = list_audit(engine=system.engine, entity="rule")
    assert [(e.action, e.actor) for e in reversed(trail)] == [("tune", "lea"), ("restore", "lea")]


def test_another_process_picks_the_version_up(system: System) -> None:
    """A worker's RuleVersions sees a version written by the API process on its next sync."""
    worker = AlertingEngine([METRIC], [RULE], clock=ManualClock(START))
    theirs = RuleVersions(
        engine=system.engine, rules=[RULE], clock=ManualClock(START), apply=worker.replace_rule
    )
    theirs.sync()
    system.rule_versions.tune("busy", "value", 9.0, actor=LEA, reason="")
    assert worker.rules[0].value == 5.0
    assert theirs.sync() == 1 and worker.rules[0].value == 9.0


def test_a_version_that_no_longer_fits_the_rule_is_skipped_not_fatal(system: System) -> None:
    """A stored version written before vigie.yaml moved the rule to another metric is logged
    and skipped on sync: the rules still start, and later versions still go live."""
    system.rule_versions.tune("busy", "value", 9.0, actor=LEA, reason="")
    visits = Metric(name="visits", kind="count", where={"event": "Visit"}, window="10m")
    moved = Rule(name="busy", metric="visits", op=">", value=5.0)
    worker = AlertingEngine([visits], [moved], clock=ManualClock(START))
    theirs = RuleVersions(
        engine=system.engine, rules=[moved], clock=ManualClock(START), apply=worker.replace_rule
    )
    assert theirs.sync() == 1
    assert [(rule, version) for rule, version, _ in theirs.skipped] == [("busy", 1)]
    assert worker.rules[0] == moved
    theirs.tune("busy", "value", 12.0, actor=LEA, reason="after the move")
    assert worker.rules[0].value == 12.0 and worker.rules[0].metric == "visits"


def test_a_new_threshold_changes_what_fires_next() -> None:
    """Under 5 a shop's peak of 7 fires; after the threshold moves to 7.5 in the running
    engine, another shop's peak of 7 does not."""
    rule = Rule(name="busy", metric="orders", op=">", value=5.0, by=["shop"])
    metric = Metric(
        name="orders", kind="count", where={"event": "Order"}, window="10m", by=["shop"]
    )
    clock = ManualClock(START)
    fired: list[Alert] = []

    class Listener:
        def alert_changed(self, alert: Alert) -> None:
            fired.append(alert)

    engine = AlertingEngine([metric], [rule], clock=clock, listeners=[Listener()])
    engine.process(burst(START, 7, "a", group="brussels"))
    assert {a.labels.get("shop") for a in fired if a.status == "firing"} == {"brussels"}
    engine.replace_rule(msgspec.structs.replace(rule, value=7.5))
    engine.process(burst(START + timedelta(minutes=1), 7, "b", group="liege"))
    clock.set(START + timedelta(minutes=2))
    engine.tick()
    assert "liege" not in {a.labels.get("shop") for a in fired if a.status == "firing"}


def test_bad_tunings_are_refused_with_the_field(system: System) -> None:
    versions = system.rule_versions
    for parameter, value, field in (
        ("drop", 0.4, "parameter"),
        ("value", float("nan"), "value"),
        ("value", 1e300, "value"),
    ):
        with pytest.raises(Invalid) as caught:
            versions.tune("busy", parameter, value, actor=LEA, reason="")
        assert caught.value.field == field
    with pytest.raises(RuleNotFound, match="busy"):
        versions.tune("nope", "value", 1, actor=LEA, reason="")
    with pytest.raises(Invalid, match="versions 0 to 0"):
        versions.restore("busy", 3, actor=LEA)
    assert [v.version for v in versions.history("busy")] == [0]


def test_the_api_tunes_lists_and_restores(system: System) -> None:
    manager = {"Authorization": "Bearer " + user_token(system, username="lea", role="manager")}
    viewer = {"Authorization": "Bearer " + user_token(system, username="rob", role="read-only")}
    with TestClient(create_app(system)) as client:
        made = client.post(
            "/api/rules/busy/versions",
            json={"parameter": "value", "value": 7.5, "reason": "review W49"},
            headers=manager,
        )
        assert made.status_code == 201 and made.json()["version"] == 1
        listed = client.get("/api/rules/busy/versions", headers=viewer).json()
        assert [v["version"] for v in listed["versions"]] == [0, 1]
        assert listed["versions"][1]["reason"] == "review W49"
        refused = client.post(
            "/api/rules/busy/versions", json={"parameter": "value", "value": 1}, headers=viewer
        )
        assert refused.status_code == 403
        bad = client.post(
            "/api/rules/busy/versions", json={"parameter": "drop", "value": 0.5}, headers=manager
        )
        assert bad.status_code == 422 and "parameter" in bad.text
        assert client.get("/api/rules/none/versions", headers=manager).status_code == 404
        back = client.post("/api/rules/busy/versions/0/restore", json={}, headers=manager)
        assert back.status_code == 201 and back.json()["body"]["value"] == 5.0
    assert system.alerting.rules[0].value == 5.0


USUAL = Metric(name="orders", kind="count", where={"event": "Order"}, window="1h")


def _usual_hour(days: int) -> Rule:
    return Rule(name="usual", kind="change", metric="orders", compare="same_slot", days=days,
                drop=0.5)  # fmt: skip


def _built(tmp_path: Path, rules: list[Rule], metrics: list[Metric]) -> System:
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY)], metrics=metrics, rules=rules)
    built = build_system(
        make_settings(f"sqlite:///{tmp_path}/vigie.db", config), clock=ManualClock(START)
    )
    upgrade(built.engine)
    return built


def test_restoring_a_version_the_rules_cannot_apply_is_refused_naming_why(tmp_path: Path) -> None:
    """A version stored when vigie.yaml compared with 14 days (or watched another metric)
    is refused once vigie.yaml learns 7 days (or moved the rule), naming the rule and why,
    and nothing is stored; it was answered a success while the rules skipped it. Version 0
    still restores, and a new tuning builds on what runs."""
    before = _built(tmp_path, [_usual_hour(14)], [USUAL])
    before.rule_versions.tune("usual", "drop", 0.4, actor=LEA, reason="")
    before.engine.dispose()
    after = _built(tmp_path, [_usual_hour(7)], [USUAL])
    versions = after.rule_versions
    with pytest.raises(NotApplicable) as caught:
        versions.restore("usual", 1, actor=LEA)
    assert caught.value.field == "version"
    assert "'usual'" in caught.value.reason and "same_slot" in caught.value.reason
    assert [v.version for v in versions.history("usual")] == [0, 1]
    assert versions.rule("usual").days == 7
    tuned = versions.tune("usual", "drop", 0.6, actor=LEA, reason="")
    assert tuned.body["days"] == 7 and after.alerting.rules[0].drop == 0.6
    assert versions.restore("usual", 0, actor=LEA).body["drop"] == 0.5
    after.engine.dispose()
    visits = Metric(name="visits", kind="count", where={"event": "Visit"}, window="1h")
    moved = _built(tmp_path, [msgspec.structs.replace(_usual_hour(7), metric="visits")],
                   [USUAL, visits])  # fmt: skip
    with pytest.raises(NotApplicable, match=r"'usual'.*'visits'.*'orders'"):
        moved.rule_versions.restore("usual", 1, actor=LEA)
    moved.engine.dispose()


def test_the_api_answers_409_for_a_version_the_rules_cannot_apply(tmp_path: Path) -> None:
    """`POST /api/rules/NAME/versions/N/restore` of a version the rules would skip answers
    409 with the field and a reason naming the rule, instead of 201."""
    before = _built(tmp_path, [_usual_hour(14)], [USUAL])
    before.rule_versions.tune("usual", "drop", 0.4, actor=LEA, reason="")
    before.engine.dispose()
    after = _built(tmp_path, [_usual_hour(7)], [USUAL])
    manager = {"Authorization": "Bearer " + user_token(after, username="lea", role="manager")}
    with TestClient(create_app(after)) as client:
        refused = client.post("/api/rules/usual/versions/1/restore", json={}, headers=manager)
        assert refused.status_code == 409
        (detail,) = refused.json()["detail"]
        assert detail["loc"] == ["body", "version"] and "'usual'" in detail["msg"]
        back = client.post("/api/rules/usual/versions/0/restore", json={}, headers=manager)
        assert back.status_code == 201


def test_the_cli_restore_exits_non_zero_naming_the_rule(tmp_path: Path) -> None:
    """`vigie rules restore` of a version the rules cannot apply exits 2 with the rule and
    the reason on stderr; `vigie rules versions` lists the versions; restoring 0 works."""
    before = _built(tmp_path, [_usual_hour(14)], [USUAL])
    before.rule_versions.tune("usual", "drop", 0.4, actor=LEA, reason="review")
    before.engine.dispose()
    config = tmp_path / "vigie.yaml"
    config.write_text(
        "metrics:\n  - {name: orders, kind: count, where: {event: Order}, window: 1h}\n"
        "rules:\n  - {name: usual, kind: change, metric: orders, compare: same_slot, days: 7,"
        " drop: 0.5}\n",
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path}/vigie.db"
    runner = CliRunner()
    listed = runner.invoke(app, ["rules", "versions", "usual", "-c", str(config), "--db", db])
    assert listed.exit_code == 0 and "review" in listed.output
    refused = runner.invoke(app, ["rules", "restore", "usual", "1", "-c", str(config), "--db", db])
    assert refused.exit_code == 2
    assert "'usual'" in refused.output and "same_slot" in refused.output
    done = runner.invoke(app, ["rules", "restore", "usual", "0", "-c", str(config), "--db", db])
    assert done.exit_code == 0 and "is live" in done.output


def test_a_tuning_after_vigie_yaml_shortened_a_same_slot_rules_days_goes_live(
    system: System,
) -> None:
    """Once vigie.yaml gives a same_slot rule fewer days than its stored version (which the
    restarted engine skips: that history is not learned), a new drop goes live on the rule
    as it runs; restoring the version that cannot go live is refused, not stored as a dead
    version."""
    deep = Rule(name="dip", kind="change", metric="orders", compare="same_slot", days=14, drop=0.5)
    before = AlertingEngine([METRIC], [deep], clock=ManualClock(START))
    RuleVersions(
        engine=system.engine, rules=[deep], clock=ManualClock(START), apply=before.replace_rule
    ).tune("dip", "drop", 0.4, actor=LEA, reason="")
    short = msgspec.structs.replace(deep, days=7)
    after = AlertingEngine([METRIC], [short], clock=ManualClock(START))
    versions = RuleVersions(
        engine=system.engine, rules=[short], clock=ManualClock(START), apply=after.replace_rule
    )
    assert versions.sync() == 1 and after.rules[0] == short
    assert versions.rule("dip") == short
    versions.tune("dip", "drop", 0.3, actor=LEA, reason="after the restart")
    assert (after.rules[0].drop, after.rules[0].days) == (0.3, 7)
    with pytest.raises(Invalid, match="days and time zone"):
        versions.restore("dip", 1, actor=LEA)
    assert [v.version for v in versions.history("dip")] == [0, 1, 2]
    assert after.rules[0].drop == 0.3


PARIS = ZoneInfo("Europe/Paris")
# 2026-10-25, 03:00 in Paris becomes 02:00 (01:00 UTC): the shop's 09:00 is 07:00 UTC up to
# the Saturday, 08:00 UTC from the Sunday on.
FALL_BACK_SUNDAY = datetime(2026, 10, 25, tzinfo=PARIS)
DIP = Rule(name="dip", kind="change", metric="orders", compare="same_slot", drop=0.3)


def _paris_shop() -> list[Event]:
    """A Paris shop open 09:00-19:00 every day, the same day after day on its own clock: in
    its hour from H:00, 3 x (H - 8) orders evenly spread; eight days before the fall-back Sunday
    and that Sunday."""
    events: list[Event] = []
    for day in range(-8, 1):
        date = (FALL_BACK_SUNDAY + timedelta(days=day)).date()
        for hour in range(9, 19):
            opens = datetime(date.year, date.month, date.day, hour, tzinfo=PARIS).astimezone(UTC)
            count = 3 * (hour - 8)
            for k in range(count):
                at = opens + timedelta(seconds=(k + 0.5) * 3600 / count)
                events.append(
                    Event(message_id=f"o{len(events)}", type="track", source="web", event="Order",
                          anonymous_id="v", timestamp=at, received_at=at)
                )  # fmt: skip
    return events


def _live_incidents(rule: Rule, events: list[Event], until: datetime, timezone: str) -> int:
    """How many incidents the live engine in `timezone` opens on `events`, handed over as
    they arrive, its clock ticking every ten minutes in between as a server's does."""
    clock = ManualClock(events[0].received_at)
    fired: set[str] = set()

    class Listener:
        def alert_changed(self, alert: Alert) -> None:
            if alert.status == "firing":
                fired.add(alert.id)

    engine = AlertingEngine([USUAL], [rule], clock=clock, listeners=[Listener()], timezone=timezone)
    step = timedelta(minutes=10)
    tick = events[0].received_at + step
    for event in [*events, None]:
        at = until if event is None else event.received_at
        while tick <= at:
            clock.set(tick)
            engine.tick()
            tick += step
        if event is not None:
            clock.set(at)
            engine.process([event])
    return len(fired)


@pytest.mark.parametrize(
    ("timezone", "alerts", "false_alarms"),
    [("Europe/Paris", 0, 0), ("UTC", 1, 1)],
    ids=["site-in-paris", "utc"],
)
def test_tuning_reads_the_same_slot_on_the_sites_clock_as_the_live_engine(
    timezone: str, alerts: int, false_alarms: int
) -> None:
    """A Paris shop's same-slot drop rule, tuned over the fall-back Sunday: in the site's
    zone each hour is compared with the same hour of the shop's previous days, as live, and
    nothing drops; read in UTC its 09:00 is compared with its 10:00 of before and a drop
    fires (the alert someone judged a false alarm). Either way, as many incidents as the
    live engine in that zone opens."""
    events = _paris_shop()
    until = (FALL_BACK_SUNDAY + timedelta(days=1)).astimezone(UTC)
    sunday_9 = datetime(2026, 10, 25, 8, tzinfo=UTC)  # the shop's first hour that Sunday
    judged = [Judged(starts_at=sunday_9, ends_at=sunday_9 + timedelta(hours=2),
                     verdict="false_alarm")]  # fmt: skip
    found = suggest(DIP, USUAL, events, judged, until=until, timezone=timezone)
    assert found is not None
    assert (found.now.alerts, found.now.false_alarms_caught) == (alerts, false_alarms)
    assert found.now.alerts == _live_incidents(DIP, events, until, timezone)
    if timezone == "Europe/Paris":
        assert found.proposed is None  # nothing to remove
