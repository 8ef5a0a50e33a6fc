"""Loyalty rings' links across processes: a link made, ended or erased through an API node
reaches the sensors of the worker that runs the processors (through the log), on the SQL log
and on NATS JetStream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from typer.testing import CliRunner

from tests.conftest import free_port, make_settings, user_token
from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from tests.privacy.test_rings import ring_read, wait_until
from tests.sensors.conftest import SENSORS
from tests.test_worker import _Running
from vigie.cli import app as cli_app
from vigie.clock import SystemClock
from vigie.config import ConfigError, parse_config
from vigie.events import Event
from vigie.kpi import Metric, make_engine
from vigie.log.eventlog import LogUnavailable
from vigie.log.nats import NatsEventLog
from vigie.log.sql import SqlEventLog
from vigie.sensors.places import SensorsConfig
from vigie.sensors.readings import RFID_READ, SOURCE
from vigie.sensors.rings import NOTICE_SOURCE, RingBook, changed_event
from vigie.sensors.service import SensorsService
from vigie.sensors.tables import ring_notices
from vigie.store import connect, upgrade
from vigie.system import System, build_system
from vigie.types import to_us
from vigie.web import create_app
from vigie.web.server import BackgroundServer

RING = "urn:epc:id:sgtin:0614141.999999.1"
WARM_UP = "urn:epc:id:sgtin:0614141.999999.2"


@pytest.fixture(params=["sql", "nats"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The SQL store's log, or a fresh JetStream stream."""
    if request.param == "sql":
        yield None
        return
    url: str = request.getfixturevalue("nats_url")
    yield url
    engine = connect(f"sqlite:///{tmp_path}/rejects.db")
    stream = NatsEventLog.from_url(url, rejects=SqlEventLog(engine))
    stream.delete_stream()
    stream.close()


def test_a_link_change_through_an_api_node_reaches_the_workers_sensors(
    db_url: str, log_url: str | None, tmp_path: Path
) -> None:
    """The worker, which had read the links before, attributes a read to the customer once
    an API node links the ring, to nobody once it is unlinked, and forgets the customer's
    pick-ups once the API node erases them."""
    upgrade(connect(db_url))

    def node(role: Any) -> System:
        settings = make_settings(db_url)
        settings.log_url = log_url
        return build_system(settings, role=role)

    api, worker = node("api"), node("worker")
    assert worker.sensors.rings is not None
    rings = worker.sensors.rings
    app = create_app(api)
    with (
        _Running(worker),
        BackgroundServer(app, port=free_port()) as server,
        httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {user_token(api, username='admin', role='admin')}"},
            timeout=120,
        ) as client,
    ):
        # The worker reads the links (none yet) for a first read.
        start = datetime.now(UTC)
        ring_read(api.log, "warm-up", WARM_UP, start, aisle="aisle-1")
        wait_until(lambda: worker.sensors.last_offset >= api.log.last_offset(), "the first read")
        created = client.post(
            "/api/contacts", json={"email": "ring@example.org", "consent": {"profiling": True}}
        )
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]
        linked = client.post(f"/api/sensors/rings/{RING}/link", json={"contact_id": contact_id})
        assert linked.status_code == 200, linked.text
        starts = datetime.fromtimestamp(linked.json()["starts_us"] / 1e6, UTC)
        during = starts + timedelta(milliseconds=1)
        wait_until(lambda: rings.owner(RING, to_us(during)) == contact_id, "the link on the worker")
        ring_read(api.log, "mine", RING, during, aisle="aisle-1")
        wait_until(
            lambda: worker.sensors.customer(contact_id)["total"] == 1,
            "the worker to count the read as the customer's",
        )
        unlinked = client.delete(f"/api/sensors/rings/{RING}/link")
        assert unlinked.status_code == 200, unlinked.text
        after = datetime.now(UTC) + timedelta(seconds=1)
        wait_until(lambda: rings.owner(RING, to_us(after)) is None, "the unlink on the worker")
        erased = client.post(f"/api/privacy/contacts/{contact_id}/erase")
        assert erased.status_code == 200, erased.text
        wait_until(lambda: rings.owner(RING, to_us(during)) is None, "the erasure on the worker")
        wait_until(
            lambda: worker.sensors.customer(contact_id)["total"] == 0,
            "the worker to forget the customer's pick-ups",
        )


def test_an_erasure_from_the_command_line_reaches_the_running_workers_sensors(
    db_url: str, log_url: str | None
) -> None:
    """`vigie privacy erase`, run beside a worker that attributes a ring's reads to its
    customer, leaves it attributing them to nobody, without a restart."""
    upgrade(connect(db_url))

    def node(role: Any) -> System:
        settings = make_settings(db_url)
        settings.log_url = log_url
        return build_system(settings, role=role)

    api, worker = node("api"), node("worker")
    assert worker.sensors.rings is not None
    rings = worker.sensors.rings
    with (
        _Running(worker),
        BackgroundServer(create_app(api), port=free_port()) as server,
        httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {user_token(api, username='admin', role='admin')}"},
            timeout=120,
        ) as client,
    ):
        created = client.post(
            "/api/contacts", json={"email": "cli@example.org", "consent": {"profiling": True}}
        )
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]
        linked = client.post(f"/api/sensors/rings/{RING}/link", json={"contact_id": contact_id})
        assert linked.status_code == 200, linked.text
        during = datetime.fromtimestamp(linked.json()["starts_us"] / 1e6 + 0.001, UTC)
        ring_read(api.log, "mine", RING, during, aisle="aisle-1")
        wait_until(
            lambda: worker.sensors.customer(contact_id)["total"] == 1,
            "the worker to count the read as the customer's",
        )
        options = ["--db", db_url, *(["--log", log_url] if log_url else [])]
        result = CliRunner().invoke(
            cli_app, ["privacy", "erase", "--contact", contact_id, "--yes", *options]
        )
        # On JetStream without crypto-shredding, the contact's own event stays there in clear:
        # the erasure says so and exits with 2 (tests/privacy/test_nats_log.py).
        assert result.exit_code == (2 if log_url else 0), result.output
        wait_until(lambda: rings.owner(RING, to_us(during)) is None, "the erasure on the worker")
        wait_until(
            lambda: worker.sensors.customer(contact_id)["total"] == 0,
            "the worker to forget the customer's pick-ups",
        )


def test_a_rings_notice_is_no_sensor_reading() -> None:
    """The log's notice that rings' links changed counts in no figure of the sensors'
    readings: a KPI of every reading of the sensors (by source or by type) counts the one
    read and not the notice, and the notice comes from a source no configured one may take."""
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    read = Event(
        message_id="read-1", type="sensor", source=SOURCE, event=RFID_READ, timestamp=at,
        received_at=at, site="shop", aisle="aisle-2", epc=RING,
        properties={"device": "reader-2"},
    )  # fmt: skip
    notice = changed_event(at=at + timedelta(seconds=1))
    metrics = [
        Metric(name="by_source", kind="count", where={"source": SOURCE}, window="1h"),
        Metric(name="by_type", kind="count", where={"type": "sensor"}, window="1h"),
    ]
    for reference in (False, True):
        engine = make_engine(metrics, reference=reference)
        engine.ingest([read, notice])
        assert (engine.value("by_source"), engine.value("by_type")) == (1, 1)
    with pytest.raises(ConfigError, match="reserved"):
        parse_config(f"sources:\n  - {{name: {notice.source}, write_key: k-0123456789abcdef}}\n")


class _Log:
    """The log the rings' notices go to, refusing appends while `down` (JetStream away)."""

    def __init__(self, engine: Any) -> None:
        self.log = SqlEventLog(engine)
        self.down = False

    def announce(self) -> None:
        if self.down:
            raise LogUnavailable("the log is away")
        self.log.append([changed_event(at=datetime.now(UTC))], source=NOTICE_SOURCE)


def _worker(engine: Any) -> tuple[SensorsService, Any]:
    """The processing process's sensors, reading by the links as last re-read, and a
    function that feeds them what the log holds past what they have seen."""
    rings = RingBook(engine=engine, clock=SystemClock(), consent=lambda contact: True)
    sensors = SensorsService(
        config=msgspec.convert(SENSORS, SensorsConfig), engine=engine, clock=SystemClock(),
        rings=rings,
    )  # fmt: skip
    rings.reload()  # as the process read them when it started
    log = SqlEventLog(engine)

    def catch_up() -> None:
        sensors.process(log.read(sensors.last_offset + 1, 1000))

    catch_up()
    return sensors, catch_up


def test_a_link_whose_notice_the_log_refused_is_announced_by_its_retry(engine: Any) -> None:
    """A ring linked while the log refuses its notice is saved, and the caller is told it
    failed; its retry, once the log is back, sends the notice the change still owes, so the
    processing process reads the ring's pick-ups as the customer's from then on."""
    log = _Log(engine)
    api = RingBook(engine=engine, clock=SystemClock(), consent=lambda c: True,
                   announce=log.announce)  # fmt: skip
    sensors, catch_up = _worker(engine)
    log.down = True
    with pytest.raises(LogUnavailable):
        api.link(RING, contact_id="ct_ring", by="ana")
    log.down = False
    assert api.link(RING, contact_id="ct_ring", by="ana").contact_id == "ct_ring"
    ring_read(
        log.log, "after-link", RING, datetime.now(UTC) + timedelta(seconds=1), aisle="aisle-4"
    )
    catch_up()
    assert sensors.customer("ct_ring")["total"] == 1


def test_a_change_left_unannounced_by_a_dead_process_is_announced_by_another(
    engine: Any,
) -> None:
    """A process that dies between unlinking a ring and sending the notice leaves the notice
    owed in the store: the next process's periodic `settle` sends it, once, and the
    processing process stops reading the ring's pick-ups as the customer's."""
    log = _Log(engine)
    first = RingBook(engine=engine, clock=SystemClock(), consent=lambda c: True,
                     announce=log.announce)  # fmt: skip
    first.link(RING, contact_id="ct_ring", by="ana")
    sensors, catch_up = _worker(engine)
    dying = RingBook(engine=engine, clock=SystemClock(), consent=lambda c: True)
    dying.unlink(RING, by="ana")  # no log to tell: dies before its notice
    later = RingBook(engine=engine, clock=SystemClock(), consent=lambda c: True,
                     announce=log.announce)  # fmt: skip
    assert later.settle() is True
    assert later.settle() is False
    ring_read(log.log, "after-unlink", RING, datetime.now(UTC) + timedelta(seconds=1),
              aisle="aisle-4")  # fmt: skip
    catch_up()
    assert sensors.customer("ct_ring")["total"] == 0


def test_a_notice_owed_by_a_change_committed_meanwhile_stays_owed(engine: Any) -> None:
    """A change whose owed notice commits, with a lower id, while another notice is being
    sent (PostgreSQL's ids are taken in order but commit in any order) is still owed after
    that notice: the next `settle` sends it."""
    sent: list[None] = []

    def announce() -> None:
        if not sent:  # a change numbered before the one read commits now
            with engine.begin() as conn:
                conn.execute(ring_notices.insert().values(id=5, at_us=1))
        sent.append(None)

    with engine.begin() as conn:
        conn.execute(ring_notices.insert().values(id=10, at_us=2))
    book = RingBook(engine=engine, clock=SystemClock(), consent=lambda c: True,
                    announce=announce)  # fmt: skip
    book.changed()
    assert book.settle() is True
    assert book.settle() is False
    assert len(sent) == 2
