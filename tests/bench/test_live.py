"""`vigie bench live`: every posted event reaches the live stream, and the figures are named."""

from __future__ import annotations

from rich.console import Console

from vigie.bench.live import run_live_bench


def test_live_bench_sees_every_event_on_the_stream() -> None:
    """A short run loses no event and reports acknowledgement and live-arrival percentiles."""
    figures = run_live_bench(events=5, db_url=None, console=Console(quiet=True))
    assert figures["events"] == 5 and figures["missed"] == 0
    assert set(figures) == {
        "events", "missed", "ack_ms_p50", "ack_ms_p95", "live_ms_p50", "live_ms_p95", "live_ms_max",
    }  # fmt: skip
    assert 0 < figures["ack_ms_p50"] <= figures["ack_ms_p95"]
    assert 0 < figures["live_ms_p50"] <= figures["live_ms_p95"] <= figures["live_ms_max"]
