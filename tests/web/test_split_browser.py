"""The dashboard of an API node in Chromium, with the log on NATS JetStream: an event posted
to another (ingest) node shows on the open page, and the alert the worker fires with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import NATS_URL, WRITE_KEY, free_port, make_settings, port_open, require_service
from tests.web.conftest import CONFIG, PASSWORD, PROBE, Dashboard
from tests.web.test_dashboard_browser import CHROMIUM, WAIT_MS, Problems, _settle, _sign_in
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.log.nats import NatsEventLog, parse_nats_url
from vigie.log.sql import SqlEventLog
from vigie.store import connect
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser


@pytest.fixture
def nats_url() -> Iterator[str]:
    """A stream of this test's own on the test NATS server, removed afterwards."""
    parsed = parse_nats_url(NATS_URL)
    host, _, port = parsed.servers.split("://", 1)[1].partition(":")
    if not port_open(host, int(port or 4222)):
        require_service("NATS JetStream", f"nothing listens on {host}:{port}")
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    name = f"B{uuid.uuid4().hex[:10].upper()}"
    yield f"{parsed.servers}?stream={name}&prefix=vigietest.{name.lower()}"


@pytest.fixture
def split(nats_url: str, tmp_path: Path) -> Iterator[tuple[Dashboard, str]]:
    """An API node and an ingest node (in this process) and a `vigie worker` (a process of
    its own), on one SQLite store and one JetStream stream."""
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    config_file = tmp_path / "vigie.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    config = parse_config(config_file.read_text(), origin=str(config_file))
    settings = make_settings(db_url, config)
    settings.log_url = nats_url
    api = build_system(settings, role="api")
    ingest_settings = make_settings(db_url, config)
    ingest_settings.log_url = nats_url
    ingest = build_system(ingest_settings, role="ingest")
    worker = None
    try:
        with (
            BackgroundServer(create_app(api), port=free_port()) as api_server,
            BackgroundServer(create_app(ingest), port=free_port()) as ingest_server,
        ):
            create_user(engine=api.engine, username="lea", password=PASSWORD, role="manager",
                        display_name="Lea", now=api.clock.now())  # fmt: skip
            worker = subprocess.Popen(
                [sys.executable, "-m", "vigie", "worker", "--db", db_url, "--log", nats_url,
                 "--config", str(config_file)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
            )  # fmt: skip
            yield Dashboard(url=api_server.url, write_key=WRITE_KEY, system=api), ingest_server.url
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        log = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(connect(db_url)))
        log.delete_stream()
        log.close()


def test_an_event_posted_to_an_ingest_node_shows_on_an_api_nodes_open_page(
    split: tuple[Dashboard, str],
) -> None:
    """The API node's live counter, activity, feed and KPI tile move, and the worker's alert
    appears in its firing list, without a reload, in English and in French."""
    from playwright.sync_api import expect, sync_playwright

    dashboard, ingest_url = split
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for language, locale in (("en", "en-GB"), ("fr", "fr-BE")):
            context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            problems = Problems()
            problems.watch(page)
            _sign_in(page, dashboard, "lea")
            _settle(page, language)
            page.evaluate("window.vigieNotReloaded = true")
            total = page.inner_text("#live-total")
            visitor = f"visitor-{language}"
            httpx.post(
                ingest_url + "/v1/track",
                json={"event": PROBE, "anonymousId": visitor},
                auth=(WRITE_KEY, ""),
            ).raise_for_status()
            expect(page.locator("#live-total")).not_to_have_text(total, timeout=WAIT_MS)
            expect(page.locator("#event-feed li").first).to_contain_text(visitor, timeout=WAIT_MS)
            expect(page.locator('#kpis [data-kpi="probes"]')).to_have_class(
                "tile breached", timeout=WAIT_MS
            )
            if language == "en":
                expect(page.locator("#firing li[data-alert]")).to_contain_text(
                    "probe-seen", timeout=WAIT_MS
                )
            assert page.evaluate("window.vigieNotReloaded") is True
            assert problems.found == []
            context.close()
        browser.close()
