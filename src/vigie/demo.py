"""`vigie demo`: the server on the embedded store, with a scenario played into it live."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import date, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from vigie.settings import Settings
from vigie.simulate import LunchCampaign
from vigie.web import create_app
from vigie.web.server import BackgroundServer

BATCH = 200


def run_demo(
    settings: Settings,
    *,
    console: Console,
    once: bool,
    host: str,
    port: int,
    visitors: int,
    speed: float,
    seed: int | None,
) -> int:
    """Play the lunch-time campaign into a live server; returns the process exit code."""
    write_key = settings.config.sources[0].write_key
    scenario = LunchCampaign(
        day=date.today(),
        visitors=visitors,
        seed=seed if seed is not None else random.randrange(1 << 30),
    )
    app = create_app(settings)
    with BackgroundServer(app, host=host, port=port) as server:
        console.print(
            f"[bold]Vigie demo[/bold] on {server.url}  (events: {server.url}/api/events, "
            f"API docs: {server.url}/docs, metrics: {server.url}/metrics)"
        )
        console.print(f"Write key of source 'default': [bold]{write_key}[/bold]")
        console.print(
            f"Replaying the lunch-time campaign of {scenario.day} "
            f"(12:00-13:00 {scenario.timezone}), "
            f"{visitors} visitors" + (", fast-forwarded" if once else f", at {speed:g}x")
        )
        totals = _play(scenario, server.url, write_key, console=console, once=once, speed=speed)
        if totals["rejected"]:
            console.print(f"[red]{totals['rejected']} messages were rejected[/red]")
            return 1
        console.print(
            f"Scenario played: {totals['accepted']} events in the log, "
            f"{totals['duplicates']} duplicates."
        )
        _print_alerts(app.state.runtime, server.url, console)
        if once:
            return 0
        console.print(f"Serving on {server.url} until Ctrl-C.")
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print("Stopping.")
    return 0


def _play(
    scenario: LunchCampaign, url: str, write_key: str, *, console: Console, once: bool, speed: float
) -> Counter[str]:
    totals: Counter[str] = Counter()
    by_event: Counter[str] = Counter()
    pending: list[dict[str, Any]] = []
    started = time.monotonic()
    first: datetime | None = None
    with (
        httpx.Client(base_url=url, auth=(write_key, ""), timeout=30) as client,
        Live(_table(by_event, totals, None), console=console, refresh_per_second=4) as live,
    ):

        def flush(now: datetime | None) -> None:
            if not pending:
                return
            response = client.post("/v1/batch", json={"batch": pending})
            body = response.json()
            totals["accepted"] += body.get("accepted", 0)
            totals["duplicates"] += body.get("duplicates", 0)
            totals["rejected"] += len(body.get("rejected", []))
            pending.clear()
            live.update(_table(by_event, totals, now))

        for message in scenario.messages():
            at = datetime.fromisoformat(message["timestamp"])
            first = first or at
            if not once:
                due = (at - first).total_seconds() / speed
                wait = due - (time.monotonic() - started)
                if wait > 0:
                    flush(at)
                    time.sleep(wait)
            pending.append(message)
            by_event[message.get("event") or message["type"]] += 1
            if len(pending) >= BATCH:
                flush(at)
        flush(None)
    return totals


def _table(by_event: Counter[str], totals: Counter[str], now: datetime | None) -> Table:
    title = f"Lunch-time campaign — {now:%H:%M:%S}" if now else "Lunch-time campaign"
    table = Table(title=title)
    table.add_column("event")
    table.add_column("sent", justify="right")
    for name, count in by_event.most_common():
        table.add_row(name, str(count))
    table.add_section()
    for key in ("accepted", "duplicates", "rejected"):
        table.add_row(key, str(totals[key]))
    return table


def _print_alerts(runtime: Any, url: str, console: Console) -> None:
    """Once the rules have seen every event, list the alerts the scenario raised."""
    deadline = time.monotonic() + 30
    while runtime.alerting.last_offset < runtime.log.last_offset() and time.monotonic() < deadline:
        time.sleep(0.1)
    alerts = httpx.get(f"{url}/api/alerts", params={"limit": 50}, timeout=30).json()["alerts"]
    table = Table(title="Alerts / Alertes")
    for column in ("rule", "status", "group", "summary"):
        table.add_column(column)
    for alert in alerts:
        group = ", ".join(
            f"{k}={v}"
            for k, v in alert["labels"].items()
            if k not in ("alertname", "severity", "team")
        )
        summary = alert["annotations"].get("summary_fr") or alert["annotations"].get("summary", "")
        table.add_row(alert["rule"], alert["status"], group, summary)
    console.print(table)
    console.print(f"Live alerts: {url}/api/alerts/stream  (KPIs: {url}/api/kpis)")
