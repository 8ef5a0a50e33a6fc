"""`vigie bench …`: each command of the table passes its options to its benchmark function."""

from __future__ import annotations

import gc
import importlib
import inspect
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from vigie.cli import app
from vigie.cli.bench import BENCHES

# What each command hands its function with no option given (console aside).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ingest": {
        "seconds": 10.0,
        "clients": 2,
        "connections": 4,
        "batch": 500,
        "db_url": None,
        "workers": 0,
        "log_url": None,
        "processors": "server",
        "ingest_nodes": 0,
        "prebuilt_requests": False,
    },
    "overload": {
        "seconds": 60.0,
        "factor": 10.0,
        "calibrate": 5.0,
        "clients": 2,
        "connections": 256,
        "batch": 100,
        "max_in_flight": 16,
        "max_queued": 256,
        "max_lag": 500_000,
        "workers": 0,
        "processors": "server",
        "db_url": None,
    },
    "live": {"events": 200, "db_url": None},
    "funnel": {
        "events": 150_000,
        "stores": ["sqlite", "postgres"],
        "pg_url": "postgresql://postgres@127.0.0.1:5432/test",
    },
    "playbooks": {"seconds": 20.0, "db_url": None},
    "crm": {
        "writes": 300,
        "clients": 8,
        "batch": 1000,
        "batches": 5,
        "port": 8765,
        "client": "stdlib",
        "db_url": None,
    },
    "scoring": {"rows": 1_000_000, "top": 10_000, "reps": 20, "baseline": True},
    "leads-quality": {"rows": 40_000, "seed": 1},
    "kpi": {"events": 400_000, "groups": 1000, "batch": 1000, "shuffle": 5.0},
    "anomalies": {"series": 8, "days": 14, "seed": 15, "timezone": "UTC", "family": "default"},
    "alerts": {
        "seconds": 20.0,
        "rate": 10_000,
        "interval": 0.05,
        "clients": 2,
        "connections": 4,
        "shuffle": 5.0,
        "synchronous": "NORMAL",
        "processors": "server",
        "db_url": None,
    },
    "sensors": {"documents": 400, "per_document": 100, "concurrency": 8},
    "detection": {
        "rates": [0.05, 1.0, 20.0, 200.0],
        "days": 3.0,
        "breaks": 100,
        "tick": 0.1,
        "false_alarms": "1/month",
        "seed": 26,
    },
    "erasure": {"events": 200_000, "person_events": 200, "db_url": None},
    "chat": {
        "widgets": 1000,
        "agents": 4,
        "messages": 200,
        "db_url": None,
        "nodes": 1,
        "log_url": None,
    },
}


def _record(monkeypatch: pytest.MonkeyPatch, function: str) -> list[dict[str, Any]]:
    """Replace the benchmark function by one that records its arguments."""
    calls: list[dict[str, Any]] = []
    module, _, name = function.partition(":")

    def fake(**arguments: Any) -> dict[str, Any]:
        arguments.pop("console")
        calls.append(arguments)
        return {"ran": name}

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    return calls


def test_the_table_holds_every_benchmark() -> None:
    """The table registers every benchmark, in the order their help lists them."""
    assert [b.name for b in BENCHES] == list(DEFAULTS)


@pytest.mark.parametrize("bench", BENCHES, ids=[b.name for b in BENCHES])
def test_defaults_reach_the_function(bench: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no option, the function gets each default under its keyword; --json prints figures."""
    calls = _record(monkeypatch, bench.function)
    result = CliRunner().invoke(app, ["bench", bench.name, "--json"])
    assert result.exit_code == 0, result.output
    assert calls == [DEFAULTS[bench.name]]
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures == {"ran": bench.function.partition(":")[2]}


@pytest.mark.parametrize("bench", BENCHES, ids=[b.name for b in BENCHES])
def test_the_function_accepts_what_the_command_passes(bench: Any) -> None:
    """Each benchmark function's signature binds the keywords its command passes."""
    module, _, name = bench.function.partition(":")
    signature = inspect.signature(getattr(importlib.import_module(module), name))
    signature.bind(**DEFAULTS[bench.name], console=None)


def test_options_are_converted_for_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """--stores becomes a list, --synchronous is upper-cased, --db and --pg become *_url."""
    funnel = _record(monkeypatch, "vigie.bench.funnel:run_funnel_bench")
    alerts = _record(monkeypatch, "vigie.bench.alerts:run_alerts_bench")
    runner = CliRunner()
    result = runner.invoke(
        app, ["bench", "funnel", "--stores", "sqlite, ", "--pg", "postgresql://x"]
    )
    assert result.exit_code == 0, result.output
    assert funnel[0]["stores"] == ["sqlite"] and funnel[0]["pg_url"] == "postgresql://x"
    result = runner.invoke(
        app, ["bench", "alerts", "--synchronous", "full", "--db", "sqlite:///a.db"]
    )
    assert result.exit_code == 0, result.output
    assert alerts[0]["synchronous"] == "FULL" and alerts[0]["db_url"] == "sqlite:///a.db"
    assert result.output.strip() == ""


def test_a_benchmark_runs_in_a_frozen_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the process holds before a benchmark is frozen while it runs, and unfrozen after."""
    before = gc.get_freeze_count()
    frozen: list[int] = []

    def fake(**arguments: Any) -> dict[str, Any]:
        frozen.append(gc.get_freeze_count())
        return {}

    monkeypatch.setattr(importlib.import_module("vigie.bench.kpi"), "run_kpi_bench", fake)
    result = CliRunner().invoke(app, ["bench", "kpi"])
    assert result.exit_code == 0, result.output
    assert frozen[0] > before + 1000
    assert gc.get_freeze_count() == before
