"""`vigie demo`: the server on the embedded store, with a scenario played into it live."""

from __future__ import annotations

import os
import random
import secrets
import time
from collections import Counter
from datetime import date, datetime
from datetime import time as clock_time
from importlib.resources import files
from typing import Any

import httpx
import msgspec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from vigie.analytics import AnalyticsConfig
from vigie.analytics.campaigns import Campaign, Schedule
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.settings import Settings
from vigie.simulate import CrmScenario, LunchCampaign
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

BATCH = 200
# The commented example configuration that ships inside the package; the demo runs it.
EXAMPLE = files("vigie") / "example.yaml"
CHECKOUT_BREAKS_AT = clock_time(12, 20)


def lunch_analytics() -> AnalyticsConfig:
    """The funnel and campaign the demo follows (the same as in vigie.example.yaml)."""
    return AnalyticsConfig(
        timezone="Europe/Brussels",
        funnels=[
            Funnel(
                name="lunch-checkout",
                description="from the lunch-deal landing page to a paid order",
                slot_minutes=10,
                steps=[
                    FunnelStep(page="/lunch-deal"),
                    FunnelStep(event="Product Added"),
                    FunnelStep(event="Checkout Started"),
                    FunnelStep(event="Order Completed", where={"currency": "EUR"}),
                ],
            )
        ],
        campaigns=[
            Campaign(
                name="lunch-deal",
                channel="paid_social",
                utm_campaign="lunch-deal",
                utm_id="cmp-lunch-2026",
                schedule=Schedule(
                    start="12:00",
                    end="13:00",
                    timezone="Europe/Brussels",
                    days=["mon", "tue", "wed", "thu", "fri"],
                ),
                signups=["Newsletter Signed Up", "Signed Up"],
            )
        ],
    )


def _announce_dashboard(system: Any, url: str, console: Console) -> None:
    """Make sure a `demo` user can sign in to the dashboard, and say how."""
    from vigie.auth.users import UserError, create_user

    password = os.environ.get("VIGIE_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    try:
        create_user(
            engine=system.engine,
            username="demo",
            password=password,
            role="admin",
            display_name="Demo",
            now=system.clock.now(),
        )
    except UserError:
        console.print(f"Dashboard / tableau de bord: {url}/  (user [bold]demo[/bold], as before)")
        return
    console.print(
        f"Dashboard / tableau de bord: {url}/  user [bold]demo[/bold], "
        f"password [bold]{password}[/bold]"
    )


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
    if not settings.config.analytics.funnels:
        config = msgspec.structs.replace(settings.config, analytics=lunch_analytics())
        settings = msgspec.structs.replace(settings, config=config)
    scenario = LunchCampaign(
        day=date.today(),
        visitors=visitors,
        seed=seed if seed is not None else random.randrange(1 << 30),
        checkout_breaks_at=CHECKOUT_BREAKS_AT,
    )
    app = create_app(build_system(settings))
    with BackgroundServer(app, host=host, port=port) as server:
        console.print(
            f"[bold]Vigie demo[/bold] on {server.url}  (events: {server.url}/api/events, "
            f"API docs: {server.url}/docs, metrics: {server.url}/metrics)"
        )
        console.print(
            f"Write key of source '{settings.config.sources[0].name}': [bold]{write_key}[/bold]"
        )
        _announce_dashboard(app.state.system, server.url, console)
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
            f"Scenario played: {totals['accepted']} events accepted, "
            f"{totals['duplicates']} duplicates; "
            f"{app.state.system.log.count()} events in the log."
        )
        app.state.system.runner.run_once()
        _show_funnel(app.state.system, server.url, console)
        _print_alerts(app.state.system, server.url, console)
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
            # History before the campaign (earlier visits) is sent at once; from the start
            # of the campaign on, events arrive at `speed` times real time.
            first = first or max(at, scenario.start())
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


def _show_funnel(system: Any, url: str, console: Console) -> None:
    """Print the live funnel by 10-minute slot: the checkout break at 12:20 shows at once."""
    for funnel in system.settings.config.analytics.funnels:
        report = system.analytics.funnel_report(funnel.name, dropped_limit=0)
        if report is None or not report.entered:
            continue
        table = Table(title=f"Funnel {funnel.name} ({url}/api/funnels/{funnel.name})")
        table.add_column("slot / créneau")
        for step in report.steps:
            table.add_column(step.name, justify="right")
        table.add_column("checkout → paid", justify="right")
        for slot, counts in report.by_slot.items():
            paid = f"{counts[-1] / counts[-2]:.0%}" if counts[-2] else "-"
            table.add_row(slot, *(str(c) for c in counts), paid)
        table.add_section()
        last, before = report.steps[-1].visitors, report.steps[-2].visitors
        paid = f"{last / before:.0%}" if before else "-"
        table.add_row("total", *(str(s.visitors) for s in report.steps), paid)
        console.print(table)


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


def _print_alerts(system: Any, url: str, console: Console) -> None:
    """Once the rules have seen every event, list the alerts the scenario raised."""
    deadline = time.monotonic() + 30
    while system.alerting.last_offset < system.log.last_offset() and time.monotonic() < deadline:
        time.sleep(0.1)
    # Read from the store, as GET /api/alerts does (the API needs a signed-in user).
    alerts = msgspec.to_builtins(system.alerts.list(limit=50))
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
