"""The rules' calendar: their time zone, or the site's, through daylight-saving changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from vigie.cli import app
from vigie.clock import ManualClock
from vigie.config import ConfigError, parse_config
from vigie.kpi.metrics import Metric
from vigie.rules.alerts import Alert
from vigie.rules.backtest import read_samples, replay, replay_samples, series_events
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.types import from_us, to_us

PARIS = ZoneInfo("Europe/Paris")
MINUTE = 60_000_000
SPRING = datetime(2026, 3, 29, 1, tzinfo=UTC)  # the last Sundays of March and October
AUTUMN = datetime(2026, 10, 25, 1, tzinfo=UTC)
METRIC = Metric(name="visitors", kind="average", value="properties.value", window="10m")


def _shop(change: datetime, seed: int) -> list[tuple[int, int, float]]:
    """Every 10 minutes from three weeks before a change of time to four days after: the
    visitors of a shop open 09:00-19:00 in Paris (about 5 when closed, 100 when open, an
    hour to fill and to empty), with noise."""
    rng = np.random.default_rng(seed)
    start = to_us(change - timedelta(days=21, hours=1))
    rows = []
    for i in range(25 * 24 * 6):
        at = start + i * 10 * MINUTE
        local = from_us(at).astimezone(PARIS)
        hour = local.hour + local.minute / 60
        open_ = min(1.0, max(0.0, hour - 9), max(0.0, 19 - hour))
        rows.append((at, i, 5 + 95 * open_ + float(rng.normal(0, 3))))
    return rows


def _starts_near(changes: list[Alert], change: datetime) -> list[datetime]:
    """When the incidents that began from half a day before `change` to three days after
    it began."""
    return sorted(
        {
            a.starts_at
            for a in changes
            if change - timedelta(hours=12) <= a.starts_at < change + timedelta(days=3)
        }
    )


@pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["march", "october"])
def test_a_shop_in_its_time_zone_does_not_alert_at_the_change_of_time(change: datetime) -> None:
    """Issue 15: six shops open 09:00-19:00 in Paris, each with its own noise, around the last
    Sunday of March or October: the same rule in UTC, which sees them open and close an hour
    early or late, alerts on every one; under `Europe/Paris` at least five stay quiet and
    the six raise at most a fifth of UTC's alerts (noise alone may still fire, rarely)."""
    local = Rule(name="odd", kind="anomaly", metric="visitors", timezone="Europe/Paris")
    utc = Rule(name="odd", kind="anomaly", metric="visitors")
    in_paris, in_utc = [], []
    for seed in range(6):
        rows = _shop(change, seed)
        in_paris.append(len(_starts_near(replay_samples(METRIC, [local], rows), change)))
        in_utc.append(len(_starts_near(replay_samples(METRIC, [utc], rows), change)))
    assert all(in_utc), in_utc
    assert sum(1 for n in in_paris if n == 0) >= 5, in_paris
    assert sum(in_paris) * 5 <= sum(in_utc), (in_paris, in_utc)


def test_the_sites_time_zone_is_the_default_and_the_rules_own_wins() -> None:
    """A rule that names no zone follows the site's (`timezone` of the replay, as of the
    engine); a rule that names one follows its own, UTC included; the evidence names it."""
    rows = _shop(AUTUMN, 0)
    bare = Rule(name="odd", kind="anomaly", metric="visitors")
    paris = Rule(name="odd", kind="anomaly", metric="visitors", timezone="Europe/Paris")
    utc = Rule(name="odd", kind="anomaly", metric="visitors", timezone="UTC")
    in_paris = replay_samples(METRIC, [paris], rows)
    assert replay_samples(METRIC, [bare], rows, timezone="Europe/Paris") == in_paris
    assert replay_samples(METRIC, [utc], rows, timezone="Europe/Paris") == replay_samples(
        METRIC, [bare], rows
    )
    assert in_paris != replay_samples(METRIC, [bare], rows)
    assert {a.values["timezone"] for a in in_paris} == {"Europe/Paris"}
    engine = AlertingEngine(
        [METRIC], [bare], clock=ManualClock(AUTUMN), timezone="America/New_York"
    )
    assert engine.anomalies["odd"].timezone == "America/New_York"


def test_the_engines_replay_of_a_shop_fires_as_the_sample_replay(tmp_path: Path) -> None:
    """Issue 15, one code path: the full engine's replay of a shop in Paris (the site's zone)
    fires the same incidents at the same times, with the same zone in their evidence, as the
    sample replay of `vigie backtest`."""
    path = tmp_path / "shop.csv"
    rows = _shop(AUTUMN, 3)
    lines = [f"{from_us(at).isoformat()},{value:.4f}" for at, _, value in rows]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rule = Rule(name="odd", kind="anomaly", metric="visitors")
    replacement, events = series_events(path, METRIC)
    slow = replay([replacement], [rule], events, tick="10m", timezone="Europe/Paris")
    fast = replay_samples(METRIC, [rule], read_samples(path), timezone="Europe/Paris")

    def fired(changes: list[Alert]) -> list[tuple[datetime | None, float]]:
        return [(a.fired_at, a.values["value"]) for a in changes if a.status == "firing"]

    assert fired(fast) == fired(slow)
    assert fired(slow) and {a.values["timezone"] for a in slow} == {"Europe/Paris"}
    assert _starts_near(slow, AUTUMN) == []


def test_backtest_reads_the_rules_in_the_sites_time_zone(tmp_path: Path) -> None:
    """`vigie backtest --csv` runs an anomaly rule naming no zone in `analytics.timezone`:
    a shop in Paris alerts at the change of time only when the site is left in UTC."""
    path = tmp_path / "shop.csv"
    rows = _shop(SPRING, 0)
    lines = [f"{from_us(at).isoformat()},{value:.4f}" for at, _, value in rows]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "vigie.yaml"
    near = []
    for site in ("Europe/Paris", "UTC"):
        config.write_text(
            f"analytics: {{timezone: {site}}}\n"
            "metrics:\n  - {name: visitors, kind: average, value: properties.value, "
            "window: 10m}\n"
            "rules:\n  - {name: odd, kind: anomaly, metric: visitors}\n",
            encoding="utf-8",
        )
        result = CliRunner().invoke(
            app,
            ["backtest", "-c", str(config), "--csv", str(path), "--metric", "visitors", "--json"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        alerts = json.loads(result.stdout.strip().splitlines()[0])["alerts"]
        starts = [datetime.fromisoformat(a["fired_at"]) for a in alerts]
        near.append(
            [s for s in starts if SPRING - timedelta(hours=12) <= s < SPRING + timedelta(days=3)]
        )
    assert near[0] == [] and near[1]


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ("Europe/Pariss", "unknown time zone 'Europe/Pariss'"),
        ("../../etc/passwd", "unknown time zone"),
        ("localtime", "'localtime' is the server's zone"),
    ],
)
def test_a_rules_unknown_time_zone_names_the_key(zone: str, reason: str) -> None:
    """A rule's zone that is not an IANA name is refused at load, naming the rule's key
    path and line."""
    text = (
        "metrics:\n  - {name: visitors, kind: count, window: 10m}\n"
        "rules:\n"
        "  - {name: busy, kind: threshold, metric: visitors, value: 3}\n"
        f"  - {{name: odd, kind: anomaly, metric: visitors, timezone: {zone!r}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="vigie.yaml")
    assert f"vigie.yaml: rules.1.timezone (line 5): {reason}" in str(caught.value)


def test_a_rule_with_no_time_of_day_takes_no_time_zone() -> None:
    """A time zone on a rule kind that has no calendar is refused rather than ignored."""
    text = (
        "metrics:\n  - {name: visitors, kind: count, window: 10m}\n"
        "rules:\n  - {name: busy, kind: threshold, metric: visitors, value: 3, "
        "timezone: Europe/Paris}\n"
    )
    with pytest.raises(ConfigError, match=r"rules\.0\.timezone \(line 4\): only anomaly, change"):
        parse_config(text)


ZONED = {
    "change": "kind: change, metric: visitors, compare: same_slot, rise: 0.5",
    "sequential": "kind: sequential, where: {event: Order Completed}, expected_rate: 0.1",
    "absence": "kind: absence, where: {event: Order Completed}, expected_rate: 0.1",
}


@pytest.mark.parametrize("kind", sorted(ZONED))
@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ("Europe/Paris", None),
        ("Europe/Pariss", "unknown time zone 'Europe/Pariss'"),
        ("../../etc/passwd", "unknown time zone"),
        ("localtime", "'localtime' is the server's zone"),
        ("", "unknown time zone ''"),
    ],
)
def test_change_sequential_and_absence_rules_take_a_checked_time_zone(
    kind: str, zone: str, reason: str | None
) -> None:
    """Issue 15: a change (same_slot), sequential or rate-aware absence rule takes a
    `timezone` like an anomaly rule, and a bad one is refused naming the key and line."""
    text = (
        "metrics:\n  - {name: visitors, kind: count, window: 1h}\n"
        f"rules:\n  - {{name: r, {ZONED[kind]}, timezone: {zone!r}}}\n"
    )
    if reason is None:
        assert parse_config(text).rules[0].timezone == zone
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="vigie.yaml")
    assert f"vigie.yaml: rules.0.timezone (line 4): {reason}" in str(caught.value)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("kind: change, metric: visitors, rise: 0.5", "only with `compare: same_slot`"),
        ("kind: absence, where: {event: x}, silence: 10m", "only with an `expected_rate`"),
    ],
)
def test_a_time_zone_without_a_time_of_day_to_read_is_refused(rule: str, reason: str) -> None:
    """A zone on a change rule comparing with the previous window, or on a fixed-silence
    absence rule, would change nothing: it is refused, saying what would use it."""
    text = (
        "metrics:\n  - {name: visitors, kind: count, window: 1h}\n"
        f"rules:\n  - {{name: r, {rule}, timezone: Europe/Paris}}\n"
    )
    with pytest.raises(ConfigError, match=r"rules\.0\.timezone \(line 4\): .*" + reason[:20]):
        parse_config(text)


def test_a_stuck_sensors_alert_says_how_long_its_value_has_not_changed() -> None:
    """A 5-minute temperature frozen at one reading for two hours: its alert's evidence says
    the value has not changed for N samples since the first frozen window, live and in the
    replay alike, and no evidence of the days before says so."""
    from vigie.kpi.metrics import NO_GROUP
    from vigie.rules.anomalies import AnomalyWatch

    rng = np.random.default_rng(4)
    step = 5 * MINUTE
    start = to_us(datetime(2026, 11, 2, tzinfo=UTC))
    ends = [start + (i + 1) * step for i in range(4 * 288)]
    values = [
        round(40 + 3 * np.sin(i / 288 * 2 * np.pi) + rng.normal(0, 0.6), 2)
        for i in range(len(ends))
    ]
    frozen = 3 * 288 + 100
    values[frozen : frozen + 24] = [values[frozen]] * 24
    rule = Rule(name="temperature-odd", kind="anomaly", metric="temperature")
    live = AnomalyWatch(rule, step_us=step)
    observed = [live.observe(NO_GROUP, e, v) for e, v in zip(ends, values, strict=True)]
    replayed = AnomalyWatch(rule, step_us=step).replay(NO_GROUP, ends, values)
    assert [e and e.get("unchanged") for e in observed] == [
        e and e.get("unchanged") for e in replayed
    ]
    said = [(i, e["unchanged"]) for i, e in enumerate(replayed) if e and "unchanged" in e]
    assert said, "the frozen stretch raised no alert saying so"
    assert all(frozen + 7 <= i < frozen + 24 for i, _ in said)
    for i, unchanged in said:
        assert unchanged == {"samples": i - frozen + 1, "since": from_us(ends[frozen]).isoformat()}


def test_a_count_outage_is_not_called_a_stuck_source() -> None:
    """Five-minute order counts that drop to zero for two and a half hours: the outage is
    alerted while it lasts, live and in the replay alike, and no evidence says the source
    may be stuck (zeros are nothing happening, not a frozen reading)."""
    from vigie.kpi.metrics import NO_GROUP
    from vigie.rules.anomalies import AnomalyWatch

    rng = np.random.default_rng(3)
    step = 5 * MINUTE
    start = to_us(datetime(2026, 11, 2, tzinfo=UTC))
    ends = [start + (i + 1) * step for i in range(6 * 288)]
    values = [float(rng.poisson(10 + 5 * np.sin(i / 288 * 2 * np.pi))) for i in range(len(ends))]
    values[1500:1530] = [0.0] * 30
    rule = Rule(name="orders-odd", kind="anomaly", metric="orders")
    live = AnomalyWatch(rule, step_us=step)
    observed = [live.observe(NO_GROUP, e, v) for e, v in zip(ends, values, strict=True)]
    replayed = AnomalyWatch(rule, step_us=step).replay(NO_GROUP, ends, values)
    for evidences in (observed, replayed):
        assert all(evidences[i] is not None for i in range(1510, 1530)), "the outage went unseen"
        assert not [i for i, e in enumerate(evidences) if e and "unchanged" in e]
