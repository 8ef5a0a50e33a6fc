"""`vigie bench …`: the benchmarks, each within a minute by default.

Every benchmark is a `run_*_bench(**options, console=…) -> figures` function of `vigie.bench`;
one table names each command's function and options, and one loop registers them all.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer

from vigie.cli.options import console

bench_app = typer.Typer(
    help="Benchmarks; each finishes within a minute by default.\n\n"
    "Example: vigie bench ingest --seconds 10 --json",
    no_args_is_help=True,
)


def _same(value: Any) -> Any:
    return value


def _zone(name: str) -> str:
    """`name` when it is a time zone; else a usage error saying why."""
    from vigie.kpi.wallclock import zone_problem

    problem = zone_problem(name)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="--timezone")
    return name


def _series_family(name: str) -> str:
    """`name` when it is a family of `vigie bench anomalies`; else a usage error."""
    if name not in ("default", "holdout"):
        raise typer.BadParameter(
            f"{name!r} is not a family: use default or holdout", param_hint="--family"
        )
    return name


@dataclass(frozen=True)
class Opt:
    """One option of a benchmark command, `--NAME`: the function gets `convert(value)` as
    its argument `keyword` (`name` when empty)."""

    name: str
    type: Any
    default: Any
    help: str
    keyword: str = ""
    convert: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Bench:
    """One `vigie bench NAME` command: the function it runs (`module:function`), its help
    (which, as every command's, carries an `Example:`) and its options."""

    name: str
    function: str
    help: str
    options: tuple[Opt, ...]


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _rates(text: str) -> list[float]:
    return [float(v) for v in _names(text)]


DB = Opt(
    "db", str | None, None, "Database URL (a temporary SQLite file by default).", keyword="db_url"
)

PROCESSORS = Opt(
    "processors",
    str,
    "server",
    "Where the server runs its processors: server (in its own process) or worker (in a "
    "`vigie worker` child it supervises: `vigie serve --processors worker`).",
)

BENCHES = (
    Bench(
        "ingest",
        "vigie.bench.ingest:run_ingest_bench",
        """Measure HTTP ingestion into the log against the raw insert rate of the same rows.

        Example: vigie bench ingest --seconds 10 --json

        Example: vigie bench ingest --workers 2 --log nats://127.0.0.1:4222 --json

        Example: vigie bench ingest --processors worker --json

        Example: vigie bench ingest --prebuilt-requests --ingest-nodes 2 --log nats://localhost:4222
        """,
        (
            Opt("seconds", float, 10.0, "How long the clients send."),
            Opt("clients", int, 2, "Client processes."),
            Opt("connections", int, 4, "Connections per client process."),
            Opt("batch", int, 500, "Events per batch."),
            DB,
            Opt(
                "workers",
                int,
                0,
                "Worker processes: 0 runs the processors in the server, else the server runs "
                "--role ingest beside that many `vigie worker`.",
            ),
            Opt(
                "log",
                str | None,
                None,
                "Event log URL (nats://HOST:PORT, a stream of the run's own); the SQL store "
                "by default.",
                keyword="log_url",
            ),
            PROCESSORS,
            Opt(
                "ingest_nodes",
                int,
                0,
                "Ingest nodes: 0 runs one `vigie serve` whose role follows --workers; N runs N "
                "`vigie serve --role ingest` on ports of their own, the clients' connections "
                "dealt over them, beside --workers workers (0: none, the ingest-only capacity).",
            ),
            Opt(
                "prebuilt_requests",
                bool,
                False,
                "Clients build every request (unique message ids) before the timed window, "
                "then only write the bytes and read the answers: they cost almost nothing, the "
                "stand-in on one machine for clients on other machines.",
            ),
        ),
    ),
    Bench(
        "overload",
        "vigie.bench.overload:run_overload_bench",
        """Offer FACTOR times the sustainable ingest rate for SECONDS, whatever the answers:
        counts the 429/503 answers (each must carry Retry-After), times /healthz and a
        dashboard page meanwhile, samples the server's memory, and checks that every
        acknowledged event is in the log.

        Example: vigie bench overload --seconds 60 --factor 10 --json
        """,
        (
            Opt("seconds", float, 60.0, "How long the overload lasts."),
            Opt("factor", float, 10.0, "Offered rate, as a multiple of the sustainable one."),
            Opt("calibrate", float, 5.0, "Seconds spent measuring the sustainable rate."),
            Opt("clients", int, 2, "Client processes."),
            Opt("connections", int, 256, "Connections per client process during the overload."),
            Opt("batch", int, 100, "Events per request."),
            Opt("max_in_flight", int, 16, "The server's ingest.max_in_flight."),
            Opt("max_queued", int, 256, "The server's ingest.max_queued_batches."),
            Opt("max_lag", int, 500_000, "The server's ingest.max_processor_lag."),
            Opt(
                "workers",
                int,
                0,
                "Worker processes: 0 runs the processors in the server, else the server runs "
                "--role ingest beside that many `vigie worker`.",
            ),
            PROCESSORS,
            DB,
        ),
    ),
    Bench(
        "live",
        "vigie.bench.live:run_live_bench",
        """Time an event from the API to an open dashboard's live stream, beside its ingest ack.

        Example: vigie bench live --events 200 --json
        """,
        (Opt("events", int, 200, "Events posted, one at a time."), DB),
    ),
    Bench(
        "funnel",
        "vigie.bench.funnel:run_funnel_bench",
        """Measure a 3-step funnel kept live by the processor against its from-scratch
        recomputation with Polars, on SQLite and PostgreSQL.

        Example: vigie bench funnel --events 10000000 --json
        """,
        (
            Opt("events", int, 150_000, "Generated events in the log."),
            Opt(
                "stores",
                str,
                "sqlite,postgres",
                "Comma-separated stores to run on: sqlite, postgres.",
                convert=_names,
            ),
            Opt(
                "pg",
                str,
                "postgresql://postgres@127.0.0.1:5432/test",
                "PostgreSQL server (a temporary database is created there and dropped).",
                keyword="pg_url",
            ),
        ),
    ),
    Bench(
        "playbooks",
        "vigie.bench.playbooks:run_playbooks_bench",
        """Measure schedule decisions and recorded playbook runs against their baselines.

        Example: vigie bench playbooks --seconds 20 --json
        """,
        (Opt("seconds", float, 20.0, "Total time of the measurements."), DB),
    ),
    Bench(
        "crm",
        "vigie.bench.crm:run_crm_bench",
        """Measure CRM writes through the API (log, projection, read-back): single writes from
        one and from several clients, and batches, against direct inserts.

        Example: vigie bench crm --writes 300 --clients 8 --batch 1000 --json
        """,
        (
            Opt("writes", int, 300, "Single writes through the API (and direct inserts)."),
            Opt("clients", int, 8, "Concurrent clients sharing the same number of writes."),
            Opt("batch", int, 1000, "Records per batch write."),
            Opt("batches", int, 5, "Batch writes to time."),
            Opt("port", int, 8765, "Port of the temporary server."),
            Opt(
                "client",
                str,
                "stdlib",
                "HTTP client of the writers: stdlib (http.client, little CPU) or httpx.",
            ),
            DB,
        ),
    ),
    Bench(
        "scoring",
        "vigie.bench.scoring:run_scoring_bench",
        """Generate prospects, score them all, rank, explain the top and assign them to reps,
        beside the same job written plainly with pandas and scikit-learn.

        Example: vigie bench scoring --rows 12000000 --json
        """,
        (
            Opt("rows", int, 1_000_000, "Prospects to generate and score."),
            Opt("top", int, 10_000, "Leads to explain and assign."),
            Opt("reps", int, 20, "Salespeople to assign them to."),
            Opt("baseline", bool, True, "Also time the pandas + scikit-learn baseline."),
        ),
    ),
    Bench(
        "leads-quality",
        "vigie.bench.leads_quality:run_leads_quality_bench",
        """Judge lead scoring on the most recent period of two generated call histories, one
        with a change of economic regime and a stationary control: Vigie's chosen model
        against a one-hot logistic regression and a default LightGBM on the same time split
        (AUC, calibration error, the card's shift warning).

        Example: vigie bench leads-quality --rows 40000 --json
        """,
        (
            Opt("rows", int, 40_000, "Calls generated per history."),
            Opt("seed", int, 1, "Random seed of the generator."),
        ),
    ),
    Bench(
        "kpi",
        "vigie.bench.kpi:run_kpi_bench",
        """Measure events per second through the KPI engine alone (20 metrics, sliding windows),
        in order and shuffled within `--shuffle` seconds, in one run.

        Example: vigie bench kpi --shuffle 5 --json
        """,
        (
            Opt("events", int, 400_000, "Events fed to the engine."),
            Opt("groups", int, 1000, "Distinct campaigns (groups)."),
            Opt("batch", int, 1000, "Events per batch, as the log hands them over."),
            Opt(
                "shuffle",
                float,
                5.0,
                "Also feed the events shuffled within this many seconds of event time "
                "(0: in order only).",
            ),
        ),
    ),
    Bench(
        "anomalies",
        "vigie.bench.anomalies:run_anomalies_bench",
        """Replay labelled generated series (spikes, level shifts, trend, seasonality and
        variance changes, quantised, offset, weekly, spiky counts, missing data, heavy-tailed
        noise, low-rate Poisson counts, AR(1) noise on a daily pattern, a random walk, a shop's
        sales with a till outage, a rush or a day closed by mistake, and incident-free ones)
        through the anomaly rule at its defaults; windowed scoring per kind against raising
        no alert, false alerts per series-week, samples per CPU second.

        Example: vigie bench anomalies --series 8 --json; --family holdout for the holdout
        """,
        (
            Opt("series", int, 8, "Series generated per kind."),
            Opt("days", int, 14, "Days per series."),
            Opt("seed", int, 15, "Random seed of the generator."),
            Opt(
                "timezone",
                str,
                "UTC",
                "An IANA time zone: the series' patterns follow its local time (daylight-"
                "saving changes included) and the rule reads its calendar there.",
                convert=_zone,
            ),
            Opt(
                "family",
                str,
                "default",
                "default: the generated kinds above; holdout: series written apart from "
                "them (server CPU and latency, traffic across a DST change, orders, drifts, "
                "sensors; spikes, dips, shifts, stuck sensors, variance bursts, outages).",
                convert=_series_family,
            ),
        ),
    ),
    Bench(
        "alerts",
        "vigie.bench.alerts:run_alerts_bench",
        """Measure the latency from an HTTP request carrying a triggering event to its alert
        firing on the SSE stream, under background load, in order and with the load's event
        times shuffled within `--shuffle` seconds, in one run.

        Example: vigie bench alerts --seconds 20 --shuffle 5 --json
        """,
        (
            Opt("seconds", float, 20.0, "How long the load runs."),
            Opt("rate", int, 10_000, "Background events per second."),
            Opt("interval", float, 0.05, "Seconds between probes."),
            Opt("clients", int, 2, "Load processes sharing the rate."),
            Opt("connections", int, 4, "Keep-alive connections per load process."),
            Opt(
                "shuffle",
                float,
                5.0,
                "Also run with event times shuffled up to this many seconds into the past "
                "(0: in order only).",
            ),
            Opt(
                "synchronous",
                str,
                "NORMAL",
                "SQLite synchronous mode of the server: NORMAL or FULL.",
                convert=str.upper,
            ),
            PROCESSORS,
            DB,
        ),
    ),
    Bench(
        "sensors",
        "vigie.bench.sensors:run_sensors_bench",
        """Measure RFID reads per second through EPCIS validation into the log, the KPIs and
        the shop's state, against the same reads appended already converted, with the
        latency to the rules.

        Example: vigie bench sensors --documents 400 --per-document 100 --json
        """,
        (
            Opt("documents", int, 400, "EPCIS documents sent."),
            Opt("per_document", int, 100, "ObjectEvents (reads) per document."),
            Opt("concurrency", int, 8, "Documents in flight at once."),
        ),
    ),
    Bench(
        "detection",
        "vigie.bench.detection:run_detection_bench",
        """Simulate streams with a daily pattern and noise at several rates, with breaks (drop
        to 0, drop by 50 %) and without: median time to detect of the sequential rule vs the
        1-minute window count rule vs the theoretical minimum, and false alarms per month.

        Example: vigie bench detection --rates 0.05,1,20,200 --days 3 --json
        """,
        (
            Opt(
                "rates",
                str,
                "0.05,1,20,200",
                "Comma-separated mean rates (events per second).",
                convert=_rates,
            ),
            Opt("days", float, 3.0, "Simulated days of normal traffic per rate."),
            Opt("breaks", int, 100, "Breaks per rate and kind of break."),
            Opt("tick", float, 0.1, "Seconds between evaluations of the rule (alerting.tick)."),
            Opt("false_alarms", str, "1/month", "The declared false-alarm rate."),
            Opt("seed", int, 26, "Random seed of the simulation."),
        ),
    ),
    Bench(
        "erasure",
        "vigie.bench.erasure:run_erasure_bench",
        """Erase one person from a log of EVENTS events, beside one full scan of the log and
        VACUUM alone on the same store.

        Example: vigie bench erasure --events 200000 --json
        """,
        (
            Opt("events", int, 200_000, "Events in the log."),
            Opt("person_events", int, 200, "How many of them are the person's."),
            DB,
        ),
    ),
    Bench(
        "chat",
        "vigie.bench.chat:run_chat_bench",
        """Open N chat widgets (WebSockets) and M agent consoles on one server; time a proactive
        invitation to every widget and messages both ways, beside an ingest acknowledgement.

        Example: vigie bench chat --widgets 1000 --agents 4 --messages 200 --json
        (two nodes: --nodes 2 --log nats://127.0.0.1:4222)
        """,
        (
            Opt("widgets", int, 1000, "Visitors with an open widget (one WebSocket each)."),
            Opt("agents", int, 4, "Agents with the console open."),
            Opt("messages", int, 200, "Conversations: a visitor's question, an agent's answer."),
            DB,
            Opt(
                "nodes",
                int,
                1,
                "API nodes: 2 opens the widgets on one and the consoles on the other (needs "
                "--log).",
            ),
            Opt(
                "log",
                str | None,
                None,
                "Event log URL (nats://HOST:PORT, a stream of the run's own); the SQL store "
                "by default.",
                keyword="log_url",
            ),
        ),
    ),
)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Collect, then move every object alive now out of the collector's way while a benchmark
    runs, and give them back after.

    The CLI's process holds far more than a benchmark builds (typer, rich, every imported
    module): full collections walk it all, at moments that differ from one run (or tree) to
    the next, and land in what is timed (`vigie bench funnel`'s live figure swung 0.74-0.91x
    between two trees for this alone). Frozen, the heap the collector walks is the
    benchmark's own, as in the server (`vigie.web.tuning`).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _command(bench: Bench) -> Callable[..., None]:
    """The typer callback of a benchmark: its options, then `--json`; runs the function lazily
    (a benchmark's imports are heavy) and prints its figures as JSON when asked."""

    def command(**values: Any) -> None:
        module, _, name = bench.function.partition(":")
        run = getattr(importlib.import_module(module), name)
        arguments = {o.keyword or o.name: o.convert(values[o.name]) for o in bench.options}
        with frozen_heap():
            figures = run(**arguments, console=console)
        if values["as_json"]:
            print(json.dumps(figures))

    parameters = [
        inspect.Parameter(
            o.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(o.default, help=o.help),
            annotation=o.type,
        )
        for o in bench.options
    ]
    parameters.append(
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                False, "--json", help="Print the figures as JSON on the last line."
            ),
            annotation=bool,
        )
    )
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = bench.help
    command.__name__ = f"bench_{bench.name}"
    return command


for _bench in BENCHES:
    bench_app.command(_bench.name)(_command(_bench))
