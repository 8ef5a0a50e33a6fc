"""The website chat in real browsers (Debian's chromium driven by Playwright): a visitor on
the shop's pages (another origin, one script tag) and an agent at the console, in two
browser contexts. Issue 19."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chat.conftest import LUNCH, NIGHT, SHOP, SHOP_PORT, ChatServer
from tests.conftest import WRITE_KEY, require_service, user_token

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 20_000
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<script src="{vigie}/t.js" data-write-key="{key}" {extra} async></script></head>
<body><h1>{title}</h1><a id="next" href="{next}">checkout</a></body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shop(chat_server: ChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop's site on its own origin: /lunch-deal/ and /checkout with the script tag
    (and /lunch-deal/sse.html, /checkout-sse: the same with WebSockets skipped, as behind a
    proxy that blocks them)."""
    root = tmp_path_factory.mktemp("shop")
    (root / "lunch-deal").mkdir()
    sse = 'data-chat-transport="sse"'
    for path, title, extra, next in (
        ("lunch-deal/index.html", "Lunch deal", "", "/checkout"),
        ("checkout", "Checkout", "", "/checkout"),
        ("lunch-deal/sse.html", "Lunch deal", sse, "/checkout-sse"),
        ("checkout-sse", "Checkout", sse, "/checkout-sse"),
    ):
        html = PAGE.format(
            lang="fr", title=title, vigie=chat_server.url, key=WRITE_KEY, extra=extra, next=next
        )
        (root / path).write_text(html)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def guess_type(self, path: Any) -> str:
            return "text/html"

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", SHOP_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SHOP
    server.shutdown()
    server.server_close()


def _agent(browser: Any, server: ChatServer, name: str = "ana") -> Any:
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/login?next=/chat")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/chat")
    page.wait_for_selector("body[data-chat-live]", timeout=WAIT_MS)
    return page


def _visitor(browser: Any, url: str) -> Any:
    context = browser.new_context(locale="fr-BE")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector('#vigie-chat[data-ready="true"]', timeout=WAIT_MS)
    page.errors = errors
    return page


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_invited_visitor_and_agent_talk_and_it_lands_in_the_crm(
    chat_server: ChatServer, shop: str, browser: Any, transport: str
) -> None:
    """The invitation arrives on the open page; messages go both ways, also after the visitor
    moves to another page; tags, outcome and transcript reach the CRM interaction."""
    from playwright.sync_api import expect

    server = chat_server
    # A manual run is once per instant: each transport's run at its own minute.
    server.clock.set(LUNCH + timedelta(minutes=0 if transport == "websocket" else 1))
    agent = _agent(browser, server)
    page = "" if transport == "websocket" else "sse.html"
    visitor = _visitor(browser, f"{shop}/lunch-deal/{page}?utm_campaign=lunch-deal")
    expect(visitor.locator("#vigie-chat")).to_have_attribute("data-transport", transport)
    expect(agent.locator("#chat-visitors [data-visitor]").first).to_be_visible(timeout=WAIT_MS)

    ran = httpx.post(
        f"{server.url}/api/playbooks/invite-lunch/run",
        json={},
        headers=server.agent("admin"),
        timeout=30,
    )
    assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text
    assert ran.json()["steps"][0]["result"]["delivered"] == 1, ran.text
    expect(visitor.locator("#vigie-chat-invite-text")).to_have_text(
        "Un souci ? / A problem?", timeout=WAIT_MS
    )
    visitor.click("#vigie-chat-accept")
    visitor.fill("#vigie-chat-input", "Le paiement <b>échoue</b>")
    visitor.keyboard.press("Enter")
    expect(visitor.locator(".vigie-chat-msg.visitor")).to_contain_text("<b>échoue</b>")

    item = agent.locator("#chat-inbox [data-conversation]").first
    expect(item).to_be_visible(timeout=WAIT_MS)
    item.locator("button").click()
    expect(agent.locator("#chat-messages")).to_contain_text("<b>échoue</b>")
    agent.fill("#chat-text", "Je regarde tout de suite")
    agent.click("#chat-reply button[type=submit]")
    expect(visitor.locator(".vigie-chat-msg.agent")).to_have_text(
        "Conseiller: Je regarde tout de suite", timeout=WAIT_MS
    )

    visitor.click("#next")  # to /checkout: the conversation follows
    visitor.wait_for_selector('#vigie-chat[data-ready="true"]', timeout=WAIT_MS)
    expect(visitor.locator("#vigie-chat-panel")).to_be_visible()
    expect(visitor.locator(".vigie-chat-msg")).to_have_count(2)
    visitor.fill("#vigie-chat-input", "Toujours bloqué au paiement")
    visitor.keyboard.press("Enter")
    expect(agent.locator("#chat-messages")).to_contain_text("Toujours bloqué", timeout=WAIT_MS)

    agent.fill("#chat-tag-name", "bug at checkout")
    agent.click("#chat-tag button[type=submit]")
    expect(agent.locator("#chat-meta")).to_contain_text("bug at checkout")
    agent.select_option("#chat-outcome", "bug reported")
    agent.click("#chat-close button[type=submit]")
    expect(visitor.locator("#vigie-chat-status")).to_contain_text("terminée", timeout=WAIT_MS)

    cid = visitor.evaluate("sessionStorage.getItem('vigie_chat_conversation')") or ""
    assert visitor.errors == [] and cid == ""
    found = httpx.get(
        f"{server.url}/api/interactions",
        params={"kind": "chat"},
        headers=server.agent("admin"),
        timeout=30,
    ).json()
    mine = [i for i in found["items"] if i["properties"]["run_id"] == ran.json()["id"]]
    assert len(mine) == 1
    props = mine[0]["properties"]
    assert props["tags"] == ["bug at checkout"] and props["outcome"] == "bug reported"
    assert props["invitation_id"] and props["page"] == "/lunch-deal/" + page
    texts = [m["text"] for m in props["transcript"]]
    assert texts == [
        "Le paiement <b>échoue</b>",
        "Je regarde tout de suite",
        "Toujours bloqué au paiement",
    ]
    assert props["campaign"] == "lunch-deal"
    agent.context.close()
    visitor.context.close()


def test_at_night_the_widget_offers_the_offline_form(
    chat_server: ChatServer, shop: str, browser: Any
) -> None:
    """Outside working hours (injected clock) the widget opens on the offline form, which
    leaves a ticket for the next working period."""
    from playwright.sync_api import expect

    server = chat_server
    server.clock.set(NIGHT)
    try:
        visitor = _visitor(browser, f"{shop}/checkout")
        expect(visitor.locator("#vigie-chat")).to_have_attribute("data-online", "false")
        visitor.keyboard.press("Tab")
        visitor.click("#vigie-chat-launcher")
        expect(visitor.locator("#vigie-chat-offline")).to_be_visible()
        expect(visitor.locator("#vigie-chat-form")).to_be_hidden()
        visitor.fill("#vigie-chat-offline-name", "Léa")
        visitor.fill("#vigie-chat-offline-email", "lea@example.be")
        visitor.fill("#vigie-chat-offline-text", "Rappelez-moi demain")
        visitor.click("#vigie-chat-offline button[type=submit]")
        expect(visitor.locator("#vigie-chat-status")).to_contain_text("Merci", timeout=WAIT_MS)
        tickets = httpx.get(
            f"{server.url}/api/tickets",
            params={"channel": "chat"},
            headers=server.agent("admin"),
            timeout=30,
        ).json()
        assert any(t["subject"] == "Chat offline: Léa" for t in tickets["items"])
        visitor.context.close()
    finally:
        server.clock.set(LUNCH)


@pytest.mark.parametrize(
    ("locale", "heading", "resolved"),
    [("en-GB", "Chat KPIs", "Resolved"), ("fr-BE", "Indicateurs du chat", "Résolues")],
)
def test_the_console_shows_the_chat_kpis(
    browser: Any, chat_server: ChatServer, locale: str, heading: str, resolved: str
) -> None:
    """The console shows the live chat KPIs in the agent's language, and a conversation
    closed meanwhile moves them without reloading the page."""
    server = chat_server
    server.clock.set(LUNCH)
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/login?next=/chat")
    page.fill("#username", "bo")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/chat")
    page.wait_for_selector("body[data-chat-live]", timeout=WAIT_MS)
    page.wait_for_selector('#chat-kpis [data-kpi="conversations"]', timeout=WAIT_MS)
    assert page.inner_text("#chat-kpis-title") == heading
    assert resolved in page.inner_text('#chat-kpis [data-kpi="resolution"]')
    shown = int(page.inner_text('#chat-kpis [data-kpi="conversations"] strong'))
    visitor = f"kpi-{locale}"
    token = server.session(visitor)["token"]
    started = server.widget("start", {"anonymousId": visitor, "token": token, "text": "?"})
    assert started.status_code == 200, started.text
    page.wait_for_function(
        "n => Number(document.querySelector('#chat-kpis [data-kpi=\"conversations\"] strong')"
        ".textContent) > n",
        arg=shown,
        timeout=WAIT_MS,
    )
    context.close()


def test_a_conversation_a_colleague_takes_leaves_a_salespersons_console(
    browser: Any, chat_server: ChatServer
) -> None:
    """A salesperson's console drops a queued conversation as soon as a colleague takes it
    (by replying, or a support agent assigning it to themselves), the thread open on it
    included, without a reload; the console of the one who took it keeps it."""
    from playwright.sync_api import expect

    server = chat_server
    server.clock.set(LUNCH)
    tokens = {
        name: user_token(server.system, username=name, role="sales") for name in ("sam", "sue")
    }
    cids = []
    for visitor in ("taken-by-reply", "taken-by-assign"):
        token = server.session(visitor)["token"]
        started = server.widget("start", {"anonymousId": visitor, "token": token, "text": "?"})
        assert started.status_code == 200, started.text
        cids.append(started.json()["id"])
    # Salespeople are not the desk's agents on duty: they find the queue on opening the page.
    sam, sue = _agent(browser, server, "sam"), _agent(browser, server, "sue")
    for page in (sam, sue):
        for cid in cids:
            expect(page.locator(f'#chat-inbox [data-conversation="{cid}"]')).to_be_visible(
                timeout=WAIT_MS
            )
    sue.locator(f'#chat-inbox [data-conversation="{cids[0]}"] button').click()
    expect(sue.locator("#chat-thread")).to_be_visible()

    url = f"{server.url}/api/chat/conversations"
    sam_token = {"Authorization": f"Bearer {tokens['sam']}"}
    replied = httpx.post(
        f"{url}/{cids[0]}/messages", json={"text": "Je prends"}, headers=sam_token, timeout=30
    )
    assert replied.status_code == 200, replied.text
    expect(sue.locator(f'#chat-inbox [data-conversation="{cids[0]}"]')).to_have_count(
        0, timeout=WAIT_MS
    )
    expect(sue.locator("#chat-thread")).to_be_hidden()
    expect(sam.locator(f'#chat-inbox [data-conversation="{cids[0]}"]')).to_be_visible()

    assigned = httpx.post(
        f"{url}/{cids[1]}/assign", json={"to": "ana"}, headers=server.agent("ana"), timeout=30
    )
    assert assigned.status_code == 200, assigned.text
    for page in (sam, sue):
        expect(page.locator(f'#chat-inbox [data-conversation="{cids[1]}"]')).to_have_count(
            0, timeout=WAIT_MS
        )
    expect(sam.locator(f'#chat-inbox [data-conversation="{cids[0]}"]')).to_be_visible()
    sam.context.close()
    sue.context.close()
