"""The right to disconnect in the dashboard, in Debian's chromium (issue 24): a notification
held for the shop manager shows in her inbox as held, then as delivered (and unread) at the
start of her shift, live; the Schedules page shows the month's record; in both languages."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
import yaml

from tests.conftest import free_port, make_settings
from tests.schedule.test_policies import SHOP
from tests.web.conftest import CONFIG, PASSWORD, WRITE_KEY, Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, _sign_in, browser
from vigie.auth.users import create_user
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.schedule import Dispatcher, NotificationRequest
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.i18n import catalog
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser
__all__ = ["browser"]
BRUSSELS = ZoneInfo("Europe/Brussels")
BEFORE_SHIFT = datetime(2026, 11, 24, 8, 0, tzinfo=BRUSSELS)
SHIFT_STARTS = datetime(2026, 11, 24, 9, 30, tzinfo=BRUSSELS)


@pytest.fixture
def shop(db_url: str) -> Iterator[tuple[Dashboard, ManualClock]]:
    """A server whose schedule is the Saturday shop's, on a manual clock at 08:00 on a
    Tuesday; users lea (the shop manager, a person of the schedule) and ada (admin)."""
    raw = copy.deepcopy(CONFIG)
    raw["schedule"] = copy.deepcopy(SHOP)
    raw["schedule"]["people"].append({"name": "ana", "teams": ["quality"]})
    raw["schedule"]["teams"].append({"name": "quality"})
    config = parse_config(yaml.safe_dump(raw), origin="inbox test config")
    clock = ManualClock(BEFORE_SHIFT)
    app = create_app(build_system(make_settings(db_url, config), clock=clock))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        for username, role in (("lea", "manager"), ("ada", "admin")):
            create_user(
                engine=system.engine,
                username=username,
                password=PASSWORD,
                role=role,
                now=clock.now(),
            )
        yield Dashboard(url=server.url, write_key=WRITE_KEY, system=system), clock


def test_a_held_notification_shows_as_held_then_delivered(shop: Any, browser: Any) -> None:
    """Léa sees the alert held until 09:30 in her inbox; at 09:30 it is delivered, the bell
    counts it unread without a reload, and marking it read clears the count."""
    from playwright.sync_api import expect

    dashboard, clock = shop
    system = dashboard.system
    (held,) = system.dispatcher.submit(
        NotificationRequest(
            key="aisle-4", recipient="lea", subject="Aisle 4 draws nobody", body="b"
        )
    )
    assert held.status == "held"
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Brussels")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "lea")
    page.click("#inbox-bell")
    item = page.locator('#inbox-list li[data-state="held"]')
    expect(item).to_contain_text("Aisle 4 draws nobody", timeout=WAIT_MS)
    expect(item).to_contain_text("9:30")
    expect(page.locator("#inbox-count")).to_be_hidden()

    clock.set(SHIFT_STARTS)
    assert system.dispatcher.deliver_due() == 1
    expect(page.locator("#inbox-count")).to_have_text("1", timeout=WAIT_MS)
    expect(page.locator('#inbox-list li[data-state="delivered"]')).to_contain_text(
        "Aisle 4 draws nobody", timeout=WAIT_MS
    )
    page.click("#inbox-mark-read")
    expect(page.locator("#inbox-count")).to_be_hidden(timeout=WAIT_MS)

    page.select_option("#language", "fr")
    page.click("form[action='/language'] button")
    page.wait_for_selector('html[lang="fr"]')
    fr = catalog("fr")
    expect(page.locator("#inbox-bell")).to_have_attribute(
        "aria-label", f"{fr['js.inbox.open']}: 0 non lues, 0 en attente", timeout=WAIT_MS
    )
    context.close()
    assert problems.found == []


def test_a_notification_being_sent_shows_as_being_sent(shop: Any, browser: Any) -> None:
    """While an e-mail to Léa is on its way, her inbox shows it as being delivered (in
    English, then in French), not as held; once sent it shows as delivered."""
    from playwright.sync_api import expect

    dashboard, clock = shop
    clock.set(SHIFT_STARTS)
    started, release = threading.Event(), threading.Event()

    class SlowMailer:
        def send(self, *, to: str, subject: str, body: str) -> None:
            started.set()
            release.wait(30)

    schedule = dashboard.system.dispatcher.config
    people = [msgspec.structs.replace(p, email=f"{p.name}@shop.example") for p in schedule.people]
    slow = Dispatcher(
        engine=dashboard.system.engine,
        config=msgspec.structs.replace(schedule, people=people),
        clock=clock,
        mailer=SlowMailer(),
    )
    # A sender holds its lease, as a running system's dispatcher does: the server's timer
    # takes back what a sender without one was sending.
    slow.beat()
    request = NotificationRequest(key="slow", recipient="lea", subject="Aisle 7", body="b")
    sender = threading.Thread(target=slow.submit, args=(request,))
    sender.start()
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Brussels")
    try:
        assert started.wait(30)
        page = context.new_page()
        problems = Problems()
        problems.watch(page)
        _sign_in(page, dashboard, "lea")
        page.click("#inbox-bell")
        item = page.locator('#inbox-list li[data-state="sending"]')
        expect(item).to_contain_text("Aisle 7", timeout=WAIT_MS)
        en = catalog("en")
        expect(item).to_contain_text(en["js.status.sending"])
        expect(item).to_contain_text(en["js.inbox.sending"])
        page.select_option("#language", "fr")
        page.click("form[action='/language'] button")
        page.wait_for_selector('html[lang="fr"]')
        page.click("#inbox-bell")
        fr = catalog("fr")
        item = page.locator('#inbox-list li[data-state="sending"]')
        expect(item).to_contain_text(fr["js.inbox.sending"], timeout=WAIT_MS)
        expect(page.locator('#inbox-list li[data-state="held"]')).to_have_count(0)
    finally:
        release.set()
        sender.join(30)
        slow.leave()
    expect(page.locator('#inbox-list li[data-state="delivered"]')).to_contain_text(
        "Aisle 7", timeout=WAIT_MS
    )
    context.close()
    assert problems.found == []


def test_the_schedules_page_shows_the_months_record(shop: Any, browser: Any) -> None:
    """The admin opens November's record: Léa's delivery in working time is counted, the
    policy held, and the CSV link serves the same record; in English and French."""
    from playwright.sync_api import expect

    dashboard, clock = shop
    dashboard.system.dispatcher.submit(
        NotificationRequest(key="r", recipient="lea", subject="s", body="b")
    )
    clock.set(SHIFT_STARTS)
    dashboard.system.dispatcher.deliver_due()
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Brussels")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard, "ada")
    for language in ("en", "fr"):
        if language == "fr":
            page.select_option("#language", "fr")
            page.click("form[action='/language'] button")
            page.wait_for_selector('html[lang="fr"]')
        page.goto(dashboard.url + "/schedules")
        page.fill("#record-month", "2026-11")
        page.click("#record-form button[type=submit]")
        row = page.locator('#record tr[data-record="lea"][data-kind="person"]')
        expect(row.locator("td").nth(3)).to_have_text("1", timeout=WAIT_MS)
        expect(page.locator("#record-verdict")).to_have_text(catalog(language)["js.record.holds"])
        href = page.locator("#record-csv").get_attribute("href")
        assert href is not None and "format=csv" in href
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        csv_text = httpx.get(dashboard.url + href, cookies=cookies, timeout=30).text
        assert "person,lea," in csv_text
    context.close()
    assert problems.found == []
