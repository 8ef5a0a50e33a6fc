"""Beyond one process: ingest nodes and workers on real NATS JetStream and PostgreSQL.

Two `vigie serve --role ingest` and two `vigie worker` processes share a PostgreSQL store
and a JetStream stream; a client streams to both ingest nodes while the worker doing the
processing is killed with SIGKILL and started again. The outcome must equal one process
fed the same events: every event once in the log, every order once in the CRM, the same
alerts, none twice; and an API node shows the same KPIs and funnels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import (
    NATS_URL,
    WRITE_KEY,
    free_port,
    port_open,
    require_service,
    user_token,
)
from tests.sensors.conftest import SENSORS
from vigie.auth.audit import Actor
from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.chat.conversations import CHAT_EVENTS, chat_event
from vigie.clock import ManualClock
from vigie.config import load_config
from vigie.crm.tables import interactions
from vigie.events import Event
from vigie.kpi.partitions import Partitioning
from vigie.log.eventlog import AppendJob
from vigie.log.leases import Lease
from vigie.log.nats import NatsEventLog, parse_nats_url
from vigie.log.progress import lags
from vigie.log.sql import SqlEventLog
from vigie.rules.partitions import PARTITION_PREFIX
from vigie.rules.store import AlertStore
from vigie.sensors.tables import display_placements, ring_links
from vigie.settings import Settings
from vigie.store import connect, upgrade
from vigie.system import (
    PARTITION_SHARE,
    PROCESSORS_LEASE,
    PROJECTIONS_SHARE,
    Role,
    System,
    build_system,
)
from vigie.web import create_app
from vigie.web.server import BackgroundServer

CONFIG = f"""
environment: development
sources:
  - {{name: web, write_key: {WRITE_KEY}}}
metrics:
  - name: orders
    kind: count
    where: {{event: Order Completed}}
    by: [campaign]
    window: 1h
rules:
  - name: busy-campaign
    kind: threshold
    metric: orders
    op: ">="
    value: 300
"""
FUNNELS = """
analytics:
  funnels:
    - name: checkout
      window_minutes: 60
      steps:
        - event: Checkout Started
        - event: Order Completed
"""
CAMPAIGNS = {"spring": 700, "summer": 450, "autumn": 50}
BATCH = 40
WAIT_SECONDS = 180.0
PROCESSORS = ("rules", "crm", "analytics")


@pytest.fixture
def nats_url() -> str:
    """A log URL on the test NATS server with a stream of its own, or a skip/fail."""
    parsed = parse_nats_url(NATS_URL)
    host, _, port = parsed.servers.split("://", 1)[1].partition(":")
    if not port_open(host, int(port or 4222)):
        require_service("NATS JetStream", f"nothing listens on {host}:{port}")
    name = f"W{uuid.uuid4().hex[:10].upper()}"
    return f"{parsed.servers}?stream={name}&prefix=vigietest.{name.lower()}"


def _orders() -> list[dict[str, Any]]:
    """Order events per campaign, interleaved, stamped a minute ago (inside the window)."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = []
    for campaign, count in CAMPAIGNS.items():
        for n in range(count):
            events.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "messageId": f"{campaign}-{n}",
                    "userId": f"customer-{n % 37}",
                    "timestamp": at,
                    "properties": {"campaign": campaign, "order_id": f"{campaign}-{n}"},
                }
            )
    events.sort(key=lambda e: (int(e["messageId"].split("-")[1]), e["messageId"]))
    return events


def _checkouts() -> list[dict[str, Any]]:
    """Checkouts started two minutes ago: customers 20 to 36 order afterwards (`_orders`),
    37 to 49 never do, and 0 to 19 order without one."""
    at = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    return [
        {
            "type": "track",
            "event": "Checkout Started",
            "messageId": f"checkout-{n}",
            "userId": f"customer-{n}",
            "timestamp": at,
        }
        for n in range(20, 50)
    ]


class Cluster:
    """The processes of one deployment, all on the same store and log."""

    def __init__(self, *, db_url: str, log_url: str, config: Path, logs: Path) -> None:
        self.args = ["--db", db_url, "--log", log_url, "--config", str(config)]
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigie", *command, *self.args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs.append(proc)
        return proc

    def ingest_node(self) -> str:
        return self.node("ingest")

    def node(self, role: Role) -> str:
        """A `vigie serve --role ROLE` process's URL, once it answers."""
        port = free_port()
        self.spawn(role, "serve", "--role", role, "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(f"the {role} node on {url} did not start; see {self.logs}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(what: str, check: Any, *, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _holder_pid(lease: Lease) -> int | None:
    holder = lease.current_holder()
    return None if holder is None else int(holder.split(":")[1])


def _outcome(engine: sa.Engine) -> tuple[int, set[tuple[str, str]], dict[str, int]]:
    """What the processors made: orders in the CRM, alerts (rule, group), fired per group."""
    with engine.connect() as conn:
        orders = conn.execute(
            sa.select(sa.func.count())
            .select_from(interactions)
            .where(interactions.c.kind == "invoice")
        ).scalar_one()
    alerts = AlertStore(engine).list(limit=1000)
    groups = [(a.rule, str(sorted(a.labels.items()))) for a in alerts]
    fired: dict[str, int] = {}
    for _rule, group in groups:
        fired[group] = fired.get(group, 0) + 1
    return int(orders), set(groups), fired


def _kpis(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(str(r["metric"]), str(r["group"])): float(r["value"]) for r in rows}


def _funnels(system: System) -> dict[str, Any]:
    """Every configured funnel's report, as `GET /api/funnels/{name}` answers it."""
    analytics = system.analytics
    return {
        f.name: msgspec.to_builtins(analytics.funnel_report(f.name))
        for f in analytics.config.funnels
    }


def _single_process_views(batches: list[list[dict[str, Any]]], config: Path, tmp_path: Path) -> Any:
    """One `vigie serve` on SQLite fed the same batches: its outcome, its KPI values and its
    funnels' reports."""
    settings = Settings(db_url=f"sqlite:///{tmp_path}/single.db", config=load_config(config))
    app = create_app(build_system(settings))
    with BackgroundServer(app, port=free_port()) as server:
        system: System = app.state.system
        with httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client:
            for batch in batches:
                answer = client.post(f"{server.url}/v1/batch", json={"batch": batch})
                assert answer.status_code == 200, answer.text
        last = system.log.last_offset()
        _wait(
            "the single process to catch up",
            lambda: all(system.runner.position(n) > last for n in PROCESSORS),
        )
        return _outcome(system.engine), _kpis(system.alerting.snapshot()), _funnels(system)


def _single_process_kpis(batches: list[list[dict[str, Any]]], config: Path, tmp_path: Path) -> Any:
    """One `vigie serve` on SQLite fed the same batches: its outcome and its KPI values."""
    return _single_process_views(batches, config, tmp_path)[:2]


def _single_process(batches: list[list[dict[str, Any]]], config: Path, tmp_path: Path) -> Any:
    """The same batches posted to one `vigie serve` (in process, SQLite): the reference."""
    return _single_process_kpis(batches, config, tmp_path)[0]


@contextmanager
def _deployment(
    tmp_path: Path, postgres_url: str, log_url: str, config_text: str
) -> Iterator[Cluster]:
    """A deployment's processes on a fresh PostgreSQL database and JetStream stream, the
    processes stopped and the stream deleted at the end."""
    config = tmp_path / "vigie.yaml"
    config.write_text(config_text)
    deployment = Cluster(db_url=postgres_url, log_url=log_url, config=config, logs=tmp_path)
    engine = connect(postgres_url)
    upgrade(engine)
    engine.dispose()
    try:
        yield deployment
    finally:
        deployment.stop()
        log = NatsEventLog.from_url(log_url, rejects=SqlEventLog(connect(postgres_url)))
        log.delete_stream()
        log.close()


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str, nats_url: str) -> Iterator[Cluster]:
    """A deployment's processes on a fresh PostgreSQL database and JetStream stream."""
    with _deployment(tmp_path, postgres_url, nats_url, CONFIG + FUNNELS) as deployment:
        yield deployment


def _admin_headers(engine: sa.Engine) -> dict[str, str]:
    """An API token of an admin created in the deployment's store."""
    now = datetime.now(UTC)
    user = create_user(
        engine=engine, username="admin", password="correct horse battery", role="admin", now=now
    )
    token = issue_token(engine=engine, user_id=user.id, name="test", now=now).token
    return {"Authorization": f"Bearer {token}"}


def test_two_ingest_nodes_and_two_workers_lose_nothing_and_count_nothing_twice(
    cluster: Cluster, postgres_url: str, nats_url: str, tmp_path: Path
) -> None:
    """kill -9 of the processing worker mid-stream: the other takes over, and the CRM and
    alerts equal a single process's over the same events, every event once in the log; the
    KPIs and funnels an API node serves equal the single process's too (issue 16)."""
    engine = connect(postgres_url)
    lease = Lease(engine, PROCESSORS_LEASE)
    headers = _admin_headers(engine)
    nodes = [cluster.ingest_node(), cluster.ingest_node()]
    api = cluster.node("api")
    workers = [cluster.spawn("worker", "worker"), cluster.spawn("worker", "worker")]
    _wait("a worker to hold the lease", lambda: _holder_pid(lease))
    orders = _orders()
    events = _checkouts() + orders
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    accepted = 0
    killed = restarted = None
    with httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client:
        for number, batch in enumerate(batches):
            node = nodes[number % 2]
            answer = client.post(f"{node}/v1/batch", json={"batch": batch})
            assert answer.status_code == 200, answer.text
            accepted += answer.json()["accepted"]
            if number == len(batches) // 3:
                pid = _holder_pid(lease)
                killed = next(w for w in workers if w.pid == pid)
                killed.send_signal(signal.SIGKILL)
                killed.wait()
            if number == 2 * len(batches) // 3:
                restarted = cluster.spawn("worker", "worker")
    assert killed is not None and restarted is not None
    assert accepted == len(events)

    log = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(engine))
    try:
        assert log.count() == len(events)
        last = log.last_offset()
        _wait("the workers to catch up", lambda: all(log.checkpoint(n) > last for n in PROCESSORS))
    finally:
        log.close()
    assert _holder_pid(lease) not in (None, killed.pid)
    outcome = _outcome(engine)
    engine.dispose()
    expected, expected_kpis, expected_funnels = _single_process_views(
        batches, Path(cluster.args[-1]), tmp_path
    )
    assert outcome == expected
    orders_count, groups, fired = expected
    assert orders_count == len(orders)
    assert len(groups) == 2 and set(fired.values()) == {1}
    assert sorted(expected_kpis.values()) == sorted(CAMPAIGNS.values())
    assert expected_funnels["checkout"]["entered"] == 30
    assert expected_funnels["checkout"]["converted"] == 17

    with httpx.Client(headers=headers, timeout=60) as client:

        def views() -> tuple[dict[tuple[str, str], float], dict[str, Any]]:
            kpis = _kpis(client.get(f"{api}/api/kpis").raise_for_status().json()["kpis"])
            funnels = {
                name: client.get(f"{api}/api/funnels/{name}").raise_for_status().json()
                for name in expected_funnels
            }
            return kpis, funnels

        # The API node reads the log every second: once it has caught up, it shows the
        # single process's figures (and a difference is shown if it never does).
        with contextlib.suppress(AssertionError):
            _wait("the API node's views", lambda: views() == (expected_kpis, expected_funnels))
        assert views() == (expected_kpis, expected_funnels)


class NatsServer:
    """A private `nats-server -js` on its own port and store, to stop and start at will."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait("nats-server to listen", lambda: port_open("127.0.0.1", self.port), seconds=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


NATS_SERVER = "/usr/sbin/nats-server"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS JetStream server of this test's own, stopped at the end."""
    if not Path(NATS_SERVER).exists():
        require_service("nats-server", f"{NATS_SERVER} is not installed")
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _track(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {"type": "track", "event": "Clicked", "messageId": f"{prefix}-{n}", "anonymousId": "a"}
        for n in range(count)
    ]


def test_a_nats_outage_answers_503_with_retry_after_and_loses_no_acknowledged_event(
    private_nats: NatsServer, tmp_path: Path
) -> None:
    """While JetStream is down an ingest node answers 503 + Retry-After; what it acknowledged
    before, and what the client sends again afterwards, is in the log once."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG)
    log_url = f"nats://127.0.0.1:{private_nats.port}?stream=OUTAGE"
    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config=load_config(config), log_url=log_url
    )
    app = create_app(build_system(settings, role="ingest"))
    acknowledged: set[str] = set()
    with (
        BackgroundServer(app, port=free_port()) as server,
        httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client,
    ):

        def post(batch: list[dict[str, Any]]) -> httpx.Response:
            answer = client.post(f"{server.url}/v1/batch", json={"batch": batch})
            if answer.status_code == 200:
                acknowledged.update(e["messageId"] for e in batch)
            return answer

        assert post(_track("before", 50)).status_code == 200
        private_nats.stop()
        refused = _wait("a 503", lambda: (a := post(_track("during", 20))).status_code == 503 and a)
        assert int(refused.headers["Retry-After"]) > 0
        assert "retry" in refused.json()["detail"]
        private_nats.start()
        _wait("the log to take events again", lambda: post(_track("during", 20)).status_code == 200)
        assert post(_track("after", 30)).status_code == 200
        stored = app.state.system.log.read(1, 10_000)
    ids = [e.message_id for e in stored]
    assert len(ids) == len(set(ids))
    assert acknowledged <= set(ids)
    assert {f"during-{n}" for n in range(20)} <= set(ids)


def test_an_api_node_on_nats_shows_what_another_node_ingested_in_its_live_feed(
    nats_url: str, tmp_path: Path
) -> None:
    """The dashboard's live feed of an API node follows the JetStream log, whoever appended."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG)
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    api = build_system(
        Settings(db_url=db_url, config=load_config(config), log_url=nats_url), role="api"
    )
    ingest = build_system(
        Settings(db_url=db_url, config=load_config(config), log_url=nats_url), role="ingest"
    )
    app, other = create_app(api), create_app(ingest)
    try:
        with (
            BackgroundServer(app, port=free_port()) as server,
            BackgroundServer(other, port=free_port()) as ingest_server,
        ):
            token = user_token(api, username="viewer", role="admin")
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(timeout=60) as client:
                with client.stream("GET", f"{server.url}/api/live", headers=headers) as stream:
                    lines = stream.iter_lines()
                    first = next(line for line in lines if line.startswith("data:"))
                    assert json.loads(first[5:])["total"] == 0
                    answer = client.post(
                        f"{ingest_server.url}/v1/batch",
                        json={"batch": _track("elsewhere", 7)},
                        auth=(WRITE_KEY, ""),
                    )
                    assert answer.status_code == 200
                    # The feed may show the batch's events as JetStream acknowledges them.
                    message: dict[str, Any] = {"total": 0}
                    while message["total"] < 7:
                        update = next(line for line in lines if line.startswith("data:"))
                        message = json.loads(update[5:])
                assert message["total"] == 7
                assert {e["label"] for e in message["events"]} == {"Clicked"}
    finally:
        log = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(connect(db_url)))
        log.delete_stream()
        log.close()


def test_an_api_node_shows_the_kpis_of_what_other_nodes_ingested_and_fires_nothing(
    tmp_path: Path,
) -> None:
    """`--role api` rebuilds the KPI windows for its dashboard from the shared log; alerts
    are the worker's to fire, so with no worker running none is stored."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG)
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    api = build_system(Settings(db_url=db_url, config=load_config(config)), role="api")
    ingest = build_system(Settings(db_url=db_url, config=load_config(config)), role="ingest")
    orders = [e for e in _orders() if e["properties"]["campaign"] == "spring"][:320]
    with (
        BackgroundServer(create_app(api), port=free_port()) as server,
        BackgroundServer(create_app(ingest), port=free_port()) as ingest_server,
        httpx.Client(timeout=60) as client,
    ):
        answer = client.post(
            f"{ingest_server.url}/v1/batch", json={"batch": orders}, auth=(WRITE_KEY, "")
        )
        assert answer.status_code == 200
        headers = {"Authorization": f"Bearer {user_token(api, username='viewer', role='admin')}"}

        def spring() -> float | None:
            kpis = client.get(f"{server.url}/api/kpis?metric=orders", headers=headers).json()
            values = [k["value"] for k in kpis["kpis"] if "spring" in str(k)]
            return values[0] if values and values[0] == len(orders) else None

        assert _wait("the API node's KPIs", spring, seconds=60) == len(orders)
        assert client.get(f"{server.url}/api/alerts", headers=headers).json()["alerts"] == []
    assert AlertStore(api.engine).list() == []


EXPERIMENTS = """
experiments:
  - name: checkout-button
    metric: Order Completed
    baseline: 0.3
    mde: 0.3
    horizon: 1d
"""
SENSOR_READINGS = (
    ("rfid", ("reader-4", "key-reader-4")),
    ("doors", ("door", "key-door")),
    ("crowd", ("cam-neuve", "key-cam-1")),
    ("crowd", ("cam-monnaie", "key-cam-2")),
)
IN_MEMORY_VIEWS = (
    "/api/sensors/shops/shop",
    "/api/sensors/city",
    "/api/sensors/devices",
    "/api/experiments",
    "/api/chat/kpis",
)


def _sensor_readings(now: datetime) -> list[tuple[str, dict[str, Any], tuple[str, str]]]:
    """Pick-ups in two aisles, people through the door, and two streets' crowds."""
    at = now.isoformat()
    reads = [{"epc": f"urn:epc:id:sgtin:1.21.{i}", "time": at, "aisle": "aisle-21"}
             for i in range(25)] + [{"epc": f"urn:epc:id:sgtin:1.4.{i}", "time": at}
                                    for i in range(4)]  # fmt: skip
    bodies = [
        {"reads": reads},
        {"in": 9, "out": 2, "time": at},
        {"peopleCount": 97, "source": "camera:rue-neuve.mp4"},
        {"peopleCount": 30},
    ]
    return [(kind, body, auth) for (kind, auth), body in zip(SENSOR_READINGS, bodies, strict=True)]


def _visits(now: datetime) -> list[dict[str, Any]]:
    """Exposures to the experiment and orders of a third of the exposed; chats, some after an
    invitation, answered, tagged and closed or not, then orders of some who chatted; and
    visitors who never chatted, some of whom order too."""
    start = now - timedelta(minutes=30)

    def track(event: str, visitor: str, n: int, seconds: int, **extra: Any) -> dict[str, Any]:
        at = (start + timedelta(seconds=seconds)).isoformat()
        message = {"type": "track", "event": event, "anonymousId": visitor,
                   "messageId": f"{event}-{visitor}-{n}", "timestamp": at, **extra}  # fmt: skip
        return message

    events = []
    for i in range(90):
        unit = f"exp-{i}"
        props = {"experiment_name": "checkout-button"}
        events.append(track("Experiment Viewed", unit, 0, i, properties=props))
        if i % 3 == 0:
            events.append(track("Order Completed", unit, 1, 100 + i))
    for i in range(6):
        visitor, cid = f"chatter-{i}", f"conversation-{i}"
        started = {"conversation_id": cid, **({"invitation_id": i} if i % 2 == 0 else {})}
        campaign = {"campaign": {"name": "spring" if i < 3 else "summer"}}
        events.append(track("Chat Started", visitor, 0, 200, properties=started, context=campaign))
        said = {"conversation_id": cid, "sender": "visitor", "text": "Trop cher ?"}
        events.append(track("Chat Message", visitor, 1, 205, properties=said))
        if i < 5:
            answer = {"conversation_id": cid, "sender": "agent", "text": "Voici un code"}
            events.append(track("Chat Message", visitor, 2, 210 + 20 * i, properties=answer))
        if i % 2:
            tags = {"conversation_id": cid, "tags": ["price", f"objection-{i}"]}
            events.append(track("Chat Tagged", visitor, 3, 300, properties=tags))
        if i < 4:
            closed = {"conversation_id": cid, "outcome": "sale" if i < 3 else "no answer"}
            events.append(track("Chat Closed", visitor, 4, 400 + i, properties=closed))
        if i in (0, 1, 3):
            events.append(track("Order Completed", visitor, 5, 600))
    for i in range(10):
        events.append({**track("Viewed", f"browser-{i}", 0, 50), "type": "page"})
        if i < 4:
            events.append(track("Order Completed", f"browser-{i}", 1, 700))
    return events


def _ingest_views(url: str, now: datetime, system: System) -> None:
    """Post the sensors' readings and the visits to the node at `url`; the chats' events
    are appended by `system`'s writer first, as its chat service does (the public ingestion
    refuses them), so that the orders after a chat come after it in the log."""
    for kind, body, auth in _sensor_readings(now):
        answer = httpx.post(f"{url}/v1/sensors/{kind}", json=body, auth=auth, timeout=60)
        assert answer.status_code == 200, answer.text
    visits = _visits(now)
    chats = [
        chat_event(
            m["event"],
            m["properties"]["conversation_id"],
            source="web",
            anonymous_id=m["anonymousId"],
            at=datetime.fromisoformat(m["timestamp"]),
            properties=m["properties"],
            context=m.get("context"),
        )
        for m in visits
        if m["event"] in CHAT_EVENTS
    ]
    system.committer.submit(AppendJob(events=chats, source="web", endpoint="chat")).result(60)
    others = [m for m in visits if m["event"] not in CHAT_EVENTS]
    answer = httpx.post(f"{url}/v1/batch", json={"batch": others}, auth=(WRITE_KEY, ""), timeout=60)
    assert answer.status_code == 200, answer.text


def _in_memory_views(client: httpx.Client, url: str, headers: dict[str, str]) -> list[Any]:
    """What the sensors', experiments' and chat's KPIs APIs answer at `url`."""
    answers = [client.get(f"{url}{path}", headers=headers) for path in IN_MEMORY_VIEWS]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json() for a in answers]


def test_an_api_node_shows_the_sensors_experiments_and_chat_kpis_of_one_process(
    tmp_path: Path, postgres_url: str, nats_url: str
) -> None:
    """`--role api` replays the shop and city sensors, the experiments and the chat's KPIs
    from the shared log: its APIs answer what one process fed the same events answers,
    while it moves no display, links no ring, fires nothing, appends nothing and moves no
    shared checkpoint."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG + yaml.safe_dump({"sensors": SENSORS}) + EXPERIMENTS)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    now = clock.now()
    single = build_system(
        Settings(db_url=f"sqlite:///{tmp_path}/single.db", config=load_config(config)),
        clock=clock,
    )
    with BackgroundServer(create_app(single), port=free_port()) as server:
        _ingest_views(server.url, now, single)
        last = single.log.last_offset()
        _wait(
            "the single process to catch up",
            lambda: all(
                single.runner.position(n) > last for n in ("sensors", "experiments", "chat-kpis")
            ),
        )
        with httpx.Client(timeout=60) as client:
            token = user_token(single, username="viewer", role="admin")
            expected = _in_memory_views(client, server.url, {"Authorization": f"Bearer {token}"})
    shop, city, _devices, experiments, chat = expected
    assert shop["occupancy"]["inside"] == 7
    assert {a["aisle"]: a["now"] for a in shop["aisles"]}["aisle-21"] == 25
    assert city["zones"][0]["count"] == 97
    assert sum(a["exposed"] for a in experiments["experiments"][0]["verdict"]["arms"]) == 90
    assert (chat["conversations"], chat["proactive"], chat["closed"]) == (6, 3, 4)

    engine = connect(postgres_url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(db_url=postgres_url, config=load_config(config), log_url=nats_url)
    api = build_system(settings, clock=clock, role="api")
    ingest = build_system(settings, clock=clock, role="ingest")
    try:
        with (
            BackgroundServer(create_app(api), port=free_port()) as api_server,
            BackgroundServer(create_app(ingest), port=free_port()) as ingest_server,
            httpx.Client(timeout=60) as client,
        ):
            _ingest_views(ingest_server.url, now, ingest)
            token = user_token(api, username="viewer", role="admin")
            headers = {"Authorization": f"Bearer {token}"}
            shown = _wait(
                "the API node's sensors, experiments and chat KPIs",
                lambda: (
                    (views := _in_memory_views(client, api_server.url, headers)) == expected
                    and views
                ),
                seconds=90,
            )
            assert shown == expected
            assert api.log.last_offset() == last
            alerts = client.get(f"{api_server.url}/api/alerts", headers=headers).json()
            assert alerts["alerts"] == []
            with api.engine.connect() as conn:
                for table in (display_placements, ring_links):
                    assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
            for name in ("sensors", "experiments", "chat-kpis", "analytics", "rules"):
                assert api.log.checkpoint(name) == 1, name
    finally:
        cleanup = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(connect(postgres_url)))
        cleanup.delete_stream()
        cleanup.close()


class _Running:
    """Systems started on one event loop in a thread of their own, stopped at the end."""

    def __init__(self, *systems: System) -> None:
        self.systems = systems
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> _Running:
        self.thread.start()
        for system in self.systems:
            asyncio.run_coroutine_threadsafe(system.start(), self.loop).result(120)
        return self

    def __exit__(self, *exc: object) -> None:
        for system in reversed(self.systems):
            asyncio.run_coroutine_threadsafe(system.stop(), self.loop).result(120)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def test_two_workers_share_the_processors_and_process_every_event_once(tmp_path: Path) -> None:
    """With two workers, the rules and the projections are held by different ones; each
    processor handles every event once in one of them, and the outcome equals one process's."""
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG)
    db_url = f"sqlite:///{tmp_path}/vigie.db"

    def node(role: Role) -> System:
        settings = Settings(db_url=db_url, config=load_config(config))
        return build_system(settings, role=role, lease_seconds=4.0)

    ingest = node("ingest")
    first, second = node("worker"), node("worker")
    rules, projections = (
        Lease(ingest.engine, PROCESSORS_LEASE),
        Lease(ingest.engine, PROJECTIONS_SHARE),
    )
    events = _orders()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    with (
        BackgroundServer(create_app(ingest), port=free_port()) as server,
        _Running(first, second),
        httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client,
    ):
        holders = _wait(
            "the shares to be dealt to both workers",
            lambda: (
                (h := (rules.current_holder(), projections.current_holder()))[0]
                and h[1]
                and h[0] != h[1]
                and h
            ),
            seconds=60,
        )
        for batch in batches:
            answer = client.post(f"{server.url}/v1/batch", json={"batch": batch})
            assert answer.status_code == 200, answer.text
        last = ingest.log.last_offset()
        assert last == len(events)
        _wait(
            "the workers to catch up",
            lambda: all(ingest.log.checkpoint(n) > last for n in PROCESSORS),
            seconds=120,
        )
        assert (rules.current_holder(), projections.current_holder()) == holders
        for name in (*PROCESSORS, "chat", "sensors"):
            counts = sorted(w.runner.processed.get(name, 0) for w in (first, second))
            assert counts == [0, len(events)], name
        outcome = _outcome(ingest.engine)
    assert outcome == _single_process(batches, config, tmp_path)


PARTITIONED_CONFIG = f"""
environment: development
sources:
  - {{name: web, write_key: {WRITE_KEY}}}
metrics:
  - name: orders
    kind: count
    where: {{event: Order Completed}}
    by: [campaign]
    window: 1h
  - name: all-orders
    kind: count
    where: {{event: Order Completed}}
    window: 1h
rules:
  - name: busy-campaign
    kind: threshold
    metric: orders
    op: ">="
    value: 200
    resolve_after: 0s  # these tests are about partitions ticking, not the resolve wait
  - name: busy-anywhere
    kind: threshold
    metric: all-orders
    op: ">="
    value: 2000
"""
PARTITIONS = 4
KEYED_CAMPAIGNS = {f"c{n:02}": 25 * n + 10 for n in range(14)}
"""Many campaigns (the partition key), 10 to 335 orders each: six of them pass 200."""


def _keyed_orders() -> list[dict[str, Any]]:
    """Order events of many campaigns, interleaved, stamped a minute ago."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"{campaign}-{n}",
            "userId": f"customer-{n % 37}",
            "timestamp": at,
            "properties": {"campaign": campaign, "order_id": f"{campaign}-{n}"},
        }
        for campaign, count in KEYED_CAMPAIGNS.items()
        for n in range(count)
    ]
    events.sort(key=lambda e: (int(e["messageId"].split("-")[1]), e["messageId"]))
    return events


def _partition_names() -> list[str]:
    return [f"{PARTITION_PREFIX}{k}" for k in range(PARTITIONS)]


def _caught_up(log: NatsEventLog, last: int) -> bool:
    """Every processor has acknowledged every event of its subjects."""
    whole = all(log.checkpoint(n) > last for n in PROCESSORS)
    return whole and all(log.unprocessed(n) == 0 for n in _partition_names())


def test_two_workers_share_the_partitions_of_the_rules_and_count_every_event_once(
    tmp_path: Path, nats_url: str
) -> None:
    """On a log cut into partitions by campaign, each worker runs the rules of the
    partitions dealt to it, reading only their events; together their KPI values and
    alerts equal one process's over the same events, each event counted once."""
    config = tmp_path / "vigie.yaml"
    config.write_text(PARTITIONED_CONFIG)
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    log_url = f"{nats_url}&partitions={PARTITIONS}&key=campaign"

    def node(role: Role) -> System:
        settings = Settings(db_url=db_url, config=load_config(config), log_url=log_url)
        return build_system(settings, role=role, lease_seconds=4.0)

    ingest = node("ingest")
    first, second = node("worker"), node("worker")
    shares = [Lease(ingest.engine, f"{PARTITION_SHARE}{k}") for k in range(PARTITIONS)]
    events = _keyed_orders()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    partitioning = Partitioning(count=PARTITIONS, key="campaign")
    per_partition = [0] * PARTITIONS
    for event in events:
        per_partition[partitioning.of_value(event["properties"]["campaign"])] += 1
    assert all(per_partition)
    try:
        with (
            BackgroundServer(create_app(ingest), port=free_port()) as server,
            _Running(first, second),
            httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client,
        ):
            _wait(
                "the partitions to be dealt to both workers",
                lambda: (
                    len({s.current_holder() for s in shares} - {None}) == 2
                    and all(s.current_holder() for s in shares)
                ),
                seconds=60,
            )
            for batch in batches:
                answer = client.post(f"{server.url}/v1/batch", json={"batch": batch})
                assert answer.status_code == 200, answer.text
            log = ingest.log
            assert isinstance(log, NatsEventLog)
            last = log.last_offset()
            assert last == log.count() == len(events)
            _wait("the workers to catch up", lambda: _caught_up(log, last), seconds=120)
            for k, name in enumerate(_partition_names()):
                counts = sorted(w.runner.processed.get(name, 0) for w in (first, second))
                assert counts == [0, per_partition[k]], name
                # Caught up, a partition does not look behind for the others' events.
                holder = next(w for w in (first, second) if w.runner.processed.get(name))
                assert lags(holder.runner, holder.clock)[name].events == 0, name
            kpis: dict[tuple[str, str], float] = {}
            for worker in (first, second):
                for partition in worker.partitions:
                    if partition.engine is not None:
                        kpis.update(_kpis(partition.engine.snapshot()))
                if worker.runner.processed.get("rules"):
                    kpis.update(_kpis(worker.alerting.snapshot()))
            outcome = _outcome(ingest.engine)
    finally:
        cleanup = NatsEventLog.from_url(log_url, rejects=SqlEventLog(connect(db_url)))
        cleanup.delete_stream()
        cleanup.close()
    expected, expected_kpis = _single_process_kpis(batches, config, tmp_path)
    assert kpis == expected_kpis
    assert outcome == expected
    _orders_count, groups, fired = expected
    assert len(groups) == 7 and set(fired.values()) == {1}


@pytest.fixture
def partitioned_cluster(tmp_path: Path, postgres_url: str, nats_url: str) -> Iterator[Cluster]:
    """A deployment on PostgreSQL and a JetStream stream cut into partitions by campaign."""
    log_url = f"{nats_url}&partitions={PARTITIONS}&key=campaign"
    with _deployment(tmp_path, postgres_url, log_url, PARTITIONED_CONFIG) as deployment:
        yield deployment


def test_kill_9_of_a_worker_holding_partitions_moves_them_and_counts_nothing_twice(
    partitioned_cluster: Cluster, postgres_url: str, tmp_path: Path
) -> None:
    """Two ingest nodes and two workers on a partitioned log: the worker holding the rules'
    share and some partitions is killed with SIGKILL mid-stream, the other takes them over
    from their acknowledged positions, a third joins later and partitions move to it; the
    CRM and the alerts equal one process's over the same events, every alert fired once."""
    cluster = partitioned_cluster
    engine = connect(postgres_url)
    rules = Lease(engine, PROCESSORS_LEASE)
    shares = [Lease(engine, f"{PARTITION_SHARE}{k}") for k in range(PARTITIONS)]
    nodes = [cluster.ingest_node(), cluster.ingest_node()]
    workers = [cluster.spawn("worker", "worker"), cluster.spawn("worker", "worker")]
    _wait(
        "the partitions to be dealt to both workers",
        lambda: (
            len({_holder_pid(s) for s in shares} - {None}) == 2
            and all(_holder_pid(s) for s in shares)
            and _holder_pid(rules)
        ),
    )
    events = _keyed_orders()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    killed = restarted = None
    with httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client:
        for number, batch in enumerate(batches):
            answer = client.post(f"{nodes[number % 2]}/v1/batch", json={"batch": batch})
            assert answer.status_code == 200, answer.text
            assert answer.json()["accepted"] == len(batch)
            if number == len(batches) // 3:
                pid = _holder_pid(rules)
                assert pid in {_holder_pid(s) for s in shares}
                killed = next(w for w in workers if w.pid == pid)
                killed.send_signal(signal.SIGKILL)
                killed.wait()
            if number == 2 * len(batches) // 3:
                restarted = cluster.spawn("worker", "worker")
    assert killed is not None and restarted is not None
    log = NatsEventLog.from_url(cluster.args[3], rejects=SqlEventLog(engine))
    try:
        assert log.count() == len(events)
        last = log.last_offset()
        _wait("the workers to catch up", lambda: _caught_up(log, last))
    finally:
        log.close()

    # A share can be between two holders for a moment (the killed worker's lease expiring,
    # the restarted one joining): every share ends held by a live worker.
    def held() -> set[int | None]:
        holders = {_holder_pid(s) for s in shares}
        return set() if None in holders else holders

    holders = _wait("every share held by a live worker", held)
    assert killed.pid not in holders
    outcome = _outcome(engine)
    engine.dispose()
    expected = _single_process(batches, Path(cluster.args[-1]), tmp_path)
    assert outcome == expected
    orders, groups, fired = expected
    assert orders == len(events)
    assert len(groups) == 7 and set(fired.values()) == {1}


def test_one_process_on_a_partitioned_log_runs_every_partition_and_fires_as_one(
    tmp_path: Path, nats_url: str
) -> None:
    """`vigie serve` alone on a partitioned log holds every partition: its alerts equal a
    process's on the SQL log, and its dashboard's KPIs still show every metric."""
    config = tmp_path / "vigie.yaml"
    config.write_text(PARTITIONED_CONFIG)
    log_url = f"{nats_url}&partitions={PARTITIONS}&key=campaign"
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    settings = Settings(db_url=db_url, config=load_config(config), log_url=log_url)
    system = build_system(settings)
    events = _keyed_orders()
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    try:
        with (
            BackgroundServer(create_app(system), port=free_port()) as server,
            httpx.Client(auth=(WRITE_KEY, ""), timeout=60) as client,
        ):
            for batch in batches:
                answer = client.post(f"{server.url}/v1/batch", json={"batch": batch})
                assert answer.status_code == 200, answer.text
            log = system.log
            assert isinstance(log, NatsEventLog)
            last = log.last_offset()
            _wait("the processors to catch up", lambda: _caught_up(log, last), seconds=120)
            assert all(p.engine is not None for p in system.partitions)
            outcome = _outcome(system.engine)
            kpis = _kpis(system.alerting.snapshot())
    finally:
        cleanup = NatsEventLog.from_url(log_url, rejects=SqlEventLog(connect(db_url)))
        cleanup.delete_stream()
        cleanup.close()
    expected, expected_kpis = _single_process_kpis(batches, config, tmp_path)
    assert outcome == expected
    assert kpis == expected_kpis


def _tuned_value(engine: Any, name: str) -> float | None:
    return next((r.value for r in engine.rules if r.name == name), None)


def test_a_tuned_partitioned_rule_is_live_in_every_partition_and_the_rules_share_starts(
    tmp_path: Path, nats_url: str
) -> None:
    """A version of a rule run per partition, written before a worker starts and while it
    runs, is live in each partition it holds; the rules' share still starts."""
    config = tmp_path / "vigie.yaml"
    config.write_text(PARTITIONED_CONFIG)
    log_url = f"{nats_url}&partitions={PARTITIONS}&key=campaign"
    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config=load_config(config), log_url=log_url
    )
    worker = build_system(settings, role="worker", lease_seconds=4.0)
    lea = Actor(name="lea")
    upgrade(worker.engine)
    try:
        worker.rule_versions.tune("busy-campaign", "value", 150, actor=lea, reason="")
        rules = Lease(worker.engine, PROCESSORS_LEASE)
        with _Running(worker):
            _wait(
                "the worker to hold the rules and every partition",
                lambda: rules.current_holder() and all(p.engine for p in worker.partitions),
                seconds=60,
            )
            assert {_tuned_value(p.engine, "busy-campaign") for p in worker.partitions} == {150}
            worker.rule_versions.tune("busy-campaign", "value", 120, actor=lea, reason="")
            assert {_tuned_value(p.engine, "busy-campaign") for p in worker.partitions} == {120}
            assert _tuned_value(worker.alerting, "busy-anywhere") == 2000
    finally:
        cleanup = NatsEventLog.from_url(log_url, rejects=SqlEventLog(worker.engine))
        cleanup.delete_stream()
        cleanup.close()


def test_a_partition_held_without_the_rules_share_lets_time_pass_and_its_alert_resolves(
    tmp_path: Path, nats_url: str
) -> None:
    """A worker holding the partitions while another process holds the rules' share ticks
    them: once the window has slid past the orders, the partition's alert resolves."""
    config = tmp_path / "vigie.yaml"
    config.write_text(PARTITIONED_CONFIG)
    log_url = f"{nats_url}&partitions={PARTITIONS}&key=campaign"
    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config=load_config(config), log_url=log_url
    )
    clock = ManualClock(datetime.now(UTC))
    worker = build_system(settings, role="worker", lease_seconds=4.0, clock=clock)
    upgrade(worker.engine)
    other = Lease(worker.engine, PROCESSORS_LEASE, holder="elsewhere:1:rules", ttl_seconds=600)
    assert other.acquire()
    now = clock.now()
    orders = [
        Event(
            type="track",
            event="Order Completed",
            source="web",
            message_id=f"c00-{n}",
            user_id=f"customer-{n}",
            properties={"campaign": "c00"},
            timestamp=now,
            received_at=now,
        )
        for n in range(210)
    ]
    alerts = AlertStore(worker.engine)

    def busy() -> list[Any]:
        return [a for a in alerts.active() if a.rule == "busy-campaign"]

    try:
        with _Running(worker):
            _wait(
                "the worker to hold every partition",
                lambda: all(p.engine for p in worker.partitions),
                seconds=60,
            )
            job = AppendJob(events=orders, source="web", endpoint="test")
            worker.committer.submit(job).result(timeout=30)
            _wait("the partition's alert to fire", busy, seconds=60)
            clock.advance(timedelta(hours=2))
            _wait("the partition's alert to resolve", lambda: not busy(), seconds=30)
            assert other.current_holder() == "elsewhere:1:rules"
    finally:
        cleanup = NatsEventLog.from_url(log_url, rejects=SqlEventLog(worker.engine))
        cleanup.delete_stream()
        cleanup.close()
