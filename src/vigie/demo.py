"""`vigie demo`: the server on the embedded store, with a scenario played into it live."""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from vigie.analytics import AnalyticsConfig
from vigie.analytics.campaigns import Campaign, Schedule
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.clock import ShiftedClock
from vigie.settings import Settings
from vigie.simulate import CrmScenario, LunchCampaign
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.i18n import (
    Translator,
    format_number,
    format_percent,
    terminal_language,
    terminal_time_zone,
    weekday_name,
)
from vigie.web.server import BackgroundServer

BATCH = 200
# The demo's own store, emptied at each start so that every run tells the same story.
DEMO_DATA = Path("vigie-data") / "demo"
# Put in a folder the demo made (its store, its AI folder): the demo may empty or overwrite it.
DEMO_MARK = ".made-by-vigie-demo"
# The commented example configuration that ships inside the package; the demo runs it.
EXAMPLE = files("vigie") / "example.yaml"
BRUSSELS = ZoneInfo("Europe/Brussels")
CHECKOUT_BREAKS_AT = clock_time(12, 20)
# The orders queue falls behind from 12:25; with a 15-minute SLA it breaches about 12:40.
SUPPORT_BREACHES_AT = clock_time(12, 40)
AFTER_LUNCH = clock_time(14, 0)
HALF_PAST_FIVE = clock_time(17, 30)
WORKING_DAYS = frozenset({1, 2, 3, 4})
"""Tuesday to Friday (Monday is 0): the days when the example's office, support shifts, shop
and lunch-time campaign all run, so that every chapter of the demo finds someone at work."""


def demo_day(now: datetime) -> date:
    """The day the demo plays: `now`'s date in Brussels if it is one of the `WORKING_DAYS`,
    else the last one before it (a Saturday, a Sunday or a Monday play the Friday before).
    At a weekend nobody is at work: the support rush would move nobody and the chat's
    invitation would find no agent on duty."""
    day = now.astimezone(BRUSSELS).date()
    while day.weekday() not in WORKING_DAYS:
        day -= timedelta(days=1)
    return day


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


@dataclass(frozen=True)
class Narrator:
    """How the demo speaks to the person at the terminal: every line in their language, its
    numbers written as they write them, its times in their time zone (the zone is named when
    it is not the story's, Brussels, so that 11:20 UTC reads as the 12:20 break)."""

    language: str
    zone: tzinfo | None = None  # None: the system's local time
    translate: Translator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "translate", Translator(self.language))

    @classmethod
    def of_terminal(cls, environ: Mapping[str, str]) -> Narrator:
        """The narrator for the terminal whose locale and time zone `environ` gives."""
        return cls(terminal_language(environ), terminal_time_zone(environ))

    def __call__(self, key: str, /, **values: Any) -> str:
        return self.translate(key, **values)

    def number(self, value: float) -> str:
        return format_number(self.language, value)

    def percent(self, ratio: float, *, signed: bool = False) -> str:
        return format_percent(self.language, ratio, signed=signed)

    def status(self, status: str) -> str:
        """A run's, a step's or an alert's status in the reader's words ("réussie")."""
        key = f"js.status.{status}"
        text = self.translate(key)
        return status if text == key else text

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def when(self, moment: datetime) -> str:
        """The day of the week and the time, "vendredi 12:20", in the reader's time zone."""
        local = self.local(moment)
        return f"{weekday_name(self.language, local)} {local:%H:%M}{self._zone_name(local)}"

    def clock(self, moment: datetime) -> str:
        """The time to the second, "12:05:00", in the reader's time zone."""
        local = self.local(moment)
        return f"{local:%H:%M:%S}{self._zone_name(local)}"

    @staticmethod
    def _zone_name(local: datetime) -> str:
        """ " UTC" after a time read in another zone than the story's; nothing in Brussels."""
        if local.utcoffset() != local.astimezone(BRUSSELS).utcoffset():
            return f" {local:%Z}"
        return ""

    def heading(self, key: str, /, **values: Any) -> str:
        """A translated line that opens a chapter, with a capital even when it starts with a
        French day name ("Vendredi 12:20 — …")."""
        text = self(key, **values)
        return f"[bold]{text[:1].upper()}{text[1:]}[/bold]"


class DemoStoreError(Exception):
    """The demo's folder holds something the demo did not make."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"{folder} was not made by vigie demo: the demo empties its folder at each "
            "start and leaves this one alone; move it away or pass --db"
        )
        self.folder = folder


def fresh_demo_store(folder: Path = DEMO_DATA) -> str:
    """The URL of an empty SQLite store in `folder`, the demo's own: what an earlier demo left
    there is removed first, so a second run tells the same story as the first (its sensor
    readings, display placements and visitors do not pile up on the first run's). A folder
    the demo did not make is refused rather than emptied."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / DEMO_MARK).exists():
            raise DemoStoreError(folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARK).write_text("vigie demo\n", encoding="utf-8")
    return f"sqlite:///{folder / 'vigie.db'}"


def _announce_dashboard(system: Any, url: str, console: Console, say: Narrator) -> None:
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
        console.print(say("demo.dashboard_again", url=url, user="[bold]demo[/bold]"))
        return
    console.print(
        say(
            "demo.dashboard", url=url, user="[bold]demo[/bold]", password=f"[bold]{password}[/bold]"
        )
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
    # The demo's own clock: the chat scene happens at the 12:20 break it tells of.
    clock = ShiftedClock()
    today = clock.now().astimezone(BRUSSELS).date()
    scenario = LunchCampaign(
        day=demo_day(clock.now()),
        visitors=visitors,
        seed=seed if seed is not None else random.randrange(1 << 30),
        checkout_breaks_at=CHECKOUT_BREAKS_AT,
    )
    say = Narrator.of_terminal(os.environ)
    app = create_app(build_system(settings, clock=clock))
    with BackgroundServer(app, host=host, port=port) as server:
        console.print(f"[bold]{say('demo.title')}[/bold] {say('demo.server', url=server.url)}")
        console.print(
            say(
                "demo.write_key",
                source=settings.config.sources[0].name,
                key=f"[bold]{write_key}[/bold]",
            )
        )
        _announce_dashboard(app.state.system, server.url, console, say)
        if scenario.day != today:
            console.print(
                say(
                    "demo.day_moved",
                    today=weekday_name(say.language, today),
                    weekday=weekday_name(say.language, scenario.day),
                    day=scenario.day.isoformat(),
                )
            )
        console.print(campaign_line(say.language, scenario, once=once, speed=speed))
        zone = ZoneInfo(scenario.timezone)
        # The rules' playbooks (the support SLA's reallocation) run at the time of the rush;
        # the clock moves before any event arrives (event time runs on from the arrivals).
        clock.move_to(datetime.combine(scenario.day, SUPPORT_BREACHES_AT, tzinfo=zone))
        crm = CrmScenario(day=scenario.day, seed=scenario.seed)
        loaded = _load_crm(crm, server.url, write_key)
        console.print(say("demo.crm_loaded", events=say.number(loaded)))
        totals = _play(
            scenario, server.url, write_key, console=console, say=say, once=once, speed=speed
        )
        if totals["rejected"]:
            console.print(
                f"[red]{say('demo.rejected', count=say.number(totals['rejected']))}[/red]"
            )
            return 1
        console.print(
            say(
                "demo.played",
                accepted=say.number(totals["accepted"]),
                duplicates=say.number(totals["duplicates"]),
                log=say.number(app.state.system.log.count()),
            )
        )
        system = app.state.system
        system.runner.run_once()
        _show_funnel(system, server.url, console, say)
        _print_alerts(system, server.url, console, say)
        clock.move_to(datetime.combine(scenario.day, CHECKOUT_BREAKS_AT, tzinfo=zone))
        _proactive_chat_at_twenty_past_twelve(system, server.url, console, say)
        _support_rush(system, console, say)
        _a_day_in_the_shop(system, server.url, console, say)
        _sales_day_in_the_city(system, server.url, console, say)
        clock.move_to(datetime.combine(scenario.day, AFTER_LUNCH, tzinfo=zone))
        _leads_for_each_rep(system, server.url, console, say)
        clock.move_to(datetime.combine(scenario.day, HALF_PAST_FIVE, tzinfo=zone))
        _half_past_five(system, console, say)
        console.print(say("demo.log_total", count=say.number(system.log.count())))
        _the_week_in_review(system, server.url, console, say)
        if once:
            return 0
        console.print(say("demo.serving", url=server.url))
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print(say("demo.stopping"))
    return 0


def campaign_line(language: str, scenario: LunchCampaign, *, once: bool, speed: float) -> str:
    """The line that opens the lunch-time campaign, in `language`: its day, its hour, its
    visitors and how fast it is replayed (fast-forwarded, or `speed` times real time)."""
    translate = Translator(language)
    key = "demo.campaign_fast" if once else "demo.campaign_paced"
    return translate(
        key,
        weekday=weekday_name(language, scenario.day),
        day=scenario.day.isoformat(),
        timezone=scenario.timezone,
        visitors=format_number(language, scenario.visitors),
        speed=f"{speed:g}".replace(".", ",") if language == "fr" else f"{speed:g}",
    )


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
    scenario: LunchCampaign,
    url: str,
    write_key: str,
    *,
    console: Console,
    say: Narrator,
    once: bool,
    speed: float,
) -> Counter[str]:
    totals: Counter[str] = Counter()
    by_event: Counter[str] = Counter()
    pending: list[dict[str, Any]] = []
    started = time.monotonic()
    first: datetime | None = None
    with (
        httpx.Client(base_url=url, auth=(write_key, ""), timeout=30) as client,
        Live(_table(by_event, totals, None, say), console=console, refresh_per_second=4) as live,
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
            live.update(_table(by_event, totals, now, say))

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


def _show_funnel(system: Any, url: str, console: Console, say: Narrator) -> None:
    """Print the live funnel by 10-minute slot of the site's time (the campaign's line names
    its zone): the checkout break at 12:20 shows at once."""
    for funnel in system.settings.config.analytics.funnels:
        report = system.analytics.funnel_report(funnel.name, dropped_limit=0)
        if report is None or not report.entered:
            continue
        address = f"{url}/api/funnels/{funnel.name}"
        table = Table(title=say("demo.funnel_title", funnel=funnel.name, url=address))
        table.add_column(say("demo.funnel_slot"))
        for step in report.steps:
            table.add_column(step.name, justify="right")
        table.add_column(say("demo.funnel_paid"), justify="right")
        for slot, counts in report.by_slot.items():
            paid = say.percent(counts[-1] / counts[-2]) if counts[-2] else "-"
            table.add_row(slot, *(say.number(c) for c in counts), paid)
        table.add_section()
        last, before = report.steps[-1].visitors, report.steps[-2].visitors
        paid = say.percent(last / before) if before else "-"
        table.add_row(
            say("demo.funnel_total"), *(say.number(s.visitors) for s in report.steps), paid
        )
        console.print(table)


def _table(
    by_event: Counter[str], totals: Counter[str], now: datetime | None, say: Narrator
) -> Table:
    """The events sent so far by name, and what the server made of them; the title gives
    the campaign's clock in the reader's time zone."""
    title = say("demo.live_title")
    if now is not None:
        title = f"{title} — {say.clock(now)}"
    table = Table(title=title)
    table.add_column(say("demo.live_event"))
    table.add_column(say("demo.live_sent"), justify="right")
    for name, count in by_event.most_common():
        table.add_row(name, say.number(count))
    table.add_section()
    for key in ("accepted", "duplicates", "rejected"):
        table.add_row(say(f"demo.live_{key}"), say.number(totals[key]))
    return table


def _print_alerts(system: Any, url: str, console: Console, say: Narrator) -> None:
    """Once the rules have seen every event, list the alerts the scenario raised."""
    deadline = time.monotonic() + 30
    while system.alerting.last_offset < system.log.last_offset() and time.monotonic() < deadline:
        time.sleep(0.1)
    # Read from the store, as GET /api/alerts does (the API needs a signed-in user).
    alerts = msgspec.to_builtins(system.alerts.list(limit=50))
    table = Table(title=say("demo.alerts_title"))
    for column in ("rule", "status", "group", "summary"):
        table.add_column(say(f"demo.alerts_{column}"))
    for alert in alerts:
        group = ", ".join(
            f"{k}={v}"
            for k, v in alert["labels"].items()
            if k not in ("alertname", "severity", "team")
        )
        notes = alert["annotations"]
        summary = (
            notes.get(f"summary_{say.language}") or notes.get("summary") or notes.get("summary_en")
        )
        table.add_row(alert["rule"], say.status(alert["status"]), group, summary or "")
    console.print(table)
    console.print(say("demo.live_alerts", url=url))


def _post_reading(url: str, device: Any, kind: str, body: dict[str, Any]) -> None:
    """Post one reading as the device would (its id and key as HTTP Basic)."""
    response = httpx.post(
        f"{url}/v1/sensors/{kind}", json=body, auth=(device.id, device.key), timeout=30
    )
    response.raise_for_status()


def _caught_up(system: Any) -> None:
    deadline = time.monotonic() + 30
    while system.sensors.last_offset < system.log.last_offset() and time.monotonic() < deadline:
        time.sleep(0.05)


def _a_day_in_the_shop(system: Any, url: str, console: Console, say: Narrator) -> None:
    """A day in the shop: the aisle-4 display draws nobody while interest is in aisle 21; the
    advice names aisle 21, the display is moved, and pick-ups follow it there. The heading
    names the demo's day of the week in the terminal's language.

    On a store an earlier run played into (`vigie demo --db`), the day starts as the story
    does: the display back where vigie.yaml puts it, and nobody inside the shop."""
    sensors = system.settings.config.sensors
    site = next((s for s in sensors.sites if s.displays), None)
    if site is None:
        return
    display = site.displays[0]
    if system.sensors.placements(display.name)[-1].aisle != display.aisle:
        system.sensors.move_display(
            display.name, to=display.aisle, by="demo", reason="the demo's day starts"
        )
    _caught_up(system)  # the earlier run's readings counted before its crowd is read
    earlier = system.sensors.shop(site.name)["occupancy"]["inside"]
    readers = {d.aisle: d for d in sensors.devices if d.kind == "rfid" and d.site == site.name}
    rng = random.Random(20)
    now = system.clock.now()
    interest = {aisle: 3 + rng.randrange(20) for aisle in readers}
    interest[display.aisle] = 6
    busiest = [a for a in readers if a != display.aisle][-1]  # aisle-21 in the example
    interest[busiest] = 70
    for aisle, reads in interest.items():
        body = {"reads": [{"epc": f"urn:epc:id:sgtin:0614141.{aisle}.{n}",
                           "time": (now - timedelta(minutes=5, seconds=n)).isoformat()}
                          for n in range(reads)]}  # fmt: skip
        _post_reading(url, readers[aisle], "rfid", body)
    for door in (d for d in sensors.devices if d.kind == "door" and d.site == site.name):
        # Whoever an earlier run left inside walks out first.
        _post_reading(url, door, "doors", {"in": site.capacity + 2, "out": 10 + earlier})
        earlier = 0
    _caught_up(system)
    shop = system.sensors.shop(site.name)
    advice = next(d for d in shop["displays"] if d["display"] == display.name)["recommendation"]
    occupancy = shop["occupancy"]
    heading = say.heading(
        "demo.shop_heading", weekday=weekday_name(say.language, say.local(now)), site=site.name
    )
    signal = say(f"js.sensors.signal_{occupancy['signal']}")
    details = say(
        "demo.shop_details",
        inside=say.number(occupancy["inside"]),
        capacity=say.number(occupancy["capacity"]),
        signal=signal,
        aisles=", ".join(f"{a['aisle']} {say.number(a['recent'])}" for a in shop["aisles"]),
    )
    console.print(f"{heading}{details}")
    if advice["to"] is None:
        console.print(say("demo.no_advice"))
        return
    best = advice["ranking"][0]
    console.print(
        say(
            "demo.advice",
            display=display.name,
            aisle=display.aisle,
            to=advice["to"],
            uplift=say.percent(best["expected_uplift"], signed=True),
            low=say.percent(best["low"], signed=True),
            high=say.percent(best["high"], signed=True),
        )
    )
    system.sensors.move_display(display.name, to=advice["to"], by="demo", reason="advice")
    reader = readers[advice["to"]]
    later = system.clock.now()
    body = {"reads": [{"epc": f"urn:epc:id:sgtin:0614141.moved.{n}",
                       "time": (later + timedelta(seconds=n % 50)).isoformat()}
                      for n in range(40)]}  # fmt: skip
    _post_reading(url, reader, "rfid", body)
    _caught_up(system)
    moved = system.sensors.shop(site.name)
    follows = next(a for a in moved["aisles"] if a["aisle"] == advice["to"])
    console.print(
        say(
            "demo.pickups_follow",
            count=say.number(follows["now"]),
            aisle=advice["to"],
            placed=system.sensors.placements(display.name)[-1].aisle,
            url=url,
        )
    )


def _sales_day_in_the_city(system: Any, url: str, console: Console, say: Narrator) -> None:
    """A sales day in the city centre: the main street jams, the offer goes to the quietest
    neighbour from the live counts, and density falls."""
    sensors = system.settings.config.sensors
    cameras = {d.zone: d for d in sensors.devices if d.kind == "crowd"}
    main = next((z for z in sensors.zones if z.neighbours and z.name in cameras), None)
    if main is None:
        return
    start = system.clock.now()
    rng = random.Random(21)
    for zone in sensors.zones:
        if zone.name in cameras and zone.name != main.name:
            people = int(zone.capacity * rng.uniform(0.2, 0.6))
            _post_reading(url, cameras[zone.name], "crowd",
                          {"peopleCount": people, "dateObserved": start.isoformat()})  # fmt: skip
    jammed = int(main.capacity * 0.96)
    jam = {"peopleCount": jammed, "dateObserved": start.isoformat(), "source": "drone"}
    _post_reading(url, cameras[main.name], "crowd", jam)
    _caught_up(system)
    target = system.sensors.quietest_neighbour(main.name)
    details = say(
        "demo.city_details",
        zone=main.name,
        people=say.number(jammed),
        capacity=say.number(main.capacity),
        target=target,
    )
    console.print(f"{say.heading('demo.city_heading')}{details}")
    playbook = next(
        (p for p in system.playbooks.playbooks if any(t.rule for t in p.triggers)
         and any(s.action == "broadcast" for s in p.steps)), None
    )  # fmt: skip
    if playbook is not None:
        params = {"zone": main.name}
        plan = system.playbooks.plan(
            playbook.name, system.playbooks.manual_trigger(playbook.name, params), params
        )
        for step in plan.steps:
            console.print(
                "  "
                + say(
                    "demo.plan_step",
                    playbook=playbook.name,
                    action=step.action,
                    outcome=say(f"demo.plan_{step.outcome}"),
                    params=step.params or "",
                )
            )
    eased = int(main.capacity * 0.6)
    _post_reading(url, cameras[main.name], "crowd",
                  {"peopleCount": eased,
                   "dateObserved": (start + timedelta(minutes=10)).isoformat()})  # fmt: skip
    _caught_up(system)
    after = next(z for z in system.sensors.city()["zones"] if z["zone"] == main.name)
    console.print(
        say(
            "demo.density",
            zone=main.name,
            before=say.percent(jammed / main.capacity),
            after=say.percent(after["density"]),
            verdict=say("demo.density_still" if after["congested"] else "demo.density_fell"),
            url=url,
        )
    )


REPORTS = Path("vigie-data") / "reports"


def _half_past_five(system: Any, console: Console, say: Narrator) -> None:
    """17:30, the conversion drops again: the conversion-drop playbook runs as the rule's
    firing would start it, and the manager's message waits for her working hours (the right
    to disconnect); only the urgent one reaches whoever is on duty."""
    from vigie.playbooks import PlaybookTrigger

    if not any(p.name == "conversion-drop" for p in system.playbooks.playbooks):
        return
    now = system.clock.now()
    local = now.astimezone(BRUSSELS)
    console.print(say.heading("demo.evening_heading", when=say.when(now)))
    trigger = PlaybookTrigger(
        rule="checkout-conversion-drop",
        status="firing",
        fingerprint=f"demo-evening-{local:%Y%m%d}",
        at=now,
        labels={"page": "/lunch-deal", "campaign": "lunch-deal"},
        values={"conversion_rate": 0.004},
    )
    for run in system.playbooks.handle(trigger):
        steps = ", ".join(f"{s.name} {say.status(s.status)}" for s in run.steps)
        console.print("  " + say("demo.labelled", label=run.playbook, text=steps))
        for step in run.steps:
            if step.status == "failed" and step.error:
                # e.g. no chat agent at work at 17:30: the invitation is not sent, and says why.
                console.print("    " + say("demo.labelled", label=step.name, text=step.error))
        for note in system.dispatcher.notifications(limit=500):
            if note.run_id != run.id:
                continue
            if note.status == "held" and note.hold_until is not None:
                line = say(
                    "demo.held",
                    person=note.intended_for,
                    when=say.when(note.hold_until),
                    subject=note.subject,
                )
            else:
                line = say(
                    "demo.notified",
                    person=note.intended_for,
                    recipient=note.recipient or "-",
                    status=say.status(note.status),
                    subject=note.subject,
                )
            console.print(f"  {line}")


def _the_week_in_review(system: Any, url: str, console: Console, say: Narrator) -> None:
    """The loop closes: what the day left in the records, and this week's review written as
    HTML and PDF, with its address on the dashboard."""
    from vigie.review.render import render_html, write_pdf

    _caught_up(system)
    review = system.reviews.build(system.reviews.week_of(system.clock.now()))
    runs = system.playbook_history.runs(limit=500)
    held = [n for n in system.dispatcher.notifications(limit=500) if n.status == "held"]
    story = [
        ("demo.review_alerts", len(review.alerts)),
        ("demo.review_runs", len(runs)),
        ("demo.review_actions", len(system.actions.list(limit=1000))),
        ("demo.review_held", len(held)),
    ]
    for what, count in story:
        console.print("  " + say("demo.labelled", label=say(what), text=say.number(count)))
    # The report's times in the reader's zone, when it has a name (else the story's).
    zone = getattr(say.zone, "key", BRUSSELS.key)
    html = render_html(review, language=say.language, timezone=zone)
    REPORTS.mkdir(parents=True, exist_ok=True)
    name = f"weekly-{review.week}-{say.language}"
    (REPORTS / f"{name}.html").write_text(html, encoding="utf-8")
    pdf = write_pdf(html, REPORTS / f"{name}.pdf")
    console.print(say("demo.review_written", week=review.week, pdf=pdf, url=url))


def _sign_in(system: Any, username: str, role: str) -> str:
    """An API token for a user of the demo (staff sign in as they would on the site); one
    made by an earlier demo in the same folder signs in again."""
    from vigie.auth.tokens import issue_token
    from vigie.auth.users import UserError, create_user, list_users

    now = system.clock.now()
    try:
        user = create_user(
            engine=system.engine,
            username=username,
            password=secrets.token_urlsafe(16),
            role=role,
            now=now,
        )
    except UserError:
        user = next(u for u in list_users(engine=system.engine) if u.username == username)
    return issue_token(engine=system.engine, user_id=user.id, name="demo", now=now).token


def _proactive_chat_at_twenty_past_twelve(
    system: Any, url: str, console: Console, say: Narrator
) -> None:
    """12:20, the checkout breaks: the conversion-drop playbook invites the visitor who has
    the chat open on the checkout page, the visitor answers an agent at the console, and the
    conversation lands on the visitor's timeline tagged "bug at checkout". Everything goes
    through the server as a browser would: the widget's session and WebSocket, the console's
    event stream, the playbook run and the agent's replies over the API."""
    import asyncio

    import websockets

    source = next((s for s in system.settings.config.sources if s.tracker.chat), None)
    if source is None or not any(p.name == "conversion-drop" for p in system.playbooks.playbooks):
        return
    on_duty = system.chat.agents_on_duty()
    console.print(say.heading("demo.chat_heading", when=say.when(system.clock.now())))
    if not on_duty:
        console.print(say("demo.chat_nobody"))
    agent = on_duty[0] if on_duty else "demo-agent"
    tokens = {
        "support": _sign_in(system, agent, "support"),
        "admin": _sign_in(system, f"demo-admin-{secrets.token_hex(3)}", "admin"),
    }
    visitor = f"demo-visitor-{secrets.token_hex(4)}"
    staff = {"Authorization": f"Bearer {tokens['support']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    # A customer the CRM knows (this browser is theirs) and who agreed to be contacted: an
    # unasked invitation is direct marketing.
    contact = httpx.post(
        f"{url}/api/contacts",
        json={"first_name": "Camille", "last_name": "Lambert", "anonymous_ids": [visitor],
              "consent": {"email_marketing": True}},
        headers=admin,
        timeout=30,
    ).json()  # fmt: skip

    async def follow(ready: asyncio.Event) -> None:
        """The agent's console, open during the scene."""
        async with (
            httpx.AsyncClient(base_url=url, timeout=None) as client,
            client.stream("GET", "/api/chat/stream", headers=staff) as stream,
        ):
            async for _line in stream.aiter_lines():
                ready.set()

    async def scene() -> dict[str, Any] | None:
        ready = asyncio.Event()
        agent_console = asyncio.create_task(follow(ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            return await chat()
        finally:
            agent_console.cancel()
            await asyncio.gather(agent_console, return_exceptions=True)

    async def chat() -> dict[str, Any] | None:
        with httpx.Client(base_url=url, timeout=30) as http:
            body = {"writeKey": source.write_key, "anonymousId": visitor}
            token = http.post("/chat/v1/session", json=body).json()["token"]
            query = httpx.QueryParams(
                writeKey=source.write_key, anonymousId=visitor, token=token, page="/checkout"
            )
            ws_url = url.replace("http", "ws", 1) + f"/chat/v1/ws?{query}"
            async with websockets.connect(ws_url) as socket:
                run = http.post(
                    "/api/playbooks/conversion-drop/run", json={"page": "/checkout"}, headers=admin
                ).json()
                invite = run["steps"][0]
                if invite["status"] != "succeeded":
                    console.print(say("demo.labelled", label="chat.invite",
                                      text=invite.get("error")))  # fmt: skip
                    return None
                invitation: dict[str, Any] = {}
                while invitation.get("type") != "invitation":
                    invitation = json.loads(await asyncio.wait_for(socket.recv(), 10))
                console.print(say("demo.widget", page="/checkout", message=invitation["message"]))
                text = say("demo.chat_visitor")
                await socket.send(json.dumps({"type": "start", "text": text, "page": "/checkout",
                                              "invitationId": invitation["id"]}))  # fmt: skip
                reply: dict[str, Any] = {}
                while not (reply.get("type") == "reply" and reply.get("result", {}).get("id")):
                    reply = json.loads(await asyncio.wait_for(socket.recv(), 10))
                cid = reply["result"]["id"]
                base = f"/api/chat/conversations/{cid}"
                answer = say("demo.chat_agent")
                http.post(f"{base}/messages", json={"text": answer}, headers=staff)
                tags = {"tags": [say("demo.chat_tag")]}
                http.post(f"{base}/tags", json=tags, headers=staff)
                closed: dict[str, Any] = http.post(
                    f"{base}/close", json={"outcome": say("demo.chat_outcome")}, headers=staff
                ).json()
                return closed

    closed = asyncio.run(scene())
    if closed is None:
        return
    for message in closed["messages"]:
        author = message["author"] or say(f"demo.chat_{message['sender']}_sender")
        console.print("  " + say("demo.labelled", label=author, text=message["text"]))
    timeline: list[Any] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        timeline = httpx.get(
            f"{url}/api/contacts/{contact['id']}/timeline", headers=admin, timeout=30
        ).json()["items"]
        if any(item.get("kind") == "chat" for item in timeline):
            break
        time.sleep(0.2)
    shown = any(item.get("kind") == "chat" for item in timeline)
    console.print(
        say(
            "demo.chat_on_timeline" if shown else "demo.chat_not_yet_on_timeline",
            tags=", ".join(closed["tags"]),
            outcome=closed["outcome"],
            name="Camille Lambert",
            url=url,
        )
    )


def _support_rush(system: Any, console: Console, say: Narrator) -> None:
    """12:40, the support rush: the checkout's failed orders flood the `orders` queue, its
    tickets wait past the 15-minute SLA, and the SLA alert's playbook moves two sales agents
    to support if they are at work (nobody off duty is moved)."""
    if not any(p.name == "support-sla-breach" for p in system.playbooks.playbooks):
        return
    # The alert enqueued the run as the rush was played; the System's timer runs it.
    started = time.monotonic()
    while True:
        runs = system.playbook_history.runs(playbook="support-sla-breach", limit=10)
        waited = time.monotonic() - started
        if (runs and all(r.status != "running" for r in runs)) or waited > (30 if runs else 5):
            break
        time.sleep(0.1)
    if not runs:
        console.print(say("demo.support_none"))
        return
    run = runs[-1]
    values = run.trigger.get("values", {}) if isinstance(run.trigger, dict) else {}
    heading = say.heading("demo.support_heading", when=say.when(run.started_at))
    details = say(
        "demo.support_details",
        breaches=values.get("breaches", "?"),
        queue=values.get("group", "?"),
        minutes=say.number(float(values.get("sla_s", 900)) / 60),
    )
    console.print(f"{heading}{details}")
    for step in run.steps:
        moved = (step.result or {}).get("moved") if isinstance(step.result, dict) else None
        label = f"{run.playbook} / {step.name}"
        if moved:
            detail = ", ".join(f"{m['subject']} {m['from']} → {m['to']}" for m in moved)
            text = say("demo.moved", moved=detail)
        elif step.error:
            text = f"{say.status(step.status)} — {step.error}"
        else:
            text = say.status(step.status)
        console.print("  " + say("demo.labelled", label=label, text=text))


LEADS_SEED = 5
PROSPECTS = 3000
LEADS_PER_REP = 10


def _leads_for_each_rep(system: Any, url: str, console: Console, say: Narrator) -> None:
    """After lunch, the AI learns the ideal customer profile from the past deals of the CRM's
    salespeople, scores a prospect base and hands the best leads to each of them: published
    as CRM lead records they own, due in their working hours."""
    import polars as pl

    from vigie.ai import models
    from vigie.ai.history import history_for_base
    from vigie.ai.leads import run_leads
    from vigie.ai.prospects import FEATURES, generate_base
    from vigie.ai.reps import Rep
    from vigie.ai.runs import write_run

    section = system.settings.config.ai
    root = section.root
    if root.exists() and any(root.iterdir()) and not (root / DEMO_MARK).exists():
        console.print(say("demo.leads_not_ours", folder=root))
        return
    token = _sign_in(system, f"demo-manager-{secrets.token_hex(3)}", "admin")
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        staff = http.get("/api/staff", params={"limit": 500}).json()["items"]
        sellers = sorted((s for s in staff if s["role"] == "sales"), key=lambda s: s["name"])
        if not sellers:
            return
        now = system.clock.now()
        console.print(say.heading("demo.leads_heading", when=say.when(now)))
        root.mkdir(parents=True, exist_ok=True)
        (root / DEMO_MARK).write_text("vigie demo\n", encoding="utf-8")
        half = PROSPECTS // 2
        generate_base(section.base_dir, rows=PROSPECTS, seed=LEADS_SEED, rows_per_partition=half)
        history = history_for_base(
            first_partition_rows=half, seed=LEADS_SEED, deals=1200, end=now.date(),
            reps=len(sellers),
        )  # fmt: skip
        # The deal history's salespeople are the CRM's.
        generated = sorted(history["rep"].unique().to_list())
        names = dict(zip(generated, (s["name"] for s in sellers), strict=True))
        history = history.with_columns(pl.col("rep").replace_strict(names))
        model = models.train(history, target="won", time_column="closed_at", features=FEATURES)
        models.save(model, section.models_dir, trained_at=now)
        reps = [
            Rep(name=s["name"], capacity=LEADS_PER_REP, timezone=s.get("timezone") or BRUSSELS.key)
            for s in sellers
        ]
        leads, scored = run_leads(
            base=section.base_dir, model=model, history=history, reps=reps, now=now,
            top_k=LEADS_PER_REP * len(reps),
        )  # fmt: skip
        write_run(section.run_dir, leads, scored, extra={"model": model.version,
                                                         "run_at": now.isoformat()})  # fmt: skip
        won = history.filter(pl.col("won")).height / history.height
        console.print(
            say(
                "demo.profile_learned",
                deals=say.number(history.height),
                won=say.percent(won),
                model=model.version,
                prospects=say.number(PROSPECTS),
                best=say.number(leads.height),
            )
        )
        published = http.post("/api/leads/publish", json={"limit": leads.height}).json()
        records = http.get("/api/leads", params={"limit": 500}).json()["items"]
    console.print(
        say(
            "demo.leads_published",
            new=say.number(published["published"]),
            before=say.number(published["already"]),
            unassigned=say.number(published["unassigned"]),
        )
    )
    other = "en" if say.language == "fr" else "fr"
    for seller in sellers:
        mine = [r for r in records if r["owner_id"] == seller["id"]]
        if not mine:
            console.print("  " + say("demo.no_lead", name=seller["name"]))
            continue
        best = max(mine, key=lambda r: r.get("expected") or 0.0)
        due = datetime.fromisoformat(min(r["due_at"] for r in mine))
        reason = best.get(f"reason_{say.language}") or best.get(f"reason_{other}") or ""
        line = say(
            "demo.rep_leads",
            name=seller["name"],
            count=say.number(len(mine)),
            when=say.when(due),
            best=best["name"],
            reason=reason,
        )
        console.print(f"  {line}")
    console.print(say("demo.leads_page", url=url))
