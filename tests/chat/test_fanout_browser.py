"""The chat on two API nodes in real browsers (Debian's chromium driven by Playwright): the
shop's widget talks to node A, the agent's console is open on node B, both on one NATS
JetStream stream. Issue 16."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.chat.conftest import LUNCH, SHOP, SHOP_PORT
from tests.chat.test_fanout import Cluster, cluster  # noqa: F401 - nodes A and B, a worker
from tests.chat.test_widget_browser import PAGE, WAIT_MS, _visitor, browser  # noqa: F401
from tests.conftest import WRITE_KEY

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The shop's /lunch-deal/ page on its own origin, its script tag naming node A."""
    root = tmp_path_factory.mktemp("shop")
    (root / "lunch-deal").mkdir()
    html = PAGE.format(
        lang="fr", title="Lunch deal", vigie=cluster.a.url, key=WRITE_KEY, extra="", next="/"
    )
    (root / "lunch-deal" / "index.html").write_text(html)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", SHOP_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SHOP
    server.shutdown()
    server.server_close()


def test_a_visitor_on_node_a_and_an_agent_on_node_b_talk_in_their_browsers(
    cluster: Cluster,  # noqa: F811
    shop: str,
    browser: Any,  # noqa: F811
) -> None:
    """B's console lists the visitor whose widget is open on A; a playbook run on A invites
    them (an agent is connected, on B); the visitor's message shows on B's console and the
    agent's reply on A's widget, without a reload."""
    from playwright.sync_api import expect

    cluster.at(LUNCH + timedelta(minutes=5))
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    agent = context.new_page()
    agent.goto(f"{cluster.b.url}/login?next=/chat")
    agent.fill("#username", "ana")
    agent.fill("#password", "correct horse battery")
    agent.keyboard.press("Enter")
    agent.wait_for_url("**/chat")
    agent.wait_for_selector("body[data-chat-live]", timeout=WAIT_MS)
    agent.evaluate("window.vigieNotReloaded = true")

    visitor = _visitor(browser, f"{shop}/lunch-deal/")
    expect(agent.locator("#chat-visitors [data-visitor]").first).to_be_visible(timeout=WAIT_MS)
    ran = httpx.post(
        f"{cluster.a.url}/api/playbooks/invite-lunch/run", json={}, headers=cluster.headers("admin")
    )
    assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text
    expect(visitor.locator("#vigie-chat-invite-text")).to_have_text(
        "Un souci ? / A problem?", timeout=WAIT_MS
    )
    visitor.click("#vigie-chat-accept")
    visitor.fill("#vigie-chat-input", "Bonjour depuis le nœud A")
    visitor.keyboard.press("Enter")

    item = agent.locator("#chat-inbox [data-conversation]").first
    expect(item).to_be_visible(timeout=WAIT_MS)
    item.locator("button").click()
    expect(agent.locator("#chat-messages")).to_contain_text("Bonjour depuis le nœud A")
    agent.fill("#chat-text", "Réponse du nœud B")
    agent.click("#chat-reply button[type=submit]")
    expect(visitor.locator(".vigie-chat-msg.agent")).to_have_text(
        "Conseiller: Réponse du nœud B", timeout=WAIT_MS
    )
    visitor.fill("#vigie-chat-input", "Merci !")
    visitor.keyboard.press("Enter")
    expect(agent.locator("#chat-messages")).to_contain_text("Merci !", timeout=WAIT_MS)
    assert agent.evaluate("window.vigieNotReloaded") is True
    assert visitor.errors == []
