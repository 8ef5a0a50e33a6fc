"""The tracker in a real browser: a test site on one origin, Vigie on another."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import free_port, make_settings, require_service, user_token
from vigie.analytics import AnalyticsConfig
from vigie.analytics.campaigns import Campaign, Schedule
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.config import Config, Source, TrackerSettings
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SITE_KEY = "site-write-key-0123456789"
CONSENT_KEY = "consent-write-key-0123456789"
UTM = "utm_source=facebook&utm_medium=paid_social&utm_campaign=lunch-deal&utm_id=cmp-1"
T = TypeVar("T")

PAGES = {
    "/lunch-deal": """<h1>Lunch deal</h1>
<a id="to-menu" href="/menu">Menu</a>
<button id="add" data-vigie-event="Product Added" data-vigie-prop-product-id="sku-bowl">Add</button>
<a id="to-checkout" href="/checkout">Checkout</a>""",
    "/menu": """<h1>Menu</h1><div style="height:3000px">long</div>
<a id="back" href="/lunch-deal">Back to the deal</a>""",
    "/checkout": """<h1>Checkout</h1>
<form id="signup" method="post" action="/thanks" data-vigie-event="Signed Up">
<input name="email" value="ana@example.be"><input name="password" type="password" value="s3cret">
<input name="phone" value="+32470000000"><button id="submit" type="submit">Pay</button></form>""",
    "/thanks": """<h1>Thanks</h1><script>
window.addEventListener("load", function () {
  vigie.identify("user-42", {email: "ana@example.be"});
  vigie.track("Order Completed", {order_id: "o-1", revenue: 12.5});
  vigie.flush();
});</script>""",
    "/login": """<h1>Login</h1><button id="login" onclick="vigie.identify('user-42', {});
vigie.flush()">Log in</button>""",
}


def _site_handler(vigie_url: str, key_of: Callable[[str], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _page(self) -> None:
            path = self.path.split("?")[0]
            body = PAGES.get(path)
            if body is None:
                self.send_error(404)
                return
            consent = ' data-consent="required"' if key_of(self.path) == CONSENT_KEY else ""
            html = (
                f"<!doctype html><html><head><title>{path}</title>"
                f'<script src="{vigie_url}/t.js" data-write-key="{key_of(self.path)}"{consent}'
                f" async></script></head><body>{body}</body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def do_GET(self) -> None:
            self._page()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._page()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _config() -> Config:
    everyday = Schedule(start="00:00", end="23:59:59.999999", timezone="Europe/Brussels")
    return Config(
        sources=[
            Source(
                name="site",
                write_key=SITE_KEY,
                tracker=TrackerSettings(form_fields=["email"]),
            ),
            Source(
                name="consent-site",
                write_key=CONSENT_KEY,
                tracker=TrackerSettings(consent_required=True),
            ),
        ],
        analytics=AnalyticsConfig(
            timezone="Europe/Brussels",
            funnels=[
                Funnel(
                    name="lunch",
                    steps=[
                        FunnelStep(page="/lunch-deal"),
                        FunnelStep(event="Product Added", where={"product_id": "sku-bowl"}),
                        FunnelStep(page="/checkout"),
                        FunnelStep(event="Order Completed"),
                    ],
                )
            ],
            campaigns=[
                Campaign(
                    name="lunch-deal", channel="paid_social", utm_id="cmp-1", schedule=everyday
                )
            ],
        ),
    )


class Site:
    def __init__(self, url: str, vigie: str, token: str) -> None:
        self.url = url
        self.vigie = vigie
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture
def site(db_url: str) -> Iterator[Site]:
    """Vigie on one port, the shop's site (another origin) on another."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    app = create_app(build_system(make_settings(db_url, _config())))
    with BackgroundServer(app, port=free_port()) as vigie:
        handler = _site_handler(
            vigie.url, lambda path: CONSENT_KEY if "consent=1" in path else SITE_KEY
        )
        httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            token = user_token(app.state.system, username="analyst", role="marketing")
            yield Site(f"http://127.0.0.1:{httpd.server_address[1]}", vigie.url, token)
        finally:
            httpd.shutdown()
            httpd.server_close()


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll until `probe` returns something (the processors and beacons are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _get(site: Site, path: str, **params: Any) -> Any:
    response = httpx.get(site.vigie + path, params=params, headers=site.headers, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield instance
        finally:
            instance.close()


def test_journey_funnel_identity_and_campaign_from_a_real_browser(site: Site, browser: Any) -> None:
    """A visitor from a UTM link browses, buys and logs in; journey, merge, funnel, campaign."""
    phone = browser.new_context()
    page = phone.new_page()
    page.goto(f"{site.url}/lunch-deal?{UTM}")
    page.wait_for_function("window.vigie && window.vigie.anonymousId()")
    visitor = page.evaluate("window.vigie.anonymousId()")
    page.click("#to-menu")
    page.wait_for_url("**/menu")
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(300)
    page.click("#back")
    page.wait_for_url("**/lunch-deal")
    page.click("#add")
    page.click("#to-checkout")
    page.wait_for_url("**/checkout")
    page.click("#submit")
    page.wait_for_url("**/thanks")
    page.wait_for_timeout(300)
    assert page.evaluate("window.vigie.anonymousId()") == visitor
    cookies = {c["name"]: c["value"] for c in phone.cookies()}
    assert cookies.get("vigie_aid") == visitor

    # A second device: the same person logs in from another browser.
    laptop = browser.new_context()
    other = laptop.new_page()
    other.goto(f"{site.url}/login")
    other.wait_for_function("window.vigie && window.vigie.anonymousId()")
    second = other.evaluate("window.vigie.anonymousId()")
    assert second != visitor
    other.click("#login")

    def converted() -> dict[str, Any] | None:
        report = _get(site, "/api/funnels/lunch")
        return report if report["converted"] == 1 else None

    report = eventually(converted, "the funnel to count the order")
    assert [s["visitors"] for s in report["steps"]] == [1, 1, 1, 1]
    assert report["by_campaign"] == {"lunch-deal": [1, 1, 1, 1]}
    assert all(s["median_seconds_from_previous"] is not None for s in report["steps"][1:])

    def merged() -> dict[str, Any] | None:
        profile = _get(site, "/api/profiles/user-42")
        return profile if len(profile["merges"]) == 2 else None

    profile = eventually(merged, "both devices to be merged into user-42")
    assert set(profile["visitor_ids"]) == {visitor, second, "user-42"}
    assert {tuple(m["merged_ids"]) for m in profile["merges"]} == {(visitor,), (second,)}
    assert {m["reason"] for m in profile["merges"]} == {"identify"}

    journey = _get(site, f"/api/visitors/{visitor}/journey")
    paths = [
        s["path"]
        for session in journey["sessions"]
        for s in session["steps"]
        if s["type"] == "page"
    ]
    assert paths == ["/lunch-deal", "/menu", "/lunch-deal", "/checkout", "/thanks"]
    views = [
        s["revisit"]
        for session in journey["sessions"]
        for s in session["steps"]
        if s["type"] == "page"
    ]
    assert views == [False, False, True, False, False]
    assert journey["revisited_pages"] == ["/lunch-deal"]
    assert journey["campaigns"] == ["lunch-deal"]
    first = journey["sessions"][0]
    assert first["entry_page"] == "/lunch-deal" and first["campaign"] == "lunch-deal"
    events = [
        s["name"]
        for session in journey["sessions"]
        for s in session["steps"]
        if s["type"] == "track"
    ]
    assert "Product Added" in events and "Signed Up" in events and "Order Completed" in events
    assert "Scroll Depth" in events

    signup = _get(site, "/api/events", event="Signed Up")["events"][0]
    assert signup["properties"]["fields"] == ["email", "password", "phone"]
    assert signup["properties"]["values"] == {"email": "ana@example.be"}
    assert signup["source"] == "site"

    whole = _get(site, "/api/profiles/user-42/journey")
    devices = {session["visitor_id"] for session in whole["sessions"]}
    assert devices == {visitor, second}
    assert whole["pages_viewed"] == journey["pages_viewed"] + 1

    slots = _get(site, "/api/campaigns/lunch-deal/slots")
    assert slots["figures"]["campaign_visitors"] == 1
    assert slots["figures"]["conversions"] == 1
    assert slots["figures"]["signups"] == 1
    phone.close()
    laptop.close()


def test_nothing_is_stored_or_sent_before_consent(site: Site, browser: Any) -> None:
    """With consent required, no cookie, no storage and no request until consent is given."""
    context = browser.new_context()
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/" in r.url else None)
    page.goto(f"{site.url}/lunch-deal?consent=1&{UTM}")
    page.wait_for_function("window.vigie !== undefined")
    page.click("#add")
    page.evaluate("window.vigie.track('Clicked Anything', {})")
    page.evaluate("window.vigie.flush()")
    page.wait_for_timeout(1500)
    assert sent == []
    assert [c["name"] for c in context.cookies()] == []
    assert page.evaluate("window.localStorage.length") == 0
    assert page.evaluate("window.vigie.anonymousId()") is None

    page.evaluate("window.vigie.consent({analytics: true})")
    visitor = eventually(lambda: page.evaluate("window.vigie.anonymousId()"), "an id after consent")
    eventually(lambda: sent or None, "a batch after consent")
    assert page.evaluate("window.localStorage.getItem('vigie_aid')") == visitor

    def arrived() -> list[Any] | None:
        events = _get(site, "/api/events", anonymous_id=visitor)["events"]
        return events if len(events) >= 3 else None

    events = eventually(arrived, "the held events to arrive")
    assert {e["source"] for e in events} == {"consent-site"}
    assert {e.get("event") or e["type"] for e in events} == {
        "page",
        "Product Added",
        "Clicked Anything",
    }
    context.close()
