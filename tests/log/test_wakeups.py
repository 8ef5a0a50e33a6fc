"""The nudges between `vigie serve` and its worker process (`vigie.log.wakeups`)."""

from __future__ import annotations

import threading

from vigie.log.wakeups import ALERTS, COMMITTED, Wakeups


def test_a_nudge_reaches_the_handlers_of_its_kind_only() -> None:
    """`committed()` on one end calls the other end's COMMITTED handler, not its ALERTS one."""
    server, theirs = Wakeups.pair()
    worker = Wakeups(theirs)
    woken, alerted = threading.Event(), threading.Event()
    worker.on_nudge(COMMITTED, woken.set)
    worker.on_nudge(ALERTS, alerted.set)
    worker.start()
    try:
        server.committed()
        assert woken.wait(5)
        assert not alerted.is_set()
    finally:
        worker.close()
        server.close()


def test_the_other_end_closing_is_told_and_sending_to_it_does_not_fail() -> None:
    """When the server's end is gone, the worker's `on_closed` runs; a nudge sent meanwhile
    to a closed end is dropped without an error."""
    server, theirs = Wakeups.pair()
    worker = Wakeups(theirs)
    gone = threading.Event()
    worker.on_closed(gone.set)
    worker.start()
    server.close()
    assert gone.wait(5)
    server.send(COMMITTED)
    worker.send(ALERTS)
    worker.close()


def test_nudges_are_dropped_rather_than_blocking_when_nobody_reads() -> None:
    """With nobody reading, many nudges fill the buffer and the rest are dropped at once."""
    server, theirs = Wakeups.pair()
    try:
        for _ in range(100_000):
            server.committed()
    finally:
        server.close()
        theirs.close()
