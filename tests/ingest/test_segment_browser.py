"""Segment's own browser library, analytics-next from npm, unchanged, in Chromium (issue 18).

The site (one origin) loads the library's UMD build from its own files and gives the
settings inline (`cdnSettings`), so nothing is fetched from Segment's CDN; the library posts
to a live Vigie (another origin) through its `apiHost`.
"""

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
    stored_ids,
)
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser

TRACKS = 20
CALLS = TRACKS + 5  # and a page, an identify, a group, an alias and a screen

PAGE = """<!doctype html><html><head><title>Pricing</title>
<script src="/analytics-next/index.js"></script></head><body><h1>Pricing</h1><script>
window.sent = (async function () {
  const key = %(key)s;
  // apiHost is a host and path without the scheme, as for Segment's api.segment.io/v1.
  const segment = {apiKey: key, apiHost: %(host)s + "/v1", protocol: "http",
                   deliveryStrategy: %(strategy)s};
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {writeKey: key, cdnURL: location.origin,
     cdnSettings: {integrations: {"Segment.io": segment}, metrics: {sampleRate: 0}}},
    {integrations: {"Segment.io": segment}});
  const calls = [analytics.page("Pricing", {plan: "pro"})];
  for (let i = 0; i < %(tracks)d; i++) {
    calls.push(analytics.track("Product Added", {sku: "sku-" + i}));
  }
  calls.push(analytics.identify("user-42", {email: "ana@example.be"}));
  calls.push(analytics.group("acme", {name: "Acme"}));
  calls.push(analytics.alias("user-42-new"));
  calls.push(analytics.screen("Cart"));
  return (await Promise.all(calls)).map(ctx => ctx.event.messageId);
})();
</script></body></html>"""


class Setup:
    """A live Vigie behind `LoseFirstAnswer`, and the site that loads analytics-next."""

    def __init__(self, system: System, vigie: str, site: str, exchanges: Exchanges) -> None:
        self.system = system
        self.vigie = vigie
        self.site = site
        self.exchanges = exchanges


@pytest.fixture
def setup(db_url: str, node_modules: Path) -> Iterator[Setup]:
    """Vigie on one origin, whose first answers to some posts are lost; the site on another."""
    umd = node_modules / "@segment" / "analytics-next" / "dist" / "umd"
    exchanges = Exchanges()
    app = create_app(build_system(make_settings(db_url)))
    app.add_middleware(LoseFirstAnswer, exchanges=exchanges)
    with BackgroundServer(app, port=free_port()) as vigie:
        pages = {}
        waiting = {"size": 100, "timeout": 60000, "keepalive": True}
        for name, strategy in (
            ("standard", {"strategy": "standard", "config": {}}),
            ("batching", {"strategy": "batching", "config": {"size": 10, "timeout": 300}}),
            ("keepalive", {"strategy": "batching", "config": waiting}),
        ):
            pages[f"/{name}"] = PAGE % {
                "host": json.dumps(vigie.url.removeprefix("http://")),
                "key": json.dumps(WRITE_KEY),
                "strategy": json.dumps(strategy),
                "tracks": TRACKS,
            }
        pages["/bye"] = "<!doctype html><title>bye</title><p>bye</p>"
        with static_site(pages, {"/analytics-next/": umd}) as site:
            yield Setup(app.state.system, vigie.url, site, exchanges)


def _run(
    setup: Setup, chromium: Any, path: str, *, fail: str, one_retry_each: bool = True
) -> tuple[list[str], list[str]]:
    """Open `path`, run its calls; return the message ids sent and the foreign requests.
    With `one_retry_each`, wait until each lost answer's post was re-sent on its own (the
    standard delivery); the batching delivery may fold lost events into a later batch."""
    context = chromium.new_context()
    page = context.new_page()
    foreign: list[str] = []
    console: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((setup.site, setup.vigie))
            else foreign.append(request.url)
        ),
    )
    page.on("console", lambda message: console.append(message.text))
    setup.exchanges.fail_first = lambda p: p == fail and setup.exchanges.failed < 3
    try:
        page.goto(setup.site + path)
        sent: list[str] = page.evaluate("window.sent")
        eventually(
            lambda: True if Counter(stored_ids(setup.system)) >= Counter(sent) else None,
            "every call in the log",
        )
        eventually(
            lambda: (
                True
                if any(e.retry for e in setup.exchanges.seen if e.path == fail)
                and (
                    not one_retry_each
                    or setup.exchanges.failed
                    == len([e for e in setup.exchanges.seen if e.retry and e.path == fail])
                )
                else None
            ),
            "the retries of the lost answers",
        )
    finally:
        context.close()
    assert not [line for line in console if "CORS" in line or "Access-Control" in line]
    return sent, foreign


def test_analytics_next_calls_arrive_once_and_retries_are_deduplicated(
    setup: Setup, chromium: Any
) -> None:
    """Every call of analytics-next (standard delivery, one post per call to /v1/<letter>) is
    stored once; posts whose answer was lost are retried with X-Retry-Count through the CORS
    preflight and acknowledged as duplicates; nothing is refused, nothing comes from a CDN."""
    sent, foreign = _run(setup, chromium, "/standard", fail="/v1/t")

    assert len(sent) == CALLS == len(set(sent))
    assert Counter(stored_ids(setup.system)) == Counter(sent)
    paths = Counter(e.path for e in setup.exchanges.seen)
    assert paths == {
        "/v1/t": TRACKS + setup.exchanges.failed,
        "/v1/p": 1,
        "/v1/i": 1,
        "/v1/g": 1,
        "/v1/a": 1,
        "/v1/s": 1,
    }
    assert setup.exchanges.failed == 3
    retries = [e for e in setup.exchanges.seen if e.retry]
    assert [(e.retry, e.status) for e in retries] == [("1", 200)] * 3
    assert all(e.status == 200 for e in setup.exchanges.seen)
    assert rejected(setup.system) == []
    assert foreign == []

    kinds = Counter(e.type for e in setup.system.log.read(1, 100))
    assert kinds == {
        "track": TRACKS,
        "page": 1,
        "identify": 1,
        "group": 1,
        "alias": 1,
        "screen": 1,
    }
    identify = next(e for e in setup.system.log.read(1, 100) if e.type == "identify")
    assert identify.user_id == "user-42" and identify.traits == {"email": "ana@example.be"}
    assert identify.anonymous_id  # the visitor's id before they logged in


def test_analytics_next_batches_arrive_once(setup: Setup, chromium: Any) -> None:
    """With `deliveryStrategy: batching`, the library posts to /v1/b; the events of a batch
    whose answer was lost are re-sent with X-Retry-Count (alone or folded into a later batch)
    and counted as duplicates: each is stored once."""
    sent, foreign = _run(setup, chromium, "/batching", fail="/v1/b", one_retry_each=False)

    assert Counter(stored_ids(setup.system)) == Counter(sent)
    assert {e.path for e in setup.exchanges.seen} == {"/v1/b"}
    retried = [e.status for e in setup.exchanges.seen if e.retry]
    assert 1 <= len(retried) <= setup.exchanges.failed and set(retried) == {200}
    assert all(e.status == 200 for e in setup.exchanges.seen)
    assert rejected(setup.system) == []
    assert foreign == []


def test_analytics_next_keepalive_batch_is_sent_when_the_page_is_left(
    setup: Setup, chromium: Any
) -> None:
    """A batch still waiting when the visitor leaves goes out as a `keepalive` text/plain post
    during `pagehide`, and Vigie stores it."""
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(setup.site + "/keepalive")
        sent: list[str] = page.evaluate("window.sent")
        assert stored_ids(setup.system) == []  # the batch waits for its 60 s timeout
        page.goto(setup.site + "/bye")
        eventually(
            lambda: True if Counter(stored_ids(setup.system)) == Counter(sent) else None,
            "the batch sent on pagehide",
        )
    finally:
        context.close()
    assert {e.path for e in setup.exchanges.seen} == {"/v1/b"}
    assert all(e.status == 200 for e in setup.exchanges.seen)
