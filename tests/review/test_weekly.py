"""The weekly review (issue 23): a week's KPIs against their targets and the weeks before,
its alerts with the time to acknowledge and people's verdicts, each rule's precision, the
right-to-disconnect record and silent sensors; rendered to HTML and to a PDF whose pages are
looked at as images; served by the API (audited) and written by `vigie report weekly`."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import WRITE_KEY, user_token
from vigie.auth.audit import Actor, list_audit
from vigie.cli import app as cli
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.events import Event
from vigie.review import ReviewError, week_bounds
from vigie.review.render import render_html, write_pdf
from vigie.review.weekly import week_of
from vigie.rules.alerts import Alert
from vigie.settings import Settings
from vigie.store import upgrade
from vigie.system import System, build_system
from vigie.web import create_app

SHOTS = Path(__file__).parents[2] / "test-output" / "review"
W48 = datetime(2026, 11, 23, tzinfo=UTC)  # Monday of 2026-W48
W49 = W48 + timedelta(weeks=1)
NOW = W49 + timedelta(weeks=1, hours=9)  # Monday after W49, 09:00
CONFIG = {
    "sources": [{"name": "web", "write_key": WRITE_KEY}],
    "metrics": [
        {
            "name": "orders_per_hour",
            "title": {"en": "Orders per hour", "fr": "Commandes par heure"},
            "department": "shop",
            "kind": "count",
            "where": {"event": "Order Completed"},
            "window": "1h",
        }
    ],
    "rules": [
        {"name": "orders-low", "metric": "orders_per_hour", "op": "<", "value": 1.5},
    ],
    "schedule": {
        "people": [{"name": "marie", "email": "marie@example.be", "location": "Europe/Brussels"}]
    },
    "sensors": {
        "sites": [
            {"name": "shop", "capacity": 50, "aisles": [{"name": "aisle-4"}]},
        ],
        "devices": [
            {"id": "reader-4", "key": "k" * 24, "kind": "rfid", "site": "shop",
             "aisle": "aisle-4", "silence": "2h"},
        ],
    },
}  # fmt: skip


def orders_in(hour: datetime) -> int:
    """How many orders the scenario puts in an hour of W49 (the previous week has two an
    hour): 0 to 4, changing with the hour and the day."""
    return (hour.hour + 3 * hour.weekday()) % 5


def _orders() -> list[Event]:
    events = []
    for hour in range(2 * 7 * 24):
        start = W48 + timedelta(hours=hour)
        count = 2 if start < W49 else orders_in(start)
        for n in range(count):
            at = start + timedelta(minutes=10 + 10 * n)
            events.append(
                Event(
                    message_id=f"o-{hour}-{n}",
                    type="track",
                    source="web",
                    event="Order Completed",
                    anonymous_id=f"v{n}",
                    timestamp=at,
                    received_at=at,
                )
            )
    return events


def _system(tmp_path: Path) -> System:
    config = parse_config(yaml.safe_dump(CONFIG), origin="review test")
    system = build_system(
        Settings(db_url=f"sqlite:///{tmp_path}/vigie.db", config=config), clock=ManualClock(NOW)
    )
    upgrade(system.engine)
    system.sql_log.append(_orders())
    return system


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = _system(tmp_path)
    yield built
    built.engine.dispose()


def test_weeks_are_iso_weeks_and_bad_ones_are_named() -> None:
    assert week_bounds("2026-W48") == (W48.date(), W49.date())
    assert week_bounds("2026-W53")[0].isoformat() == "2026-12-28"  # 2026 has 53 ISO weeks
    for bad in ("2025-W53", "2026-48", "W48", "2026-W4"):
        with pytest.raises(ReviewError, match="week"):
            week_bounds(bad)


def test_kpis_are_the_weeks_hourly_readings_against_the_target(system: System) -> None:
    """A 1-hour count read at every hour's end is the hour's orders: the week's value is
    their mean, each day's too, the week before had 2 an hour, the ones before nothing; the
    threshold rule (`< 1.5`) is the target, kept on average."""
    review = system.reviews.build("2026-W49")
    (line,) = review.kpis
    hours = [W49 + timedelta(hours=h) for h in range(7 * 24)]
    assert line.value == pytest.approx(statistics.fmean(orders_in(h) for h in hours))
    for day in range(7):
        mine = [orders_in(h) for h in hours if h.weekday() == day]
        assert line.days[day] == pytest.approx(statistics.fmean(mine))
    assert [(w.week, w.value) for w in line.weeks] == [
        ("2026-W46", None),
        ("2026-W47", None),
        ("2026-W48", pytest.approx(2.0)),
    ]
    assert (line.target, line.met, line.department) == ("< 1.5", True, "shop")
    assert review.events == sum(orders_in(h) for h in hours)


def test_alerts_rules_and_the_week_edges(system: System) -> None:
    """Alerts that started in the week are listed with their time to acknowledge and
    verdict; the rule's precision and median wait follow; an alert of the week before is
    not there."""
    clock = system.clock
    assert isinstance(clock, ManualClock)

    def alert(name: str, at: datetime) -> Alert:
        return Alert(
            id=name, fingerprint=name, rule="orders-low", status="resolved", severity="warning",
            starts_at=at, fired_at=at, ends_at=at + timedelta(hours=1),
            annotations={"summary_en": "Few orders", "summary_fr": "Peu de commandes"},
        )  # fmt: skip

    first, second = W49 + timedelta(days=1, hours=10), W49 + timedelta(days=3, hours=14)
    system.alerts.save([alert("a1", first), alert("a2", second), alert("old", W48)])
    for name, at, wait, verdict in (("a1", first, 30, "useful"), ("a2", second, 90, "false_alarm")):
        clock.set(at + timedelta(minutes=wait))
        system.triage.acknowledge(name, actor=Actor(name="marie"))
        system.triage.feedback(name, verdict, actor=Actor(name="marie"))
    clock.set(NOW)
    review = system.reviews.build("2026-W49")
    assert [(a.id, a.seconds_to_acknowledge, a.verdict) for a in review.alerts] == [
        ("a1", 1800.0, "useful"),
        ("a2", 5400.0, "false_alarm"),
    ]
    (rule,) = review.rules
    assert (rule.alerts, rule.useful, rule.false_alarm, rule.precision) == (2, 1, 1, 0.5)
    assert rule.median_seconds_to_acknowledge == 3600.0
    assert rule.per_day == pytest.approx(2 / 7)
    (tuning,) = review.tuning  # the judged threshold rule is backtested on the week
    assert (tuning.rule, tuning.parameter, tuning.current) == ("orders-low", "value", 1.5)
    assert (tuning.useful, tuning.false_alarms) == (1, 1)


def test_a_reader_silent_longer_than_its_limit_is_listed(system: System) -> None:
    """reader-4 (silence 2h) reads on Monday only: silent for the rest of the week."""
    at = W49 + timedelta(hours=8)
    system.sql_log.append(
        [
            Event(
                message_id=f"r{n}", type="sensor", source="sensors", event="RFID Read",
                properties={"device": "reader-4"}, site="shop", aisle="aisle-4",
                timestamp=at + timedelta(minutes=n), received_at=at + timedelta(minutes=n),
            )
            for n in range(5)
        ]
    )  # fmt: skip
    (sensor,) = system.reviews.build("2026-W49").sensors
    assert (sensor.device, sensor.readings, sensor.state) == ("reader-4", 5, "silent")
    assert sensor.longest_silence_minutes == pytest.approx((7 * 24 - 8) * 60 - 4, abs=1)


def test_a_week_not_started_is_refused(system: System) -> None:
    with pytest.raises(ReviewError, match="not started"):
        system.reviews.build("2026-W52")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_report_renders_to_html_and_a_pdf_with_every_section(
    system: System, language: str
) -> None:
    """Every section is in the page, times in the reader's zone; the PDF holds the same
    text; its pages are saved as images in test-output/review to be looked at."""
    import pypdfium2 as pdfium

    html = render_html(
        system.reviews.build("2026-W49"), language=language, timezone="Europe/Brussels"
    )
    for section in ("kpis", "alerts", "rules", "tuning", "effects", "ai", "disconnect", "sensors"):
        assert f'data-section="{section}"' in html
    assert "<script" not in html and "src=" not in html and "<link" not in html  # self-contained
    title = {"en": "Weekly review", "fr": "Revue hebdomadaire"}[language]
    kpi = {"en": "Orders per hour", "fr": "Commandes par heure"}[language]
    assert title in html and kpi in html and "<svg" in html
    path = write_pdf(html, SHOTS / f"weekly-2026-W49-{language}.pdf")
    document = pdfium.PdfDocument(str(path))
    text = " ".join(page.get_textpage().get_text_range() for page in document)
    assert title in text and kpi in text and "2026-W49" in text
    for number, page in enumerate(document):
        image = page.render(scale=1).to_pil()
        assert image.size[0] > 500
        image.save(SHOTS / f"weekly-2026-W49-{language}-page{number + 1}.png")


def test_the_api_serves_json_html_and_pdf_to_managers_and_audits_it(tmp_path: Path) -> None:
    system = _system(tmp_path)
    app = create_app(system)
    lea = {"Authorization": "Bearer " + user_token(system, username="lea", role="manager")}
    sue = {"Authorization": "Bearer " + user_token(system, username="sue", role="support")}
    with TestClient(app) as client:
        got = client.get("/api/reports/weekly", params={"week": "2026-W49"}, headers=lea)
        assert got.status_code == 200 and got.json()["kpis"][0]["metric"] == "orders_per_hour"
        page = client.get(
            "/api/reports/weekly",
            params={"week": "2026-W49", "format": "html", "language": "fr", "tz": "Europe/Paris"},
            headers=lea,
        )
        assert page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
        assert "Revue hebdomadaire" in page.text
        pdf = client.get(
            "/api/reports/weekly", params={"week": "2026-W49", "format": "pdf"}, headers=lea
        )
        assert pdf.content.startswith(b"%PDF")
        for params, field in (
            ({"week": "2026-W99"}, "week"),
            ({"week": "2026-W49", "tz": "Mars/Olympus"}, "tz"),
            ({"week": "2026-W49\x00"}, "week"),
        ):
            bad = client.get("/api/reports/weekly", params=params, headers=lea)
            assert bad.status_code == 422 and field in bad.text
        refused = client.get("/api/reports/weekly", params={"week": "2026-W49"}, headers=sue)
        assert refused.status_code == 403
    trail = list_audit(engine=system.engine, entity="weekly_review")
    assert len(trail) == 3 and {e.actor for e in trail} == {"lea"}
    system.engine.dispose()


def test_the_cli_writes_the_report(tmp_path: Path) -> None:
    """`vigie report weekly` writes the HTML and the PDF and prints their paths."""
    system = _system(tmp_path)
    system.engine.dispose()
    config = tmp_path / "vigie.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli,
        [
            "report", "weekly", "--week", "2026-W49", "--language", "fr",
            "--db", f"sqlite:///{tmp_path}/vigie.db", "-c", str(config), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "weekly-2026-W49-fr.html").read_text().count('data-section="') == 8
    assert (out / "weekly-2026-W49-fr.pdf").read_bytes().startswith(b"%PDF")
    bad = CliRunner().invoke(
        cli,
        ["report", "weekly", "--week", "2026-48", "--db", f"sqlite:///{tmp_path}/vigie.db",
         "-c", str(config), "--out", str(out)],
    )  # fmt: skip
    assert bad.exit_code == 2 and "YYYY-Www" in bad.output


def test_the_review_goes_to_the_managers_once_per_week(tmp_path: Path) -> None:
    """`review.send_to` gets one message per week and recipient, in their language, with
    the link to the Review page; a second round sends nothing more."""
    settings = {
        **CONFIG,
        "review": {"send_to": ["marie"], "dashboard_url": "https://v.example.be/"},
    }
    config = parse_config(yaml.safe_dump(settings), origin="review test")
    system = build_system(
        Settings(db_url=f"sqlite:///{tmp_path}/vigie.db", config=config), clock=ManualClock(NOW)
    )
    upgrade(system.engine)
    assert system.reviews.send("2026-W49", config.review) == 1
    assert system.reviews.send("2026-W49", config.review) == 1
    (sent,) = system.dispatcher.notifications()
    assert sent.intended_for == "marie" and sent.subject == "Revue hebdomadaire 2026-W49"
    assert "https://v.example.be/review?week=2026-W49" in sent.body
    system.engine.dispose()


def test_an_unknown_recipient_is_named() -> None:
    from vigie.config import ConfigError

    settings = {**CONFIG, "review": {"send_to": ["marie", "nobody"]}}
    with pytest.raises(ConfigError, match=r"review\.send_to\.1.*'nobody'"):
        parse_config(yaml.safe_dump(settings), origin="review test")


def test_the_model_in_service_and_the_weeks_drift(tmp_path: Path) -> None:
    """The active version, how it became active, its test metrics and shift warning, and the
    week's worst drift check of live scores (the `Lead Scores Checked` events)."""
    from vigie.ai import monitoring, versions

    settings = {**CONFIG, "ai": {"data_dir": str(tmp_path / "ai")}}
    config = parse_config(yaml.safe_dump(settings), origin="review test")
    system = build_system(
        Settings(db_url=f"sqlite:///{tmp_path}/vigie.db", config=config), clock=ManualClock(NOW)
    )
    upgrade(system.engine)
    assert system.reviews.build("2026-W49").ai is None  # no model yet
    root = config.ai.models_dir
    for version, auc in (("v0001", 0.71), ("v0002", 0.74)):
        (root / version).mkdir(parents=True)
        (root / version / "model.json").write_text("{}")
        card = {"model": "logistic", "metrics": {"auc": auc, "ece": 0.02},
                "shift": {"warning": {"en": "rate shifted", "fr": "le taux a changé"}}}  # fmt: skip
        (root / version / "card.json").write_text(json.dumps(card))
    versions.activate(root, "v0002", how="gate", reason="better", at=W49 + timedelta(days=1))
    checks = [(0.05, "none"), (0.31, "major"), (0.12, "moderate")]
    system.sql_log.append(
        [
            Event(
                message_id=f"drift-{i}", type="track", source=monitoring.SOURCE,
                event=monitoring.EVENT, properties={"psi": psi, "level": level},
                timestamp=W49 + timedelta(days=i + 1), received_at=W49 + timedelta(days=i + 1),
            )
            for i, (psi, level) in enumerate(checks)
        ]
    )  # fmt: skip
    ai = system.reviews.build("2026-W49").ai
    assert ai is not None
    assert (ai.version, ai.model, ai.auc, ai.activated) == (
        "v0002",
        "logistic",
        0.74,
        "gate 2026-12-01",
    )
    assert (ai.drift_checks, ai.worst_psi, ai.drift_level) == (3, 0.31, "major")
    assert ai.shift_warning == {"en": "rate shifted", "fr": "le taux a changé"}
    system.engine.dispose()


PARIS = {**CONFIG, "analytics": {"timezone": "Europe/Paris"}}
# 2026-W43 in Paris: Monday 19 October 00:00 (CEST, UTC+2) to Monday 26 October 00:00 (CET,
# UTC+1): the clocks went back an hour on Sunday 25 October, 03:00 becoming 02:00.
W43_START = datetime(2026, 10, 18, 22, tzinfo=UTC)
W43_END = datetime(2026, 10, 25, 23, tzinfo=UTC)
SUNDAY_23_30 = datetime(2026, 10, 25, 22, 30, tzinfo=UTC)  # Sunday 25 October, 23:30 in Paris
MONDAY_00_30 = datetime(2026, 10, 18, 22, 30, tzinfo=UTC)  # Monday 19 October, 00:30 in Paris
OCTOBER_NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _order(n: int, at: datetime, name: str = "Order Completed") -> Event:
    return Event(message_id=f"oct-{n}", type="track", source="web", event=name,
                 anonymous_id="v", timestamp=at, received_at=at)  # fmt: skip


def _every_paris_hour_of_w43() -> list[Event]:
    """Three orders (at :10, :30 and :50) in each of the 169 hours of Paris's 2026-W43, from
    18 October 22:00 UTC to 25 October 23:00 UTC, and none outside them."""
    return [
        _order(3 * hour + n, W43_START + timedelta(hours=hour, minutes=10 + 20 * n))
        for hour in range(169)
        for n in range(3)
    ]


def _october(tmp_path: Path, settings: dict[str, object], events: list[Event]) -> System:
    config = parse_config(yaml.safe_dump(settings), origin="review test")
    built = build_system(
        Settings(db_url=f"sqlite:///{tmp_path}/vigie.db", config=config),
        clock=ManualClock(OCTOBER_NOW),
    )
    upgrade(built.engine)
    built.sql_log.append(events)
    return built


@pytest.mark.parametrize(
    ("week", "start", "end", "hours"),
    [
        ("2026-W43", W43_START, W43_END, 169),
        ("2026-W44", W43_END, datetime(2026, 11, 1, 23, tzinfo=UTC), 168),
        # Spring: Monday 23 March 00:00 CET to Monday 30 March 00:00 CEST.
        ("2026-W13", datetime(2026, 3, 22, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC),
         167),
    ],
)  # fmt: skip
def test_a_week_runs_monday_to_monday_on_the_sites_clock(
    tmp_path: Path, week: str, start: datetime, end: datetime, hours: int
) -> None:
    """With `analytics.timezone: Europe/Paris`, a week starts and ends at Monday 00:00 in
    Paris: 169 hours across the October change of time, 167 across the March one."""
    system = _october(tmp_path, PARIS, [])
    review = system.reviews.build(week)
    assert (review.start, review.end, review.timezone) == (start, end, "Europe/Paris")
    assert review.end - review.start == timedelta(hours=hours)
    system.engine.dispose()


def test_the_week_of_an_instant_is_read_on_the_sites_calendar() -> None:
    """Sunday 23:30 in Paris (22:30 UTC, after the clocks went back) is still 2026-W43; the
    Monday 00:30 that opens it is in 2026-W43 in Paris but a Sunday of 2026-W42 in UTC."""
    assert week_of(SUNDAY_23_30, "Europe/Paris") == "2026-W43"
    assert week_of(W43_END, "Europe/Paris") == "2026-W44"
    assert week_of(MONDAY_00_30, "Europe/Paris") == "2026-W43"
    assert week_of(MONDAY_00_30) == "2026-W42"


def test_a_paris_weeks_hours_days_events_and_alerts_are_its_own(tmp_path: Path) -> None:
    """Three orders in every hour of Paris's W43: its 507 events are all in the week, each
    of its 169 hourly readings is 3 (the 25-hour Sunday too), and none is in W44; an alert
    started Sunday 23:30 in Paris and one at Monday 00:30 are both W43's."""
    system = _october(tmp_path, PARIS, _every_paris_hour_of_w43())
    system.alerts.save(
        [
            Alert(id=name, fingerprint=name, rule="orders-low", status="resolved",
                  severity="warning", starts_at=at, fired_at=at, ends_at=at + timedelta(hours=1))
            for name, at in (("opening", MONDAY_00_30), ("closing", SUNDAY_23_30))
        ]
    )  # fmt: skip
    review = system.reviews.build("2026-W43")
    assert review.events == 169 * 3
    (line,) = review.kpis
    assert line.value == pytest.approx(3.0)
    assert line.days == [pytest.approx(3.0)] * 7
    assert [w.week for w in line.weeks] == ["2026-W40", "2026-W41", "2026-W42"]
    assert [a.id for a in review.alerts] == ["opening", "closing"]
    following = system.reviews.build("2026-W44")
    assert following.events == 0 and following.alerts == []
    system.engine.dispose()


def test_without_a_time_zone_the_week_is_utcs(tmp_path: Path) -> None:
    """No `analytics.timezone`: W43 runs from Monday 19 October 00:00 UTC, 168 hours, and
    the first two Paris hours' six orders (Sunday 22:00-24:00 UTC) are not in it."""
    system = _october(tmp_path, CONFIG, _every_paris_hour_of_w43())
    review = system.reviews.build("2026-W43")
    assert review.start == datetime(2026, 10, 19, tzinfo=UTC)
    assert review.end - review.start == timedelta(hours=168)
    assert review.events == 169 * 3 - 6
    system.engine.dispose()


def test_the_report_cli_and_api_give_the_sites_week(tmp_path: Path) -> None:
    """`vigie report weekly` and `GET /api/reports/weekly` both read Paris's W43 (507 events,
    from 19 to 25 October) and show its dates on the site's calendar by default."""
    system = _october(tmp_path, PARIS, _every_paris_hour_of_w43())
    lea = {"Authorization": "Bearer " + user_token(system, username="lea", role="manager")}
    with TestClient(create_app(system)) as client:
        got = client.get("/api/reports/weekly", params={"week": "2026-W43"}, headers=lea).json()
        assert (got["start"], got["end"]) == ("2026-10-18T22:00:00Z", "2026-10-25T23:00:00Z")
        assert got["events"] == 507 and got["timezone"] == "Europe/Paris"
        page = client.get(
            "/api/reports/weekly", params={"week": "2026-W43", "format": "html"}, headers=lea
        )
        assert "From 2026-10-19 to 2026-10-25 (Europe/Paris)" in page.text
    system.engine.dispose()
    config = tmp_path / "vigie.yaml"
    config.write_text(yaml.safe_dump(PARIS))
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli,
        ["report", "weekly", "--week", "2026-W43", "--no-pdf", "--db",
         f"sqlite:///{tmp_path}/vigie.db", "-c", str(config), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (out / "weekly-2026-W43-en.html").read_text()
    assert "From 2026-10-19 to 2026-10-25 (Europe/Paris)" in html
    assert "507 events in the log this week" in html


def test_the_server_sends_last_week_once_it_has_ended_in_paris(tmp_path: Path) -> None:
    """At Monday 26 October 00:30 in Paris (Sunday 23:30 UTC) the server's weekly timer
    announces W43, which has ended there (in UTC it would still be announcing W42)."""
    from vigie.lifecycle import Exclusive, Periodic

    settings = {**PARIS, "review": {"send_to": ["marie"]}}
    system = _october(tmp_path, settings, [])
    clock = system.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime(2026, 10, 25, 23, 30, tzinfo=UTC))
    (processing,) = [c for c in system.services.components if c.name == "processing"]
    assert isinstance(processing, Exclusive)  # the rules' share, under its lease
    (timer,) = [c for c in processing.services.components if c.name == "weekly-review"]
    assert isinstance(timer, Periodic)
    timer.job()
    (sent,) = system.dispatcher.notifications()
    assert sent.subject == "Revue hebdomadaire 2026-W43"
    system.engine.dispose()


SAME_HOUR = {"name": "dip", "metric": "orders_per_hour", "kind": "change",
             "compare": "same_slot", "drop": 0.3}  # fmt: skip


def _paris_shop() -> list[Event]:
    """A shop open 09:00-19:00 in Paris, the same every day on its own clock (3 x (H - 8)
    orders in its hour from H:00, evenly spread), from Sunday 18 to Sunday 25 October."""
    events: list[Event] = []
    for day in range(18, 26):
        for hour in range(9, 19):
            opens = datetime(2026, 10, day, hour, tzinfo=ZoneInfo("Europe/Paris"))
            count = 3 * (hour - 8)
            for k in range(count):
                at = (opens + timedelta(seconds=(k + 0.5) * 3600 / count)).astimezone(UTC)
                events.append(_order(len(events), at))
    return events


@pytest.mark.parametrize(("zone", "alerts"), [("Europe/Paris", 0), (None, 1)])
def test_the_weeks_tuning_replays_on_the_sites_clock(
    tmp_path: Path, zone: str | None, alerts: int
) -> None:
    """A same-hour drop rule judged a false alarm on the fall-back Sunday (its 09:00, 08:00
    UTC): replayed in Paris its hours match those of the days before and it fires nowhere;
    in UTC the shop's day moved an hour and it fires once."""
    analytics = {"analytics": {"timezone": zone}} if zone else {}
    settings = {**CONFIG, **analytics, "rules": [SAME_HOUR]}
    system = _october(tmp_path, settings, _paris_shop())
    sunday_9 = datetime(2026, 10, 25, 8, tzinfo=UTC)
    system.alerts.save([Alert(id="dip-1", fingerprint="dip", rule="dip", status="resolved",
                              severity="warning", starts_at=sunday_9, fired_at=sunday_9,
                              ends_at=sunday_9 + timedelta(hours=2))])  # fmt: skip
    system.triage.feedback("dip-1", "false_alarm", actor=Actor(name="marie"))
    (tuning,) = system.reviews.build("2026-W43").tuning
    assert (tuning.rule, tuning.parameter, tuning.false_alarms) == ("dip", "drop", 1)
    assert (tuning.now.alerts, tuning.now.false_alarms_caught) == (alerts, alerts)
    system.engine.dispose()
