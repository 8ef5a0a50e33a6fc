"""Issue 17: when the log's writer or the processors fall behind, ingestion answers 503 with
Retry-After instead of queueing without bound, and every acknowledged event is stored."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.conftest import WRITE_KEY
from vigie.clock import ManualClock
from vigie.config import Config, IngestSettings, Source
from vigie.events import Event
from vigie.ingest.ingestor import Ingestor, Outcome
from vigie.log import GroupCommitter, ProcessorRunner, SqlEventLog
from vigie.log.eventlog import AppendResult
from vigie.log.pressure import Backpressure, StoredPositions
from vigie.telemetry import Telemetry

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def _ingestor(engine: sa.Engine, *, max_queued: int) -> tuple[Ingestor, GroupCommitter]:
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        ingest=IngestSettings(max_queued_batches=max_queued, retry_after_seconds=3),
    )
    committer = GroupCommitter(SqlEventLog(engine))
    pressure = Backpressure(committer=committer, runner=None, max_queued=max_queued, max_lag=0)
    ingestor = Ingestor(
        config=config,
        committer=committer,
        metrics=Telemetry(),
        clock=ManualClock(datetime(2026, 12, 1, tzinfo=UTC)),
        pressure=pressure,
    )
    return ingestor, committer


def _body(i: int) -> bytes:
    message = {"type": "track", "event": "Tick", "anonymousId": "a", "messageId": f"m{i}"}
    return json.dumps({"batch": [message]}).encode()


def test_a_full_writer_queue_answers_503_and_loses_nothing_acknowledged(
    engine: sa.Engine,
) -> None:
    """With the writer stalled, requests past the queue's bound get 503 and Retry-After (and
    are not stored); once the writer runs, every request that waited is acknowledged and its
    event is in the log exactly once."""
    ingestor, committer = _ingestor(engine, max_queued=4)

    async def scenario() -> tuple[list[Outcome], list[Outcome]]:
        waiting = [
            asyncio.create_task(ingestor.ingest(_body(i), endpoint="/v1/batch",
                                                authorization=AUTH, content_encoding=None))
            for i in range(4)
        ]  # fmt: skip
        while committer.queued() < 4:
            await asyncio.sleep(0.01)
        refused = [
            await ingestor.ingest(
                _body(100 + i), endpoint="/v1/batch", authorization=AUTH, content_encoding=None
            )
            for i in range(3)
        ]
        committer.start()
        try:
            done = await asyncio.wait_for(asyncio.gather(*waiting), timeout=120)
        finally:
            committer.stop()
        return list(done), refused

    done, refused = asyncio.run(scenario())
    assert [o.status for o in refused] == [503] * 3
    assert all(o.headers["Retry-After"] == "3" for o in refused)
    assert "retry" in refused[0].body["error"]
    assert [o.status for o in done] == [200] * 4
    log = SqlEventLog(engine)
    stored = [e.message_id for e in log.read(0, 100)]
    assert sorted(stored) == [f"m{i}" for i in range(4)]
    metrics = ingestor.metrics.render().decode()
    assert 'vigie_ingest_deferred_total{endpoint="/v1/batch"} 3.0' in metrics


class Idle:
    """A processor that has not run yet."""

    name = "idle"

    def process(self, events: Sequence[Event]) -> None:
        """Never called here."""


def test_processor_lag_past_its_bound_answers_503(engine: sa.Engine) -> None:
    """When the slowest processor is more events behind than `max_processor_lag`, ingestion
    answers 503; with the bound at 0 it never does."""
    log = SqlEventLog(engine)
    runner = ProcessorRunner(log, [Idle()])
    committer = GroupCommitter(log)
    pressure = Backpressure(committer=committer, runner=runner, max_queued=10, max_lag=5)
    assert pressure.reason() is None
    pressure.committed([AppendResult(offsets=list(range(1, 11)), duplicates=0, rejected=0)])
    assert pressure.lag() == 11 - runner.position("idle") > 5
    reason = pressure.reason()
    assert reason is not None and "events behind" in reason
    pressure.max_lag = 0
    assert pressure.reason() is None


def test_a_source_over_its_rate_limit_gets_429_and_loses_nothing(engine: sa.Engine) -> None:
    """A source with `rate_limit: 1` and `burst: 2` gets two requests through at once, then
    429 with Retry-After (nothing stored) until the clock has given it a new token; every
    acknowledged event is in the log."""
    clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
    config = Config(sources=[Source(name="web", write_key=WRITE_KEY, rate_limit=1, burst=2)])
    committer = GroupCommitter(SqlEventLog(engine))
    ingestor = Ingestor(config=config, committer=committer, metrics=Telemetry(), clock=clock)

    async def send(i: int) -> Outcome:
        return await ingestor.ingest(
            _body(i), endpoint="/v1/batch", authorization=AUTH, content_encoding=None
        )

    async def scenario() -> list[Outcome]:
        committer.start()
        try:
            outcomes = [await send(i) for i in range(3)]
            clock.advance(timedelta(seconds=1))
            outcomes.append(await send(3))
            return outcomes
        finally:
            committer.stop()

    outcomes = asyncio.run(scenario())
    assert [o.status for o in outcomes] == [200, 200, 429, 200]
    assert outcomes[2].headers["Retry-After"] == "1"
    assert "rate limit" in outcomes[2].body["error"]
    stored = sorted(e.message_id for e in SqlEventLog(engine).read(0, 100))
    assert stored == ["m0", "m1", "m3"]


def test_processors_in_another_process_are_measured_by_their_checkpoints(
    engine: sa.Engine,
) -> None:
    """With the processors in a worker process (`serve --processors worker`), ingestion
    backs off when their saved checkpoints fall behind what was committed, read by a timer
    rather than on each request."""
    log = SqlEventLog(engine)
    stored = StoredPositions(log, ["rules", "crm"])
    pressure = Backpressure(
        committer=GroupCommitter(log), runner=None, max_queued=1000, max_lag=10, stored=stored
    )
    pressure.committed([AppendResult(offsets=list(range(1, 101)), duplicates=0, rejected=0)])
    log.save_checkpoint("rules", 101)
    log.save_checkpoint("crm", 80)
    assert pressure.reason() is None, "nothing read yet: no lag claimed"
    stored.refresh()
    assert pressure.lag() == 21
    assert pressure.reason() == "processors are 21 events behind (bound 10)"
    log.save_checkpoint("crm", 101)
    stored.refresh()
    assert pressure.lag() == 0 and pressure.reason() is None
