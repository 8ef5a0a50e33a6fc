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
from vigie.simulate import CrmScenario, LunchCampaign
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
        crm = CrmScenario(day=scenario.day, seed=scenario.seed)
        loaded = _load_crm(crm, server.url, write_key)
        console.print(
            f"CRM loaded: {loaded} events (companies, staff, pipeline, tickets, invoices) "
            f"/ CRM chargé"
        )
        totals = _play(scenario, server.url, write_key, console=console, once=once, speed=speed)
        if totals["rejected"]:
            console.print(f"[red]{totals['rejected']} messages were rejected[/red]")
            return 1
        console.print(
            f"Scenario played: {totals['accepted']} events in the log, "
            f"{totals['duplicates']} duplicates."
        )
        if once:
            return 0
        console.print(f"Serving on {server.url} until Ctrl-C.")
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print("Stopping.")
    return 0


def _load_crm(scenario: CrmScenario, url: str, write_key: str) -> int:
    """Post the CRM scenario's events; the CRM processor builds the CRM tables from them."""
    messages = list(scenario.messages())
    accepted = 0
    with httpx.Client(base_url=url, auth=(write_key, ""), timeout=30) as client:
        for start in range(0, len(messages), BATCH):
            response = client.post("/v1/batch", json={"batch": messages[start : start + BATCH]})
            accepted += int(response.json().get("accepted", 0))
    return accepted


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
