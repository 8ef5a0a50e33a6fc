"""PostHog's browser library, posthog-js from npm, unchanged but for `api_host`, in Chromium
(issue 18): the site loads the library's full bundle from its own files and posts to a live
Vigie on another origin, which answers its remote config and flags requests too."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WRITE_KEY, free_port, make_settings
from tests.ingest.clients import (
    Exchanges,
    LoseFirstAnswer,
    eventually,
    rejected,
    static_site,
    stored_events,
    stored_ids,
)
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser

CAPTURES = 15
# A visitor's browser: posthog-js drops the events of a "HeadlessChrome" user agent as a bot's
# (and of a browser whose navigator.webdriver is set: see the `chromium` fixture).
VISITOR_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

PAGE = """<!doctype html><html><head><title>Lunch deal</title>
<script src="/posthog/array.full.js"></script></head><body><h1>Lunch deal</h1>
<script>
window.sent = [];
posthog.init(%(key)s, {api_host: %(vigie)s});
posthog.on("eventCaptured", function (event) { window.sent.push(event.uuid); });
for (let i = 0; i < %(captures)d; i++) {
  posthog.capture("Product Added", {sku: "sku-" + i});
}
posthog.identify("user-42", {email: "ana@example.be"});
posthog.capture("Order Completed", {revenue: 12.5});
posthog.setPersonProperties({plan: "pro"});
</script></body></html>"""


class Setup:
    """A live Vigie behind `LoseFirstAnswer`, and the site that loads posthog-js."""

    def __init__(self, system: System, vigie: str, site: str, exchanges: Exchanges) -> None:
        self.system = system
        self.vigie = vigie
        self.site = site
        self.exchanges = exchanges


@pytest.fixture
def setup(db_url: str, node_modules: Path) -> Iterator[Setup]:
    """Vigie on one origin, losing its first answer to a capture; the site on another."""
    exchanges = Exchanges()
    exchanges.fail_first = lambda path: path == "/e/" and exchanges.failed < 1
    app = create_app(build_system(make_settings(db_url)))
    app.add_middleware(LoseFirstAnswer, exchanges=exchanges)
    with BackgroundServer(app, port=free_port()) as vigie:
        pages = {
            "/deal": PAGE
            % {"vigie": json.dumps(vigie.url), "key": json.dumps(WRITE_KEY), "captures": CAPTURES},
            "/bye": "<!doctype html><title>bye</title><p>bye</p>",
        }
        dist = node_modules / "posthog-js" / "dist"
        with static_site(pages, {"/posthog/": dist}) as site:
            yield Setup(app.state.system, vigie.url, site, exchanges)


def test_posthog_js_events_arrive_once_with_identity_and_traits(
    setup: Setup, chromium: Any
) -> None:
    """posthog-js's pageview, captures, identify and $set arrive once (gzipped text/plain),
    a batch whose answer was lost is retried and deduplicated by uuid, an event sent by
    `navigator.sendBeacon` arrives too; nothing refused, nothing from a CDN."""
    context = chromium.new_context(user_agent=VISITOR_AGENT)
    page = context.new_page()
    foreign: list[str] = []
    failed_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((setup.site, setup.vigie))
            else foreign.append(request.url)
        ),
    )
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    try:
        page.goto(setup.site + "/deal")
        sent: list[str] = eventually(
            lambda: page.evaluate(f"window.sent.length >= {CAPTURES + 4} && window.sent") or None,
            "the captures",
        )
        eventually(
            lambda: True if Counter(stored_ids(setup.system)) >= Counter(sent) else None,
            "every event in the log",
        )
        eventually(
            lambda: True if any(e.retry for e in setup.exchanges.seen) else None,
            "the retry of the lost answer",
        )
        sent.append(
            page.evaluate(
                'posthog.capture("Coupon Copied", {code: "NOON"}, {transport: "sendBeacon"}).uuid'
            )
        )
        eventually(
            lambda: True if Counter(stored_ids(setup.system)) == Counter(sent) else None,
            "the event sent by sendBeacon",
        )
    finally:
        context.close()

    # Closing the page may add the $pageleave posthog-js beacons on `pagehide`, after
    # `window.sent` was read: counted apart.
    stored = stored_events(setup.system)
    leaves = [e.message_id for e in stored if e.event == "$pageleave"]
    assert len(leaves) <= 1
    assert Counter(e.message_id for e in stored) == Counter([*sent, *leaves])
    assert setup.exchanges.failed == 1
    assert all(e.status == 200 for e in setup.exchanges.seen), setup.exchanges.seen
    assert rejected(setup.system) == []
    assert foreign == [] and failed_requests == []
    assert {"/e/"} <= {e.path for e in setup.exchanges.seen}

    events = [e for e in stored if e.event != "$pageleave"]
    first = next(e for e in events if e.event == "Product Added")
    visitor = first.anonymous_id  # posthog-js's device id, before the visitor logs in
    assert visitor and first.user_id is None
    assert first.context["page"]["path"] == "/deal"
    assert first.context["library"]["name"] == "web"
    pageview = next(e for e in events if e.type == "page")
    assert pageview.anonymous_id == visitor and pageview.name == "Lunch deal"
    assert pageview.properties["path"] == "/deal"
    identify = next(e for e in events if e.extra.get("$event") == "$identify")
    assert identify.type == "identify"
    assert identify.user_id == "user-42" and identify.anonymous_id == visitor
    assert identify.traits == {"email": "ana@example.be"}
    order = next(e for e in events if e.event == "Order Completed")
    assert order.user_id == "user-42" and order.anonymous_id == visitor
    assert order.properties["revenue"] == 12.5
    assert "token" not in order.properties  # the write key is not stored with every event
    person = next(e for e in events if e.extra.get("$event") == "$set")
    assert person.type == "identify" and person.traits == {"plan": "pro"}
    assert Counter(e.event for e in events if e.type == "track")["Product Added"] == CAPTURES
    coupon = next(e for e in events if e.event == "Coupon Copied")
    assert coupon.properties["code"] == "NOON" and coupon.user_id == "user-42"
