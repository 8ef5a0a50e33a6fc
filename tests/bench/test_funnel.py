"""`vigie bench funnel` at a tiny size: it runs end to end and prints its figures as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vigie.cli import app


def test_bench_funnel_prints_the_named_figures() -> None:
    """The last line is JSON with live_events_per_s and scratch_seconds; live = scratch."""
    result = CliRunner().invoke(
        app, ["bench", "funnel", "--events", "3000", "--stores", "sqlite", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["events"] == 3000
    assert figures["live_events_per_s"] > 0 and figures["scratch_seconds"] > 0
    counts = figures["stores"]["sqlite"]["counts"]
    assert len(counts) == 3 and counts[0] >= counts[1] >= counts[2] > 0
