"""The SQL event log: append, dedupe, offsets, reads and checkpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigie.events import Event, Rejection
from vigie.events.event import decode_event
from vigie.log import SqlEventLog
from vigie.log.eventlog import AppendJob
from vigie.log.sql import ROWS_PER_INSERT
from vigie.store import connect, schema, upgrade
from vigie.types import to_us

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _event(message_id: str, *, source: str = "web", name: str = "Clicked") -> Event:
    return Event(
        message_id=message_id,
        type="track",
        source=source,
        event=name,
        anonymous_id="a1",
        timestamp=T0,
        received_at=T0,
        properties={"n": message_id},
    )


def test_append_assigns_increasing_offsets_from_one(engine: sa.Engine) -> None:
    """The first batch gets offsets 1..n, the next continues after them."""
    log = SqlEventLog(engine)
    first = log.append([_event("a"), _event("b"), _event("c")])
    second = log.append([_event("d")])
    assert first.offsets == [1, 2, 3]
    assert second.offsets == [4]
    assert log.last_offset() == 4
    assert log.count() == 4


def test_duplicates_by_source_and_message_id(engine: sa.Engine) -> None:
    """A message id already in the log for its source is a duplicate; other sources may reuse it."""
    log = SqlEventLog(engine)
    log.append([_event("m1")])
    result = log.append([_event("m1"), _event("m1", source="pos"), _event("m2"), _event("m2")])
    assert result.offsets == [2, 3]
    assert result.duplicates == 2
    assert [(e.source, e.message_id) for e in log.read(1)] == [
        ("web", "m1"),
        ("pos", "m1"),
        ("web", "m2"),
    ]


def test_a_group_larger_than_one_insert_keeps_every_row_in_order(engine: sa.Engine) -> None:
    """Appends of more rows than one INSERT statement carries (several jobs, a duplicate among
    them) store every new event once, at consecutive offsets, in the order sent."""
    log = SqlEventLog(engine)
    size = ROWS_PER_INSERT + 7
    first = [_event(f"a{i}") for i in range(size)]
    second = [_event("a3"), *(_event(f"b{i}") for i in range(size))]
    results = log.append_many(
        [AppendJob(events=first, source="web"), AppendJob(events=second, source="web")]
    )
    assert results[0].offsets == list(range(1, size + 1))
    assert results[1].offsets == list(range(size + 1, 2 * size + 1))
    assert results[1].duplicates == 1
    stored = log.read(1, limit=3 * size)
    expected = [f"a{i}" for i in range(size)] + [f"b{i}" for i in range(size)]
    assert [e.message_id for e in stored] == expected
    assert [e.offset for e in stored] == list(range(1, 2 * size + 1))
    assert stored[-1] == msgspec.structs.replace(second[-1], offset=2 * size)


def test_read_returns_events_from_an_offset_with_their_offsets(engine: sa.Engine) -> None:
    """read(from_offset, limit) returns the stored events in log order, round-tripped whole."""
    log = SqlEventLog(engine)
    log.append([_event(f"m{i}") for i in range(10)])
    page = log.read(4, limit=3)
    assert [e.offset for e in page] == [4, 5, 6]
    assert [e.message_id for e in page] == ["m3", "m4", "m5"]
    assert page[0].properties == {"n": "m3"} and page[0].timestamp == T0
    assert log.read(11) == []


def test_append_many_commits_jobs_together_and_keeps_rejections(engine: sa.Engine) -> None:
    """Several jobs share one transaction; each gets its own result; rejections are kept."""
    log = SqlEventLog(engine)
    results = log.append_many(
        [
            AppendJob(events=[_event("x"), _event("y")]),
            AppendJob(
                events=[_event("x")],
                rejections=[
                    Rejection(reason="missing required field", field="event", payload=b"{}")
                ],
                source="web",
                endpoint="/v1/batch",
                received_at=T0,
            ),
        ]
    )
    assert [r.offsets for r in results] == [[1, 2], []]
    assert results[1].duplicates == 1 and results[1].rejected == 1
    kept = log.rejected()
    assert [(r.field, r.reason, r.source, r.payload) for r in kept] == [
        ("event", "missing required field", "web", "{}")
    ]
    assert kept[0].received_at == T0


def test_recent_filters_on_indexed_columns(engine: sa.Engine) -> None:
    """recent() filters by anonymous id and user id, newest first, and pages back with before."""
    log = SqlEventLog(engine)
    events = [_event(f"m{i}") for i in range(6)]
    events[2].anonymous_id = "other"
    events[4].user_id = "u9"
    log.append(events)
    assert [e.message_id for e in log.recent(anonymous_id="other")] == ["m2"]
    assert [e.message_id for e in log.recent(user_id="u9")] == ["m4"]
    assert [e.offset for e in log.recent(limit=2)] == [6, 5]
    assert [e.offset for e in log.recent(before=5, limit=2)] == [4, 3]


def test_checkpoints_start_at_one_and_move(engine: sa.Engine) -> None:
    """A consumer that never ran starts at 1; a saved checkpoint is read back and can move."""
    log = SqlEventLog(engine)
    assert log.checkpoint("kpi") == 1
    log.save_checkpoint("kpi", 42)
    log.save_checkpoint("crm", 7)
    log.save_checkpoint("kpi", 43)
    assert log.checkpoint("kpi") == 43
    assert SqlEventLog(engine).checkpoint("crm") == 7


def test_several_checkpoints_are_saved_in_one_commit(engine: sa.Engine) -> None:
    """The runner's checkpoints go in one transaction (issue 25: one commit each, every second,
    was most of the processors' time under load); new and known consumers alike."""
    log = SqlEventLog(engine)
    log.save_checkpoint("kpi", 5)
    commits: list[bool] = []
    sa.event.listen(engine, "commit", lambda _conn: commits.append(True))
    log.save_checkpoints({"kpi": 42, "crm": 7, "chat": 3})
    assert len(commits) == 1
    assert [log.checkpoint(c) for c in ("kpi", "crm", "chat")] == [42, 7, 3]
    log.save_checkpoints({})
    assert len(commits) == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.sampled_from(["web", "pos"]), st.integers(0, 15)), max_size=12),
        max_size=8,
    )
)
def test_offsets_increase_and_dedupe_matches_a_set(
    batches: list[list[tuple[str, int]]], db_url: str
) -> None:
    """Whatever the batches, offsets strictly increase and the log holds each (source, id) once."""
    engine = connect(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM events")
        log = SqlEventLog(engine)
        seen: set[tuple[str, str]] = set()
        expected: list[tuple[str, str]] = []
        offsets: list[int] = []
        for batch in batches:
            result = log.append([_event(f"m{n}", source=source) for source, n in batch])
            new = 0
            for source, n in batch:
                if (source, f"m{n}") not in seen:
                    seen.add((source, f"m{n}"))
                    expected.append((source, f"m{n}"))
                    new += 1
            assert len(result.offsets) == new
            assert result.duplicates == len(batch) - new
            offsets.extend(result.offsets)
        assert offsets == sorted(set(offsets))
        assert [(e.source, e.message_id) for e in log.read(1, 10_000)] == expected
        assert [e.offset for e in log.read(1, 10_000)] == offsets
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_identity_filters_use_the_partial_indexes(engine: sa.Engine) -> None:
    """On SQLite, filtering on anonymous_id or user_id searches the partial index."""
    for column in ("anonymous_id", "user_id"):
        with engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN SELECT log_offset, body FROM events WHERE {column} = ?"
                    " ORDER BY log_offset DESC LIMIT 100",
                    ("x",),
                )
            )
        assert f"USING INDEX ix_events_{column}" in plan, plan


def test_read_matches_decoding_each_stored_row(engine: sa.Engine) -> None:
    """read() gives exactly what decoding each stored body gives, old JSON bodies included."""
    log = SqlEventLog(engine)
    log.append([_event(f"m{i}", name=f"Step {i % 3}") for i in range(25)])
    legacy = _event("legacy")
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.events)
            .where(schema.events.c.log_offset == 7)
            .values(body=msgspec.json.encode(legacy))
        )
        rows = conn.execute(
            sa.select(schema.events.c.log_offset, schema.events.c.body)
            .where(schema.events.c.log_offset >= 3)
            .order_by(schema.events.c.log_offset)
        ).all()
    expected = []
    for offset, body in rows:
        event = decode_event(bytes(body))
        event.offset = offset
        expected.append(event)
    reader = SqlEventLog(engine)  # a later process: the rewritten row is read from the store
    assert reader.read(3, limit=100) == expected
    assert reader.read(3, limit=4) == expected[:4]
    assert expected[4].message_id == "legacy"


class _Seen(msgspec.Struct, kw_only=True):
    """Two fields of an event, as a processor may declare them."""

    message_id: str
    event: str | None = None
    offset: int | None = None


def test_read_as_decodes_the_same_events_as_a_smaller_struct(engine: sa.Engine) -> None:
    """read_as() gives, for each event read(), its declared fields and its offset."""
    log = SqlEventLog(engine)
    log.append([_event(f"m{i}", name=f"Step {i % 3}") for i in range(12)])
    whole = log.read(4, limit=5)
    seen = log.read_as(_Seen, 4, limit=5)
    assert seen == [_Seen(message_id=e.message_id, event=e.event, offset=e.offset) for e in whole]
    assert [e.offset for e in seen] == [4, 5, 6, 7, 8]
    assert log.read_as(_Seen, 13) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.sampled_from(["web", "pos"]), st.integers(0, 30)), max_size=12),
        max_size=8,
    ),
    others=st.lists(st.booleans(), max_size=8),
    capacity=st.integers(1, 40),
    reads=st.lists(st.tuples(st.integers(0, 80), st.integers(1, 30)), max_size=10),
)
def test_reads_of_what_was_just_committed_match_the_store(
    batches: list[list[tuple[str, int]]],
    others: list[bool],
    capacity: int,
    reads: list[tuple[int, int]],
    db_url: str,
) -> None:
    """The bodies this process committed last answer reads of them: with duplicates, another
    writer appending in between (whose events this process never saw) and old offsets let
    go, every read gives what the store gives."""
    engine = connect(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM events")
        log, other, store = SqlEventLog(engine), SqlEventLog(engine), SqlEventLog(engine)
        log.recent_bodies.capacity = capacity
        newest = 0  # the newest offset `log` appended
        for i, batch in enumerate(batches):
            writer = other if i < len(others) and others[i] else log
            offsets = writer.append([_event(f"m{n}", source=source) for source, n in batch]).offsets
            if writer is log and offsets:
                newest = offsets[-1]
        store.recent_bodies.capacity = 0  # reads the store itself
        for start, limit in reads:
            got = [(e.offset, e) for e in log.read_as(Event, start, limit)]
            want = [(e.offset, e) for e in store.read(start, limit)]
            # The log as of this process's last commit: what others appended after it comes
            # with the next read.
            assert got == want[: len(got)]
            assert bool(got) == bool(want)
            assert len(got) == len(want) or got[-1][0] == newest
    finally:
        engine.dispose()


def test_a_read_after_another_writer_goes_to_the_store(engine: sa.Engine) -> None:
    """Offsets another process appended between two of this one's commits are not among its
    recent bodies: a read over them comes whole from the store."""
    log, other = SqlEventLog(engine), SqlEventLog(engine)
    log.append([_event("a"), _event("b")])
    other.append([_event("c")])
    log.append([_event("d")])
    assert log.recent_bodies.read(1, 10) is None
    assert log.recent_bodies.read(4, 10) == ([4], [log.recent_bodies.read(4, 1)[1][0]])  # type: ignore[index]
    assert [(e.offset, e.message_id) for e in log.read(1, 10)] == [
        (1, "a"), (2, "b"), (3, "c"), (4, "d")
    ]  # fmt: skip


def test_the_rejected_table_is_bounded_per_source_and_for_unknown_senders(
    engine: sa.Engine,
) -> None:
    """Issue 17: past its bound, a source's oldest rejections (and those of senders with no
    known key) are dropped and counted; the newest stay; requests with no known key keep only
    4 KB of their body."""
    log = SqlEventLog(engine, keep_rejected=5, keep_anonymous=3, trim_every=2)
    for i in range(12):
        for source in ("web", "pos", None):
            log.append_many(
                [
                    AppendJob(
                        events=(),
                        rejections=(Rejection(reason=f"bad {i}", payload=b"x" * 10_000),),
                        source=source,
                        endpoint="/v1/batch",
                        received_at=datetime(2026, 3, 2, tzinfo=UTC),
                    )
                ]
            )
    table = schema.rejected_events
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.source, table.c.reason, table.c.payload)).all()
    by_source: dict[str | None, list[str]] = {}
    for source, reason, _ in rows:
        by_source.setdefault(source, []).append(reason)
    assert by_source["web"] == by_source["pos"] == [f"bad {i}" for i in range(7, 12)]
    assert by_source[None] == [f"bad {i}" for i in range(9, 12)]
    assert log.rejected_dropped == {"web": 7, "pos": 7, "(none)": 9}
    assert {len(p) for s, _, p in rows if s is None} == {4096}
    assert {len(p) for s, _, p in rows if s is not None} == {10_000}


def test_rejections_with_overlong_ids_are_kept_cut_to_their_columns(engine: sa.Engine) -> None:
    """Issue 17: a rejected message whose messageId or field is thousands of characters long
    is kept, cut to the column's width, instead of failing its batch on PostgreSQL."""
    log = SqlEventLog(engine)
    result = log.append_many(
        [
            AppendJob(
                events=(_event("ok-1"),),
                rejections=(
                    Rejection(reason="missing event", field="f" * 5_000, message_id="m" * 5_000),
                ),
                source="web",
                endpoint="/v1/" + "t" * 500,
                received_at=datetime(2026, 3, 2, tzinfo=UTC),
            )
        ]
    )
    assert result[0].accepted == 1
    kept = log.rejected(limit=1)[0]
    assert kept.message_id is not None and len(kept.message_id) == 200
    assert kept.message_id.startswith("mmm") and kept.message_id.endswith("…")


def test_the_two_moments_of_a_repeated_hour_are_stored_apart(engine: sa.Engine) -> None:
    """Two events of one batch at 02:30 in Paris on the night clocks go back (the first and
    the second time, `fold` 0 and 1, equal as Python compares them) keep the instants they
    name, an hour apart, in the indexed time column the timeline and retention query."""
    paris = ZoneInfo("Europe/Paris")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=paris)
    second = first.replace(fold=1)
    assert first == second and to_us(second) - to_us(first) == 3_600_000_000
    log = SqlEventLog(engine)
    events = [_event("fold-0"), _event("fold-1"), _event("fold-0-again")]
    events[0].timestamp, events[1].timestamp, events[2].timestamp = first, second, first
    events[0].received_at, events[1].received_at = second, first
    log.append(events, source="web")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.events.c.message_id, schema.events.c.timestamp_us,
                      schema.events.c.received_at_us).order_by(schema.events.c.log_offset)
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("fold-0", to_us(first), to_us(second)),
        ("fold-1", to_us(second), to_us(first)),
        ("fold-0-again", to_us(first), to_us(T0)),
    ]
