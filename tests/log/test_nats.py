"""The event log on a real NATS JetStream server: same contract as the SQL log."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
import sqlalchemy as sa

from tests.conftest import (
    NATS_URL,
    WRITE_KEY,
    free_port,
    make_settings,
    port_open,
    require_service,
    user_token,
)
from tests.log.test_live import RACERS, assert_counted_once
from vigie.clock import ManualClock
from vigie.config import Config, Source
from vigie.events import Event, Rejection, notice_event
from vigie.log import AppendJob, ProcessorRunner, SqlEventLog, live
from vigie.log.eventlog import LogUnavailable
from vigie.log.live import LiveHub
from vigie.log.nats import NatsEventLog, parse_nats_url, subject_token
from vigie.privacy.config import PrivacyConfig, ShreddingSettings
from vigie.settings import Settings
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _event(message_id: str, *, source: str = "web", anonymous_id: str = "a1") -> Event:
    return Event(
        message_id=message_id,
        type="track",
        source=source,
        event="Clicked",
        anonymous_id=anonymous_id,
        timestamp=T0,
        received_at=T0,
        properties={"n": message_id},
    )


@pytest.fixture
def nats_url() -> str:
    """A log URL on the test NATS server with a stream of its own, or a skip/fail."""
    parsed = parse_nats_url(NATS_URL)
    host_port = parsed.servers.split("://", 1)[1]
    host, _, port = host_port.partition(":")
    if not port_open(host, int(port or 4222)):
        require_service("NATS JetStream", f"nothing listens on {host_port}")
    name = f"T{uuid.uuid4().hex[:10].upper()}"
    return f"{parsed.servers}?stream={name}&prefix=vigietest.{name.lower()}"


@pytest.fixture
def nats_log(nats_url: str, engine: sa.Engine) -> Iterator[NatsEventLog]:
    """A NATS log on a fresh stream; rejected input goes to the SQL store of `engine`."""
    log = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(engine))
    try:
        yield log
    finally:
        log.delete_stream()
        log.close()


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """NATS holds the events here; the SQL store (rejects) is exercised on SQLite."""
    return f"sqlite:///{tmp_path}/vigie.db"


def test_url_parameters() -> None:
    """The log URL names the server, and optionally the stream, subject prefix and window."""
    options = parse_nats_url("nats://10.0.0.5:4222?stream=SHOP&prefix=shop.events&window=60")
    assert options.servers == "nats://10.0.0.5:4222"
    assert (options.stream, options.subject_prefix, options.duplicate_window) == (
        "SHOP",
        "shop.events",
        60.0,
    )
    assert parse_nats_url("nats://127.0.0.1:4222").subject_prefix == "vigie.events"
    with pytest.raises(ValueError, match="unknown parameter"):
        parse_nats_url("nats://127.0.0.1:4222?bucket=x")
    with pytest.raises(ValueError, match="not supported"):
        parse_nats_url("kafka://127.0.0.1:9092")
    assert subject_token("web shop.be/*") == "web_shop_be__"


def test_offsets_are_stream_sequences_in_batch_order(nats_log: NatsEventLog) -> None:
    """Appends get increasing offsets (the stream sequence) in the order of the batch."""
    first = nats_log.append([_event(f"m{i}") for i in range(50)])
    second = nats_log.append([_event("later")])
    assert first.offsets == list(range(1, 51))
    assert second.offsets == [51]
    assert nats_log.last_offset() == 51
    assert nats_log.count() == 51


def test_jetstream_dedupes_by_source_and_message_id(nats_log: NatsEventLog) -> None:
    """A message id already stored for its source is a duplicate; another source may reuse it."""
    nats_log.append([_event("m1")])
    result = nats_log.append([_event("m1"), _event("m1", source="pos"), _event("m2"), _event("m2")])
    assert result.offsets == [2, 3]
    assert result.duplicates == 2
    assert [(e.source, e.message_id) for e in nats_log.read(1)] == [
        ("web", "m1"),
        ("pos", "m1"),
        ("web", "m2"),
    ]


def test_a_message_id_with_line_breaks_cannot_write_a_header(nats_log: NatsEventLog) -> None:
    """A line break in a message id cannot add a header of its own (here one naming another
    stream, which JetStream would refuse): the event is stored with its id intact."""
    hostile = "m1\r\nNats-Expected-Stream: ELSEWHERE\r\n\r\nPUB x 1"
    result = nats_log.append([_event(hostile), _event("m2")])
    assert result.offsets == [1, 2]
    assert [e.message_id for e in nats_log.read(1)] == [hostile, "m2"]


def test_an_event_over_the_servers_payload_limit_fails_its_batch_only(
    nats_log: NatsEventLog,
) -> None:
    """An event larger than the server takes fails its batch as unavailable, before anything
    is sent (the server would close the connection); the next batch is stored."""
    huge = _event("huge")
    huge.properties = {"blob": "x" * (2 * 1024 * 1024)}
    with pytest.raises(LogUnavailable, match="MaxPayloadError"):
        nats_log.append([_event("m1"), huge])
    assert nats_log.append([_event("m2")]).offsets == [1]


def test_a_batch_jetstream_refuses_is_answered_unavailable(
    nats_url: str, engine: sa.Engine
) -> None:
    """Once the stream is gone, JetStream answers no one stores the subject: the batch
    fails as unavailable at once, rather than waiting for acknowledgements that never come."""
    log = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(engine))
    try:
        assert log.append([_event("m1")]).offsets == [1]
        log.delete_stream()
        started = time.monotonic()
        with pytest.raises(LogUnavailable, match="did not acknowledge"):
            log.append([_event("m2"), _event("m3")])
        assert time.monotonic() - started < 5
    finally:
        log.close()


def test_a_batch_the_stream_refuses_fails_at_once_naming_why(nats_log: NatsEventLog) -> None:
    """A full stream that discards new messages answers each with an error: the batch fails
    at once (not after the publish timeout) and the error says what JetStream answered."""
    js = nats_log._js
    info = nats_log._call(js.stream_info(nats_log.options.stream))
    config = info.config
    config.max_msgs = 1
    config.discard = nats.js.api.DiscardPolicy.NEW
    nats_log._call(js.update_stream(config))
    assert nats_log.append([_event("m1")]).offsets == [1]
    started = time.monotonic()
    with pytest.raises(LogUnavailable, match="maximum messages exceeded"):
        nats_log.append([_event("m2")])
    assert time.monotonic() - started < 3


def test_read_from_an_offset(nats_log: NatsEventLog) -> None:
    """read(from_offset, limit) returns whole events with their offsets, in order."""
    nats_log.append([_event(f"m{i}") for i in range(1200)])
    page = nats_log.read(4, limit=3)
    assert [(e.offset, e.message_id) for e in page] == [(4, "m3"), (5, "m4"), (6, "m5")]
    assert page[0].properties == {"n": "m3"} and page[0].timestamp == T0
    assert [e.offset for e in nats_log.read(1, 5000)] == list(range(1, 1201))
    assert nats_log.read(1201) == []


class _Seen(msgspec.Struct, kw_only=True):
    """Two fields of an event, as a processor may declare them."""

    message_id: str
    properties: dict[str, str] = {}
    offset: int | None = None


def test_read_as_decodes_declared_fields_only(nats_log: NatsEventLog) -> None:
    """read_as(shape, …) returns the same events as read(), decoded as the smaller Struct."""
    nats_log.append([_event(f"m{i}") for i in range(6)])
    assert nats_log.read_as(_Seen, 5, limit=5) == [
        _Seen(message_id="m4", properties={"n": "m4"}, offset=5),
        _Seen(message_id="m5", properties={"n": "m5"}, offset=6),
    ]


def test_checkpoints_are_durable_consumers_positions(nats_log: NatsEventLog, nats_url: str) -> None:
    """Checkpoints start at 1, move, and survive a new connection (JetStream keeps them)."""
    assert nats_log.checkpoint("kpi") == 1
    nats_log.save_checkpoint("kpi", 42)
    nats_log.save_checkpoint("crm timeline", 7)
    nats_log.save_checkpoint("kpi", 43)
    again = NatsEventLog.from_url(nats_url, rejects=nats_log.rejects)
    try:
        assert again.checkpoint("kpi") == 43
        assert again.checkpoint("crm timeline") == 7
    finally:
        again.close()


def _consumer(nats_url: str, name: str) -> Any:
    """The durable consumer `name` as the JetStream server reports it (own connection)."""
    options = parse_nats_url(nats_url)

    async def info() -> Any:
        client = await nats.connect(options.servers)
        try:
            return await client.jetstream().consumer_info(options.stream, name)
        finally:
            await client.close()

    return asyncio.run(info())


class _Tally:
    """A projection as Vigie's are: events counted by key, each offset once (by position)."""

    name = "tally"

    def __init__(self) -> None:
        self.last = 0
        self.counts: dict[str, int] = {}
        self.handed: list[int] = []

    def process(self, events: Sequence[Event]) -> None:
        for event in events:
            offset = event.offset or 0
            self.handed.append(offset)
            if offset <= self.last:
                continue
            key = event.anonymous_id or ""
            self.counts[key] = self.counts.get(key, 0) + 1
            self.last = offset


def test_a_processor_reads_through_its_durable_consumer_acked_at_its_checkpoint(
    nats_log: NatsEventLog, nats_url: str
) -> None:
    """Each processor has a durable JetStream consumer; saving its checkpoint acknowledges
    every event it processed, and nothing is acknowledged before."""
    nats_log.append([_event(f"m{i}", anonymous_id=f"v{i % 3}") for i in range(25)])
    tally = _Tally()
    runner = ProcessorRunner(nats_log, [tally], batch_size=10, checkpoint_seconds=3600)
    runner._drain(tally)
    assert tally.handed == list(range(1, 26))
    consumer = _consumer(nats_url, "vigie_tally")
    assert consumer.config.durable_name == "vigie_tally"
    assert consumer.config.ack_policy == "all"
    assert consumer.ack_floor.stream_seq == 0
    runner.save_checkpoints()
    assert _consumer(nats_url, "vigie_tally").ack_floor.stream_seq == 25
    assert nats_log.checkpoint("tally") == 26


def test_a_worker_dying_before_its_ack_is_resumed_without_loss_or_double_count(
    nats_log: NatsEventLog, nats_url: str
) -> None:
    """What a dead worker fetched and did not acknowledge comes again at once, in order, to
    the next; a projection skipping by offset ends with every event counted once."""
    nats_log.append([_event(f"m{i}", anonymous_id=f"v{i % 3}") for i in range(30)])
    tally = _Tally()
    ProcessorRunner(nats_log, [tally], batch_size=7).run_once()
    nats_log.append([_event(f"n{i}", anonymous_id=f"v{i % 3}") for i in range(20)])
    dying = NatsEventLog.from_url(nats_url, rejects=nats_log.rejects)
    # The dying worker fetches 31..50 and commits 31..40 of them, then is gone unacknowledged.
    fetched = dying.consume("tally", Event, dying.checkpoint("tally"), 100)
    assert [e.offset for e in fetched] == list(range(31, 51))
    tally.process(fetched[:10])
    dying.close()
    nats_log.append([_event(f"o{i}", anonymous_id=f"v{i % 3}") for i in range(5)])
    tally.handed.clear()
    taking_over = NatsEventLog.from_url(nats_url, rejects=nats_log.rejects)
    try:
        ProcessorRunner(taking_over, [tally], batch_size=7).run_once()
        assert tally.handed == list(range(31, 56))
        assert taking_over.checkpoint("tally") == 56
    finally:
        taking_over.close()
    assert sum(tally.counts.values()) == 55
    assert tally.counts == {"v0": 10 + 7 + 2, "v1": 10 + 7 + 2, "v2": 10 + 6 + 1}


def test_held_events_are_handed_out_again_and_an_ack_keeps_the_rest(
    nats_log: NatsEventLog, nats_url: str
) -> None:
    """Events fetched and not acknowledged are handed out again from any offset among them
    without a new fetch; acknowledging up to one of them keeps the later ones held."""
    nats_log.append([_event(f"m{i}") for i in range(12)])
    offsets = partial(_offsets, nats_log)
    assert offsets(1, 4) == [1, 2, 3, 4]
    assert offsets(5, 4) == [5, 6, 7, 8]
    assert offsets(3, 4) == [3, 4, 5, 6]  # a processor trying a batch again
    assert _consumer(nats_url, "vigie_tally").delivered.stream_seq == 8
    nats_log.save_checkpoint("tally", 6)
    assert _consumer(nats_url, "vigie_tally").ack_floor.stream_seq == 5
    assert offsets(6, 100) == list(range(6, 13))
    assert offsets(7, 3) == [7, 8, 9]
    nats_log.save_checkpoint("tally", 13)
    assert nats_log.checkpoint("tally") == 13
    nats_log.append([_event("late")])
    assert offsets(13, 100) == [13]


def _offsets(log: NatsEventLog, start: int, limit: int) -> list[int | None]:
    return [e.offset for e in log.consume("tally", Event, start, limit)]


def test_processors_reading_one_shape_share_its_decoding_and_each_gets_every_event(
    nats_log: NatsEventLog,
) -> None:
    """Two processors of one process each get every event through their own consumer, in
    order, decoded once between them in a pass of the runner (they are handed the same
    event), afresh in the next pass."""
    nats_log.append([_event(f"m{i}", anonymous_id=f"v{i}") for i in range(9)])
    first = nats_log.consume("first", Event, 1, 100)
    second = nats_log.consume("second", Event, 1, 5) + nats_log.consume("second", Event, 6, 5)
    assert [e.offset for e in first] == [e.offset for e in second] == list(range(1, 10))
    assert [e.anonymous_id for e in second] == [f"v{i}" for i in range(9)]
    assert all(a is b for a, b in zip(first, second, strict=True))
    nats_log.forget_decoded()  # the runner's pass is over: the next one decodes afresh
    again = nats_log.consume("fourth", Event, 1, 100)
    assert again == first and not any(a is b for a, b in zip(first, again, strict=True))
    shaped = nats_log.consume("third", _Seen, 1, 100)
    assert [(e.offset, e.message_id) for e in shaped] == [(e.offset, e.message_id) for e in first]


NATS_SERVER = "/usr/sbin/nats-server"


def test_a_read_while_jetstream_is_away_fails_and_resumes_when_it_is_back(
    tmp_path: Path, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A processor reading while its JetStream server is away gets an error (which the
    runner logs and retries), not an empty batch that looks caught up; once the server is
    back it reads on from where it was."""
    if not Path(NATS_SERVER).exists():
        require_service("nats-server", f"{NATS_SERVER} is not installed")
    monkeypatch.setattr("vigie.log.nats.PULL_TIMEOUT", 1.0)
    port = free_port()
    command = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.1)
        return server

    server = start()
    log = NatsEventLog.from_url(f"nats://127.0.0.1:{port}", rejects=SqlEventLog(engine))
    try:
        log.append([_event(f"m{i}") for i in range(5)])
        assert [e.offset for e in log.consume("tally", Event, 1, 3)] == [1, 2, 3]
        server.terminate()
        server.wait(timeout=30)
        with pytest.raises(TimeoutError):
            log.consume("tally", Event, 4, 3)
        server = start()
        # Reconnecting, JetStream starting, or the unacknowledged 1-3 delivered again first.
        deadline = time.monotonic() + 30
        read: list[int | None] = []
        while not read:
            assert time.monotonic() < deadline, "the log did not read again"
            with contextlib.suppress(TimeoutError, LogUnavailable):
                read = [e.offset for e in log.consume("tally", Event, 4, 3)]
            time.sleep(0.1)
        assert read == [4, 5]
    finally:
        log.close()
        server.terminate()
        server.wait(timeout=30)


def test_rejections_are_kept_in_the_sql_store(nats_log: NatsEventLog) -> None:
    """Rejected input goes to the SQL rejected table, next to the events it came with."""
    results = nats_log.append_many(
        [
            AppendJob(
                events=[_event("ok")],
                rejections=[Rejection(reason="missing required field", field="event")],
                source="web",
                endpoint="/v1/batch",
                received_at=T0,
            )
        ]
    )
    assert results[0].offsets == [1] and results[0].rejected == 1
    kept = nats_log.rejected()
    assert [(r.field, r.source, r.endpoint) for r in kept] == [("event", "web", "/v1/batch")]
    assert nats_log.rejects.count() == 0


def test_recent_filters_newest_first(nats_log: NatsEventLog) -> None:
    """recent() returns the newest matching events first and pages back with before."""
    nats_log.append([_event(f"m{i}", anonymous_id="x" if i % 2 else "y") for i in range(700)])
    assert [e.offset for e in nats_log.recent(limit=3)] == [700, 699, 698]
    odd = nats_log.recent(anonymous_id="x", limit=400)
    assert len(odd) == 350 and odd[0].offset == 700
    assert [e.offset for e in nats_log.recent(before=5, limit=10)] == [4, 3, 2, 1]


def test_runner_over_nats_resumes_from_its_checkpoint(nats_log: NatsEventLog) -> None:
    """Processors read the stream from their checkpoint, in order, and resume after a restart."""
    seen: list[int] = []

    class Recorder:
        name = "recorder"

        def process(self, events: object) -> None:
            seen.extend(e.offset or 0 for e in events)  # type: ignore[attr-defined]

    nats_log.append([_event(f"m{i}") for i in range(30)])
    ProcessorRunner(nats_log, [Recorder()], batch_size=7).run_once()
    assert seen == list(range(1, 31))
    nats_log.append([_event(f"n{i}") for i in range(3)])
    ProcessorRunner(nats_log, [Recorder()]).run_once()
    assert seen == list(range(1, 34))


def test_server_with_nats_log(nats_url: str, db_url: str) -> None:
    """A server started with a NATS log stores accepted events there, dedupes, keeps rejects."""
    settings = make_settings(db_url)
    settings.log_url = nats_url
    app = create_app(build_system(settings))
    system = app.state.system
    try:
        with BackgroundServer(app, port=free_port()) as server:
            batch = [
                {"type": "track", "event": "Via NATS", "anonymousId": "n", "messageId": "n1"},
                {"type": "track", "event": "Via NATS", "anonymousId": "n", "messageId": "n1"},
                {"type": "track", "anonymousId": "n", "messageId": "bad"},
            ]
            response = httpx.post(
                server.url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30
            )
            assert response.status_code == 400
            assert response.json()["accepted"] == 1
            assert response.json()["duplicates"] == 1
            token = user_token(system, username="admin", role="admin")
            admin = {"Authorization": f"Bearer {token}"}
            events = httpx.get(server.url + "/api/events", headers=admin, timeout=30).json()
            assert [e["message_id"] for e in events["events"]] == ["n1"]
            rejected = httpx.get(server.url + "/api/rejected", headers=admin, timeout=30).json()[
                "rejected"
            ]
            assert [r["message_id"] for r in rejected] == ["bad"]
            assert isinstance(system.log, NatsEventLog)
            assert system.sql_log.count() == 0
    finally:
        cleanup = NatsEventLog.from_url(nats_url, rejects=system.sql_log)
        cleanup.delete_stream()
        cleanup.close()


def test_segment_library_into_a_nats_log(nats_url: str, db_url: str) -> None:
    """1,000 calls of analytics-python land once each in JetStream; re-sending adds nothing."""
    from segment.analytics import Client

    settings = make_settings(db_url)
    settings.log_url = nats_url
    app = create_app(build_system(settings))
    system = app.state.system
    errors: list[Exception] = []
    try:
        with BackgroundServer(app, port=free_port()) as server:
            client = Client(
                WRITE_KEY,
                host=server.url,
                on_error=lambda error, _items: errors.append(error),
                max_retries=3,
                timeout=60,
            )
            for attempt in range(2):
                for i in range(1000):
                    client.track(
                        anonymous_id=f"v{i % 7}",
                        event="Added",
                        properties={"attempt": attempt},
                        message_id=f"nats-{i}",
                    )
                client.flush()
                assert errors == []
                assert system.log.count() == 1000
            ids = [e.message_id for e in system.log.read(1, 5000)]
            assert sorted(ids) == sorted(f"nats-{i}" for i in range(1000))
            assert {e.properties["attempt"] for e in system.log.read(1, 5000)} == {0}
        client.shutdown()
    finally:
        cleanup = NatsEventLog.from_url(nats_url, rejects=system.sql_log)
        cleanup.delete_stream()
        cleanup.close()


def test_url_names_the_partitions_and_their_key() -> None:
    """`partitions` and `key` cut the log; a partition count that is not a whole number
    >= 1 is refused naming it."""
    options = parse_nats_url("nats://127.0.0.1:4222?partitions=8&key=site")
    assert (options.partitions, options.partition_key) == (8, "site")
    assert parse_nats_url("nats://127.0.0.1:4222").partitions == 1
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=f"partitions={bad!r}"):
            parse_nats_url(f"nats://127.0.0.1:4222?partitions={bad}")


def test_a_partitioned_stream_publishes_on_its_partitions_and_filters_by_them(
    nats_url: str, engine: sa.Engine
) -> None:
    """Each event goes to its partition's subjects; a consumer of one partition gets only
    its events, in stream order, and the offsets of the others are skipped."""
    url = f"{nats_url}&partitions=3"
    log = NatsEventLog.from_url(
        url, rejects=SqlEventLog(engine), partition_of=lambda e: int(e.properties["p"])
    )
    try:
        events = [_event(f"m{n}") for n in range(12)]
        for n, event in enumerate(events):
            event.properties["p"] = n % 3
        log.append(events, source="web")
        for p in range(3):
            got = log.consume(f"part{p}", Event, 1, 100, partition=p)
            assert [e.message_id for e in got] == [f"m{n}" for n in range(p, 12, 3)]
            assert [e.offset for e in got] == list(range(p + 1, 13, 3))
        assert log.unprocessed("part1") == 4
        log.save_checkpoint("part1", 12)
        assert log.unprocessed("part1") == 0
        assert log.checkpoint("part1") == 12
    finally:
        log.delete_stream()
        log.close()


def test_a_stream_opened_with_other_partitions_is_refused(nats_url: str, engine: sa.Engine) -> None:
    """A stream made with 3 partitions is not opened with 2 or none: events already on
    other subjects would escape the partitions' consumers."""
    log = NatsEventLog.from_url(f"{nats_url}&partitions=3&key=site", rejects=SqlEventLog(engine))
    try:
        for other in (f"{nats_url}&partitions=2&key=site", nats_url):
            with pytest.raises(ValueError, match="partitions=3 key=site"):
                NatsEventLog.from_url(other, rejects=SqlEventLog(engine))
    finally:
        log.delete_stream()
        log.close()


def test_a_partitioned_stream_needs_the_events_partition_to_append(
    nats_url: str, engine: sa.Engine
) -> None:
    """Appending to a partitioned stream without a way to tell an event's partition is
    refused, nothing published."""
    log = NatsEventLog.from_url(f"{nats_url}&partitions=2", rejects=SqlEventLog(engine))
    try:
        with pytest.raises(ValueError, match="partition"):
            log.append([_event("m1")], source="web")
        assert log.count() == 0
    finally:
        log.delete_stream()
        log.close()


def test_a_partition_key_that_crypto_shredding_seals_is_refused_naming_it(
    nats_url: str, tmp_path: object
) -> None:
    """Under crypto-shredding, a key read from the traits or a sealed property or context
    key (a bare name included) is refused with the key and why; one kept in clear is not."""
    shredding = ShreddingSettings(keys=f"sqlite:///{tmp_path}/keys.db", properties=["email"])
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=shredding),
    )

    def settings(key: str, config: Config = config) -> Settings:
        base = make_settings(f"sqlite:///{tmp_path}/vigie.db", config)
        return msgspec.structs.replace(base, log_url=f"{nats_url}&partitions=4&key={key}")

    for key, sealed in [
        ("email", "properties.email"),
        ("properties.email", "properties.email"),
        ("traits.plan", "traits.plan"),
        ("plan", "traits.plan"),
        ("context.ip", "context.ip"),
    ]:
        with pytest.raises(ValueError, match=rf"key={key!r} reads .*{sealed}.*crypto-shredding"):
            build_system(settings(key), role="ingest")
    clear = Config(sources=config.sources)
    for built in (settings("campaign"), settings("properties.plan"), settings("email", clear)):
        system = build_system(built, role="ingest")  # not refused
        assert built.log_url is not None
        cleanup = NatsEventLog.from_url(built.log_url, rejects=system.sql_log)
        cleanup.delete_stream()
        cleanup.close()
        system.log.close()


def test_a_partition_key_that_a_contacts_own_events_seal_is_refused(
    nats_url: str, tmp_path: object
) -> None:
    """Under crypto-shredding, a contact's own events (`Contact Created` …) carry its
    identifying fields sealed under the contact's key, whatever `privacy.shredding.properties`
    lists: a key reading one of them (the job title, the external id) is refused too."""
    shredding = ShreddingSettings(keys=f"sqlite:///{tmp_path}/keys.db", properties=["email"])
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        privacy=PrivacyConfig(shredding=shredding),
    )
    for key in ("properties.job_title", "properties.external_id"):
        base = make_settings(f"sqlite:///{tmp_path}/vigie.db", config)
        settings = msgspec.structs.replace(base, log_url=f"{nats_url}&partitions=4&key={key}")
        with pytest.raises(ValueError, match=rf"key={key!r} reads {key}.*crypto-shredding"):
            build_system(settings, role="ingest")


class _Stumbling(_Tally):
    """A tally that fails on reaching `broken` (a store away), having folded the events of
    its batch before it, as a projection committing event by event would."""

    def __init__(self, broken: int) -> None:
        super().__init__()
        self.broken = broken

    def process(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.offset == self.broken:
                raise RuntimeError("the store is away")
            super().process([event])


def test_a_processor_failing_mid_batch_acks_nothing_it_has_not_processed(
    nats_log: NatsEventLog, nats_url: str
) -> None:
    """A processor that fails in the middle of a fetched batch keeps the rest of the batch
    unacknowledged (its checkpoint stays before the event that failed, tried again with the
    batch); stopped there, the next process gets the same events at once, not after the
    acknowledgement wait, and counts each once."""
    nats_log.append([_event(f"m{i}", anonymous_id=f"v{i % 3}") for i in range(20)])
    stumbling = _Stumbling(broken=14)
    first = NatsEventLog.from_url(nats_url, rejects=nats_log.rejects)
    runner = ProcessorRunner(first, [stumbling], batch_size=10, retries=3)
    runner.run_once()
    runner.run_once()
    assert stumbling.last == 13
    assert first.checkpoint("tally") == 11  # the batch 11..20 failed: nothing of it acked
    assert _consumer(nats_url, "vigie_tally").ack_floor.stream_seq == 10
    first.close()
    stumbling.broken = 0
    taking_over = NatsEventLog.from_url(nats_url, rejects=nats_log.rejects)
    try:
        started = time.monotonic()
        ProcessorRunner(taking_over, [stumbling], batch_size=10).run_once()
        assert time.monotonic() - started < 30
        assert taking_over.checkpoint("tally") == 21
    finally:
        taking_over.close()
    assert stumbling.handed[-10:] == list(range(11, 21))
    assert stumbling.counts == {"v0": 7, "v1": 7, "v2": 6}


@pytest.mark.parametrize("partitions", [1, 2])
def test_a_topics_events_are_followed_and_read_apart_and_still_consumed_with_the_rest(
    nats_url: str, engine: sa.Engine, partitions: int
) -> None:
    """Events of a topic (a chat conversation) go on its own subjects: `follow_topics` hands
    over every topic's events alone, in stream order; `read_topic` one topic's past an
    offset; a processor's consumer (of the whole log or of a partition) still gets them, and
    a hostile topic name cannot reach other subjects."""
    url = f"{nats_url}&partitions={partitions}"
    log = NatsEventLog.from_url(
        url,
        rejects=SqlEventLog(engine),
        partition_of=(lambda e: 0) if partitions > 1 else None,
        topic_of=lambda e: e.properties.get("topic"),
    )
    heard: list[Event] = []
    try:
        log.follow_topics(heard.append, replay_seconds=60)
        events = [_event(f"m{n}") for n in range(8)]
        for n, topic in ((1, "c1"), (3, "c2"), (4, "c1"), (6, "c1.>"), (7, "*")):
            events[n].properties["topic"] = topic
        log.append(events, source="web")
        for _ in range(200):
            if len(heard) == 5:
                break
            time.sleep(0.05)
        assert [(e.message_id, e.offset) for e in heard] == [
            ("m1", 2), ("m3", 4), ("m4", 5), ("m6", 7), ("m7", 8)
        ]  # fmt: skip
        assert [e.message_id for e in log.read_topic("c1")] == ["m1", "m4"]
        assert [e.message_id for e in log.read_topic("c1", after=2)] == ["m4"]
        assert [e.message_id for e in log.read_topic("c1.>")] == ["m6"]
        consumed = log.consume("all", Event, 1, 100, partition=0 if partitions > 1 else None)
        assert [e.message_id for e in consumed] == [f"m{n}" for n in range(8)]
    finally:
        log.delete_stream()
        log.close()


def _acks_wire(log: NatsEventLog, batch: int) -> bytes:
    """Three JetStream acknowledgements of `batch` as the server writes them (its `MSG`
    lines, with the two spaces of an empty reply or one), a message of no subscription of
    ours between them."""
    inbox, sid = log._acks_inbox, log._acks_sub._id
    payloads = (
        b'{"stream":"S","seq":11}',
        b'{"stream":"S","seq":12,"duplicate":true}',
        b'{"stream":"S","seq":13}',
    )
    return b"".join(
        (
            b"MSG %s.%d.0 %d  %d\r\n%s\r\n" % (inbox.encode(), batch, sid, 23, payloads[0]),
            b"MSG _INBOX.elsewhere.1 987654 2\r\nhi\r\n",
            b"MSG %s.%d.1 %d %d\r\n%s\r\n" % (inbox.encode(), batch, sid, 40, payloads[1]),
            b"MSG %s.%d.2 %d  %d\r\n%s\r\n" % (inbox.encode(), batch, sid, 23, payloads[2]),
        )
    )  # fmt: skip


def test_acknowledgements_split_anywhere_are_filed_without_a_message_object(
    nats_log: NatsEventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the connection cuts the acknowledgements, each is filed under its batch and
    index (a duplicate as such), and none costs the client a message object or a task."""
    from vigie.log.nats import _Publishing

    nats_log.append([_event("first")])  # the acknowledgement inbox and its subscription
    made: list[Any] = []
    nc = nats_log._nc
    build = nc._build_message
    monkeypatch.setattr(nc, "_build_message", lambda *a: made.append(a) or build(*a))
    parser = nc._ps
    wire = _acks_wire(nats_log, 900)
    for cut in range(1, len(wire)):

        async def feed(cut: int = cut) -> _Publishing:
            waiting = nats_log._publishing[900] = _Publishing(3)
            await parser.parse(wire[:cut])
            await parser.parse(wire[cut:])
            del nats_log._publishing[900]
            return waiting

        waiting = nats_log._call(feed())
        assert waiting.done.is_set() and waiting.error is None, cut
        assert [(a.seq, a.duplicate) for a in waiting.acks if a] == [
            (11, False),
            (12, True),
            (13, False),
        ], cut
    assert made == []


def test_an_acknowledgement_with_an_error_fails_its_batch_on_the_quick_path(
    nats_log: NatsEventLog,
) -> None:
    """JetStream's error answer, or an unreadable one, fails the batch naming why."""
    from vigie.log.nats import _Publishing

    nats_log.append([_event("first")])
    inbox, sid = nats_log._acks_inbox, nats_log._acks_sub._id
    error = b'{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}'
    for payload, expected in ((error, "maximum messages"), (b"{not json", "unreadable")):
        line = b"MSG %s.901.0 %d %d\r\n%s\r\n" % (inbox.encode(), sid, len(payload), payload)

        async def feed(line: bytes = line) -> _Publishing:
            waiting = nats_log._publishing[901] = _Publishing(1)
            await nats_log._nc._ps.parse(line)
            del nats_log._publishing[901]
            return waiting

        waiting = nats_log._call(feed())
        assert waiting.error is not None and expected in str(waiting.error)


def test_reading_the_topic_named_star_reads_that_topic_alone(
    nats_url: str, engine: sa.Engine
) -> None:
    """A conversation id is a visitor's input: asking for topic `*` reads the events of the
    topic named `*`, never every topic's (each such request would read the whole chat)."""
    log = NatsEventLog.from_url(
        nats_url, rejects=SqlEventLog(engine), topic_of=lambda e: e.properties.get("topic")
    )
    try:
        events = [_event(f"m{n}") for n in range(3)]
        for event, topic in zip(events, ("c1", "c2", "*"), strict=True):
            event.properties["topic"] = topic
        log.append(events, source="web")
        assert [e.message_id for e in log.read_topic("*")] == ["m2"]
        assert [e.message_id for e in log.read_topic("c1")] == ["m0"]
    finally:
        log.delete_stream()
        log.close()


@pytest.mark.parametrize("partitions", [1, 3])
def test_the_live_total_leaves_out_notices_older_than_the_scan(
    nats_url: str, engine: sa.Engine, partitions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reloaded from a NATS log longer than the events it scans, the dashboard's live total
    still leaves out Vigie's notices appended before them (an erasure, a change of the rings'
    links), on a stream cut into partitions too; an erasure of old, appended as a `track`
    event, stays counted as the SQL store counts it."""
    monkeypatch.setattr(live, "LOAD_SCAN", 10)
    url = nats_url if partitions == 1 else f"{nats_url}&partitions={partitions}"
    log = NatsEventLog.from_url(
        url,
        rejects=SqlEventLog(engine),
        partition_of=None if partitions == 1 else lambda e: len(e.message_id or "") % partitions,
    )
    try:
        erased = notice_event(source="privacy", name="Subject Erased", at=T0)
        rings = notice_event(source="vigie-rings", name="Ring Links Changed", at=T0)
        of_old = msgspec.structs.replace(_event("old", source="privacy"), event="Subject Erased")
        log.append([erased, rings, of_old])
        log.append([_event(f"m{n}") for n in range(30)], source="web")
        assert log.count_notices(["privacy", "vigie-rings"]) == 2
        assert log.count_notices(["web"]) == 0

        async def reloaded() -> int:
            hub = LiveHub(log, ManualClock(T0), notice_sources=("privacy", "vigie-rings"))
            await hub.start()
            total: int = hub.snapshot()["total"]
            await hub.stop()
            return total

        assert asyncio.run(reloaded()) == 31
    finally:
        log.delete_stream()
        log.close()


@pytest.mark.parametrize("after", [1, 2, 3, 4])
@pytest.mark.parametrize("racer", list(RACERS))
def test_an_event_committed_while_the_hub_scans_the_stream_is_counted_once(
    nats_log: NatsEventLog, racer: str, after: int
) -> None:
    """On JetStream too, an event or notice committed between two of the live hub's reads
    (the stream's state, its notices, its events) is neither counted twice nor missed."""
    assert_counted_once(nats_log, nats_log, RACERS[racer](), after=after)
