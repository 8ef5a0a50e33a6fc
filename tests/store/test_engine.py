"""SQLite engines: the writers of one process take the write lock in turns (issue 25)."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from vigie.store import connect
from vigie.store.engine import WriteTurns, write_turns


def test_a_second_writer_gets_its_turn_only_when_the_first_gives_it_back() -> None:
    """A writer that asks while another holds the turn starts after the holder's commit."""
    turns = WriteTurns()
    first, second = object(), object()
    order: list[str] = []
    asking = threading.Event()

    def other_writer() -> None:
        asking.set()
        turns.take(second)
        order.append("second starts")
        turns.give_back(second)

    turns.take(first)
    thread = threading.Thread(target=other_writer)
    thread.start()
    asking.wait()
    order.append("first commits")
    turns.give_back(first)
    thread.join()
    assert order == ["first commits", "second starts"]


def test_only_the_holder_gives_the_turn_back() -> None:
    """A connection that holds no turn (a reader, or one that already gave it back) ending its
    transaction leaves the holder's turn alone: another writer still waits for it."""
    turns = WriteTurns(timeout=0.05)
    holder, stranger = object(), object()
    turns.take(holder)
    turns.give_back(stranger)
    took: list[bool] = []

    def other_writer() -> None:
        turns.take(stranger)
        took.append(turns.holds(stranger))

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join()
    assert took == [False]
    turns.give_back(holder)
    turns.take(stranger)
    assert turns.holds(stranger)


def test_a_thread_holding_a_turn_does_not_wait_for_itself() -> None:
    """A second connection of the thread that holds the turn goes straight on (to SQLite's
    own lock, as before), instead of waiting for a turn its own thread holds."""
    turns = WriteTurns(timeout=60)
    first, second = object(), object()
    turns.take(first)
    turns.take(second)
    assert turns.holds(first) and not turns.holds(second)
    turns.give_back(second)
    assert turns.holds(first)


def test_concurrent_writers_of_one_engine_all_commit(tmp_path: Path) -> None:
    """Eight threads writing in small transactions on one engine all commit every row, and a
    transaction left by rollback, by closing or by an error gives the turn back."""
    engine = connect(f"sqlite:///{tmp_path}/turns.db")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, writer INTEGER)")
        with engine.connect() as conn:
            conn.begin()
            conn.exec_driver_sql("INSERT INTO t (writer) VALUES (-1)")
            conn.rollback()
        with engine.connect() as conn:
            conn.begin()
            conn.exec_driver_sql("INSERT INTO t (writer) VALUES (-2)")
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t (nope) VALUES (1)")
        except sa.exc.OperationalError:
            pass
        turns = write_turns(engine)
        assert turns is not None and not turns.taken()

        def writer(k: int) -> None:
            for _ in range(25):
                with engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO t (writer) VALUES (?)", (k,))

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with engine.connect() as conn:
            counts = dict(
                conn.exec_driver_sql("SELECT writer, COUNT(*) FROM t GROUP BY writer").all()
            )
        assert counts == dict.fromkeys(range(8), 25)
        assert not turns.taken()
    finally:
        engine.dispose()
