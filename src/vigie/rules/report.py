"""The printed report of alerts, for `vigie backtest`: when each alert changed, and why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from vigie.rules.alerts import Alert


def why(alert: Alert) -> str:
    """A one-line reason: the summary if the rule has one, else the key values."""
    if alert.annotations.get("summary"):
        return alert.annotations["summary"]
    keys = ("value", "reference", "change", "threshold", "expected", "z", "breaches", "silent_s")
    parts = [f"{k}={_short(alert.values[k])}" for k in keys if k in alert.values]
    return ", ".join(parts)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_alerts(changes: Sequence[Alert], *, console: Console, as_json: bool) -> None:
    """Print each change (JSON lines with `as_json`), then a count of alerts that fired."""
    fired = sum(1 for a in changes if a.status == "firing")
    if as_json:
        for alert in changes:
            print(msgspec.json.encode(alert).decode())
        print(msgspec.json.encode({"changes": len(changes), "fired": fired}).decode())
        return
    table = Table(title="Backtest: alert changes / changements d'alertes")
    for column in ("time", "rule", "status", "group", "why"):
        table.add_column(column)
    for alert in changes:
        moment = (
            alert.ends_at if alert.status == "resolved" else (alert.fired_at or alert.starts_at)
        )
        group = ", ".join(
            f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity")
        )
        table.add_row(
            moment.isoformat() if moment else "", alert.rule, alert.status, group, why(alert)
        )
    console.print(table)
    console.print(f"{fired} alert(s) fired / alerte(s) déclenchée(s), {len(changes)} change(s)")
