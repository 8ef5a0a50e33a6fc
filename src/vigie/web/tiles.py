"""The Overview's KPI tiles: each KPI's value with its department, threshold, firing state
and recent trend, joined from the KPI engine, the rules and the alerts (plain data).

A KPI's department is the metric's own (`department:` in the catalogue); for a metric that
names none, the `department` or `team` label of the rules watching it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vigie.kpi.metrics import Metric
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule

DEPARTMENT_LABELS = ("department", "team")


def department_of(rules: Iterable[Rule]) -> str | None:
    """The department named by the labels of the rules watching a metric, if any."""
    for rule in rules:
        for label in DEPARTMENT_LABELS:
            if rule.labels.get(label):
                return rule.labels[label]
    return None


def kpi_tiles(
    rows: Sequence[dict[str, Any]],
    *,
    metrics: Sequence[Metric],
    rules: Sequence[Rule],
    firing: Sequence[Alert],
    trend: Callable[[str, str], list[float | None]],
) -> list[dict[str, Any]]:
    """One tile per KPI row (metric and group), in the order of the configured metrics."""
    by_metric: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.metric is not None:
            by_metric.setdefault(rule.metric, []).append(rule)
    order = {metric.name: i for i, metric in enumerate(metrics)}
    definitions = {metric.name: metric for metric in metrics}
    tiles: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (order.get(r["metric"], len(order)), str(r["group"]))):
        name = str(row["metric"])
        watching = by_metric.get(name, [])
        threshold = next((r for r in watching if r.kind == "threshold"), None)
        labels: dict[str, str] = dict(row.get("labels") or {})
        metric = definitions.get(name)
        tiles.append(
            {
                "metric": name,
                "group": row["group"],
                "labels": labels,
                "title": metric.title if metric else {},
                "unit": metric.unit if metric else None,
                "kind": row.get("kind"),
                "department": (metric.department if metric else None) or department_of(watching),
                "value": row.get("value"),
                "late": int(row.get("late") or 0),
                "threshold": threshold.value if threshold else None,
                "op": threshold.op if threshold else None,
                "firing": [
                    alert.rule
                    for alert in firing
                    if alert.rule in {r.name for r in watching}
                    and all(alert.labels.get(k) == v for k, v in labels.items())
                ],
                "series": trend(name, str(row["group"])),
            }
        )
    return tiles
