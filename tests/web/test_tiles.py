"""KPI tiles: department, threshold and firing state joined from metrics, rules and alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from vigie.catalogue import load_catalogue
from vigie.kpi.metrics import Metric
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.web.tiles import kpi_tiles

METRICS = [
    msgspec.convert({"name": "signups", "title": {"en": "Sign-ups", "fr": "Inscriptions"}}, Metric),
    msgspec.convert({"name": "tickets", "unit": "tickets"}, Metric),
]
RULES = [
    msgspec.convert(
        {
            "name": "surge",
            "metric": "signups",
            "op": ">",
            "value": 5,
            "labels": {"department": "marketing"},
        },
        Rule,
    ),
    msgspec.convert(
        {
            "name": "tickets-change",
            "kind": "change",
            "metric": "tickets",
            "drop": 0.5,
            "labels": {"team": "support"},
        },
        Rule,
    ),
]


def _alert(rule: str, labels: dict[str, str]) -> Alert:
    at = datetime(2026, 11, 27, 12, tzinfo=UTC)
    return Alert(fingerprint="f", rule=rule, status="firing", labels=labels, starts_at=at)


def test_tiles_join_department_threshold_and_firing() -> None:
    """Each row gets its rules' department label, the threshold rule's value and op, and
    the firing rules whose alert labels match the row's group."""
    rows = [
        {"metric": "tickets", "group": "", "labels": {}, "value": 3.0, "kind": "count"},
        {"metric": "signups", "group": "c=a", "labels": {"c": "a"}, "value": 9.0, "kind": "count"},
        {"metric": "signups", "group": "c=b", "labels": {"c": "b"}, "value": 1.0, "kind": "count"},
    ]
    tiles = kpi_tiles(
        rows,
        metrics=METRICS,
        rules=RULES,
        firing=[_alert("surge", {"c": "a", "department": "marketing"})],
        trend=lambda metric, group: [1.0, 2.0] if group == "c=a" else [],
    )
    assert [(t["metric"], t["group"]) for t in tiles] == [
        ("signups", "c=a"),
        ("signups", "c=b"),
        ("tickets", ""),
    ]
    first, second, third = tiles
    assert first["department"] == "marketing" and first["title"]["fr"] == "Inscriptions"
    assert (first["threshold"], first["op"]) == (5, ">")
    assert first["firing"] == ["surge"] and second["firing"] == []
    assert first["series"] == [1.0, 2.0]
    assert third["department"] == "support" and third["threshold"] is None
    assert third["unit"] == "tickets"


def test_a_kpi_without_rules_has_no_department() -> None:
    """A metric no rule watches is shown without department, threshold or alert."""
    rows = [{"metric": "other", "group": "", "labels": {}, "value": None}]
    (tile,) = kpi_tiles(rows, metrics=METRICS, rules=RULES, firing=[], trend=lambda m, g: [])
    assert tile["department"] is None and tile["threshold"] is None and tile["firing"] == []


def test_a_metric_names_its_own_department() -> None:
    """Issue 14: a metric's `department` places its tile, before any rule label; a metric
    without one still takes its rules' label."""
    metrics = [
        msgspec.convert({"name": "signups", "department": "sales"}, Metric),
        msgspec.convert({"name": "tickets"}, Metric),
        msgspec.convert({"name": "payments", "department": "finance"}, Metric),
    ]
    rows = [
        {"metric": name, "group": "*", "labels": {}, "value": 1.0}
        for name in ("signups", "tickets", "payments")
    ]
    tiles = kpi_tiles(rows, metrics=metrics, rules=RULES, firing=[], trend=lambda m, g: [])
    assert [t["department"] for t in tiles] == ["sales", "support", "finance"]


def test_every_catalogue_tile_has_a_department() -> None:
    """Issue 14: with the shipped catalogue no KPI tile falls under "Other"."""
    catalogue = load_catalogue()
    rows = [{"metric": m.name, "group": "*", "labels": {}, "value": 0.0} for m in catalogue.metrics]
    tiles = kpi_tiles(
        rows, metrics=catalogue.metrics, rules=catalogue.rules, firing=[], trend=lambda m, g: []
    )
    assert [t["metric"] for t in tiles if t["department"] is None] == []
