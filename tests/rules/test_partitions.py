"""The rules shared out by partition of the log (`vigie.rules.partitions`)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from vigie.clock import ManualClock
from vigie.events import Event
from vigie.kpi.metrics import Metric
from vigie.kpi.partitions import Partitioning
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.partitions import RulesPartition, RuleSplit

METRICS = [
    Metric(name="orders", where={"event": "Order Completed"}, by=["campaign"], window="1h"),
    Metric(name="all-orders", where={"event": "Order Completed"}, window="1h"),
    Metric(name="per-page", by=["page"], window="1h"),
]
RULES = [
    Rule(name="busy", metric="orders", op=">=", value=30),
    Rule(name="busy-anywhere", metric="all-orders", op=">=", value=100),
    Rule(name="quiet", metric="orders", op="<", value=1),
    Rule(name="busy-page", metric="per-page", op=">=", value=5),
    Rule(name="both", kind="all", rules=["quiet", "busy-page"]),
]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _orders(campaigns: int, each: int) -> list[Event]:
    events = []
    for n in range(each):
        for c in range(campaigns):
            events.append(
                Event(
                    message_id=f"c{c}-{n}",
                    source="web",
                    type="track",
                    event="Order Completed",
                    timestamp=NOW,
                    received_at=NOW,
                    properties={"campaign": f"c{c}"},
                    offset=len(events) + 1,
                )
            )
    return events


def test_a_rule_on_a_metric_grouped_by_the_key_is_partitioned_and_the_others_are_not() -> None:
    """Only threshold/change/anomaly rules on a metric grouped by the key go to partitions;
    a global metric's rule and a composite with its parts run on the whole log."""
    split = RuleSplit(METRICS, RULES, Partitioning(count=4, key="campaign"))
    assert [r.name for r in split.partitioned] == ["busy"]
    assert [r.name for r in split.whole] == ["busy-anywhere", "quiet", "busy-page", "both"]
    assert [m.name for m in split.partition_metrics] == ["orders"]
    assert [m.name for m in split.whole_metrics] == ["orders", "all-orders", "per-page"]


def test_a_log_of_one_partition_partitions_nothing() -> None:
    """With one partition every rule runs on the whole log."""
    split = RuleSplit(METRICS, RULES, Partitioning(count=1, key="campaign"))
    assert split.partitioned == [] and len(split.whole) == len(RULES)


def test_an_event_and_its_kpi_group_fall_in_the_same_partition() -> None:
    """The partition of an event equals that of its group's label; no key is partition 0."""
    partitioning = Partitioning(count=5, key="campaign")
    of = partitioning.reader()
    seen = set()
    for event in _orders(40, 1):
        p = of(event)
        assert p == partitioning.of_labels({"campaign": event.properties["campaign"]})
        seen.add(p)
    assert seen == set(range(5))
    assert of(msgspec.structs.replace(_orders(1, 1)[0], properties={})) == 0
    assert partitioning.of_labels({"campaign": "(none)"}) == 0


def test_a_partitioning_names_a_bad_count_or_key() -> None:
    """Zero partitions, or a key that cannot be read, is refused with the reason."""
    with pytest.raises(ValueError, match="partitions"):
        Partitioning(count=0)
    with pytest.raises(ValueError, match=r"a\.\.b"):
        Partitioning(count=2, key="a..b")


def test_the_partitions_together_count_and_alert_as_one_engine() -> None:
    """Each event fed to every partition: each counts its own, and the KPI values and
    alerts of all partitions equal one engine's over the same events, none twice."""
    clock = ManualClock(NOW)
    partitioning = Partitioning(count=3, key="campaign")
    split = RuleSplit(METRICS, RULES, partitioning)

    def build(metrics: list[Metric], rules: list[Rule], **kwargs: object) -> AlertingEngine:
        return AlertingEngine(metrics, rules, clock=clock, **kwargs)  # type: ignore[arg-type]

    parts = [RulesPartition(k, split=split, build=build) for k in range(3)]
    for part in parts:
        part.engine = build(split.partition_metrics, split.partitioned, keeps=part.keeps)
    single = AlertingEngine(split.partition_metrics, split.partitioned, clock=clock)
    events = _orders(12, 35)
    for start in range(0, len(events), 50):
        batch = events[start : start + 50]
        single.process(batch)
        for part in parts:
            part.process(batch)
    merged = sorted(
        (row["group"], row["value"]) for part in parts for row in part._held().snapshot()
    )
    assert merged == sorted((row["group"], row["value"]) for row in single.snapshot())
    fired = sorted(a.values["group"] for p in parts for a in p._held().active_alerts())
    assert fired == sorted(a.values["group"] for a in single.active_alerts())
    assert len(fired) == 12
