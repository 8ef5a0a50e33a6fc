"""`vigie backtest`: which alerts the rules would have fired on past events."""

from __future__ import annotations

import glob
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigie.cli.options import DbOption, console, err, load_settings, progress_bar

if TYPE_CHECKING:
    from vigie.kpi.metrics import Metric
    from vigie.rules.alerts import Alert
    from vigie.rules.definitions import Rule
    from vigie.rules.scorecard import Scorecard


def backtest(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="vigie.yaml with the metrics and rules to test (with --csv and no --metric: "
            "not needed).",
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Event time to start at (ISO 8601).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Event time to stop at (ISO 8601).")
    ] = None,
    db: DbOption = None,
    series: Annotated[
        str | None,
        typer.Option(
            "--csv",
            help="Replay CSV time series (timestamp,value) instead of the log: a file, a "
            "folder (its *.csv) or a glob pattern (quote it).",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            help="The CSV column holding the values (its header, or its number from 1); "
            "default: `value`, else the first that is not the time."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="The metric the CSV series give values of; without it, each file goes through "
            "the anomaly rule at its defaults, at the file's own sampling interval."
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Incident windows per CSV file (JSON {file: [[start, end], ...]} or CSV "
            "series,start,end): report detections, misses, false alerts per day and time "
            "to detect. A CSV with an is_anomaly (or label) column of 0/1 per row is scored "
            "on its own flags without this."
        ),
    ] = None,
    tick: Annotated[str, typer.Option(help="Simulated time between evaluations.")] = "1s",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the alerts as JSON lines (with --csv: one per file)."),
    ] = False,
    reference: Annotated[
        bool, typer.Option("--reference", help="Use the per-event reference KPI engine.")
    ] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The site's time zone (IANA name, e.g. Europe/Paris), whose days and weeks "
            "the anomaly rules' profiles follow, daylight-saving changes included; default: "
            "analytics.timezone of the configuration, else UTC."
        ),
    ] = None,
) -> None:
    """Replay stored events (or CSV series) through the rules and print the alerts that
    would have fired, when, and why; with labelled CSV series, score them.

    Example: vigie backtest -c vigie.yaml --csv 'series/*.csv' --metric cpu --labels l.json --json
    """
    from vigie.rules.backtest import log_events, replay
    from vigie.rules.report import print_alerts

    settings = load_settings(db, config)
    cfg = settings.config
    zone = _zone(timezone) if timezone is not None else cfg.analytics.timezone
    since = _moment(start, "--from")
    until = _moment(end, "--to")
    if series is not None and metric is None:
        err.print(
            "no --metric: each file through the anomaly rule at its defaults, at its own "
            "sampling interval / sans --metric : chaque fichier passe par la règle d'anomalie "
            "par défaut, à son propre intervalle"
        )
        _series(
            series, None, [], labels, since=since, until=until, tick=tick, reference=reference,
            as_json=as_json, timezone=zone, column=column,
        )  # fmt: skip
        return
    if config is None:
        err.print("[red]--config is needed[/red] to replay the log, or --csv with a --metric of it")
        raise typer.Exit(2)
    if series is not None:
        chosen = next((m for m in cfg.metrics if m.name == metric), None)
        if chosen is None:
            names = ", ".join(m.name for m in cfg.metrics) or "none"
            err.print(f"[red]--metric must name a metric of {config}[/red] (metrics: {names})")
            raise typer.Exit(2)
        rules = [r for r in cfg.rules if r.metric == chosen.name]
        _series(
            series, chosen, rules, labels, since=since, until=until, tick=tick,
            reference=reference, as_json=as_json, timezone=zone, column=column,
        )  # fmt: skip
        return
    from vigie.log import SqlEventLog
    from vigie.store import connect, upgrade

    engine = connect(settings.db_url)
    upgrade(engine)
    try:
        log = SqlEventLog(engine)
        events_iter = log_events(log, start=since, end=until)
        with progress_bar() as bar:
            task = bar.add_task("events replayed / rejoués", total=log.last_offset() or None)
            changes = replay(
                cfg.metrics,
                cfg.rules,
                events_iter,
                tick=tick,
                until=until,
                reference=reference,
                progress=lambda n: bar.advance(task, n),
                timezone=zone,
            )
            bar.update(task, total=bar.tasks[task].completed)
    finally:
        engine.dispose()
    print_alerts(changes, console=console, as_json=as_json)


def _zone(name: str) -> str:
    """`--timezone`, checked as the configuration's zones are (`zone_problem`)."""
    from vigie.kpi.wallclock import zone_problem

    problem = zone_problem(name)
    if problem is not None:
        err.print(f"[red]--timezone {name!r} is not a time zone[/red]: {problem}")
        raise typer.Exit(2)
    return name


def series_files(pattern: str) -> list[Path]:
    """The CSV files a `--csv` value names: a file, a folder's *.csv, or a glob pattern."""
    path = Path(pattern)
    if path.is_dir():
        return sorted(path.glob("*.csv"))
    if path.is_file():
        return [path]
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def _series(
    pattern: str,
    metric: Metric | None,
    rules: list[Rule],
    labels_path: Path | None,
    *,
    since: datetime | None,
    until: datetime | None,
    tick: str,
    reference: bool,
    as_json: bool,
    timezone: str,
    column: str | None,
) -> None:
    """Replay each CSV series in one process (start-up paid once), printing per file;
    `timezone`: the site's, for anomaly rules that name none; `column`: the values';
    no `metric`: each file's own (`default_detector`)."""
    from vigie.rules.backtest import FAST_KINDS
    from vigie.rules.scorecard import LabelsError, load_labels

    files = series_files(pattern)
    if not files:
        err.print(f"[red]--csv {pattern!r} names no CSV file[/red] (a file, a folder or a glob)")
        raise typer.Exit(2)
    try:
        labels = load_labels(labels_path) if labels_path is not None else None
    except (OSError, LabelsError) as exc:
        err.print(f"[red]cannot read the labels:[/red] {exc}")
        raise typer.Exit(2) from exc
    fast = not reference and all(r.kind in FAST_KINDS for r in rules)  # the default: anomaly
    total: Scorecard | None = None
    bar = progress_bar()
    task = bar.add_task("series replayed / séries rejouées", total=len(files))
    with bar:
        for path in files:
            card = _replay_file(
                path, metric, rules, labels, fast=fast, since=since, until=until, tick=tick,
                reference=reference, as_json=as_json, timezone=timezone, column=column,
            )  # fmt: skip
            if card is not None:
                total = card if total is None else total.add(card)
            bar.advance(task)
    if total is not None:
        summary = {"files": len(files), "score": total.report()}
        if as_json:
            print(json.dumps(summary))
        else:
            console.print(summary)


def _replay_file(
    path: Path,
    metric: Metric | None,
    rules: list[Rule],
    labels: dict[str, list[tuple[int, int]]] | None,
    *,
    fast: bool,
    since: datetime | None,
    until: datetime | None,
    tick: str,
    reference: bool,
    as_json: bool,
    timezone: str,
    column: str | None,
) -> Scorecard | None:
    """Replay one CSV series and print its alerts; its scorecard when labels are given or
    the file flags its incidents (`labels` win)."""
    from vigie.rules.backtest import (
        SeriesError,
        read_series,
        replay,
        replay_samples,
        sample_events,
    )
    from vigie.rules.report import print_alerts
    from vigie.rules.scorecard import score
    from vigie.types import to_us

    low = to_us(since) if since else None
    high = to_us(until) if until else None
    try:
        read = read_series(path, column)
        samples = [
            s
            for s in read.samples
            if (low is None or s[0] >= low) and (high is None or s[0] < high)
        ]
        if metric is None:
            metric, rules = default_detector(samples, timezone)
        if fast:
            changes = replay_samples(metric, rules, samples, timezone=timezone)
        else:
            replacement, events = sample_events(samples, metric)  # already within --from/--to
            changes = replay(
                [replacement],
                rules,
                events,
                tick=tick,
                until=until,
                reference=reference,
                timezone=timezone,
            )
    except (OSError, SeriesError) as exc:
        err.print(f"[red]cannot read the series:[/red] {exc}")
        raise typer.Exit(2) from exc
    report: dict[str, Any] = {
        "file": str(path),
        "samples": len(samples),
        "window": metric.window,
        "timezone": timezone,
    }
    card = None
    windows = labels.get(path.name, []) if labels is not None else read.flagged
    if windows is not None and samples:
        if labels is None:
            report["labels"] = "flags"
        first, last = samples[0][0], samples[-1][0]
        # An incident outside the replayed stretch (--from, --to) was not missed.
        windows = [(a, b) for a, b in windows if b >= first and a <= last]
        card = score(_incident_starts(changes), windows, start_us=first, end_us=last)
        report["score"] = card.report()
    if as_json:
        report["alerts"] = [_incident(a) for a in _incidents(changes)]
        print(json.dumps(report))
    else:
        console.print(f"[bold]{path}[/bold] ({len(samples)} samples)")
        print_alerts(changes, console=console, as_json=False)
        if "score" in report:
            console.print(report["score"])
    return card


def default_detector(
    samples: Sequence[tuple[int, int, float]], timezone: str
) -> tuple[Metric, list[Rule]]:
    """The metric and rule a CSV series is replayed through without a configuration: the
    average of each sampling interval (the median gap between the samples' times, in whole
    seconds, at least 1) and the anomaly rule at its defaults, in the site's `timezone`."""
    import numpy as np

    from vigie.kpi.metrics import Metric
    from vigie.kpi.wallclock import UTC_NAME
    from vigie.rules.definitions import Rule

    times = np.unique(np.fromiter((s[0] for s in samples), dtype=np.int64, count=len(samples)))
    step_s = max(1, round(float(np.median(np.diff(times))) / 1e6)) if len(times) > 1 else 60
    metric = Metric(name="value", kind="average", value="properties.value", window=f"{step_s}s")
    zone = None if timezone == UTC_NAME else timezone
    return metric, [Rule(name="anomaly", kind="anomaly", metric="value", timezone=zone)]


def _incidents(changes: list[Alert]) -> list[Alert]:
    """The last state of each alert (incident), in the order they started."""
    last: dict[str, Alert] = {}
    for alert in changes:
        last[alert.id] = alert
    return list(last.values())


def _incident_starts(changes: list[Alert]) -> list[int]:
    starts: dict[str, int] = {}
    for alert in changes:
        if alert.status == "firing" and alert.fired_at is not None:
            starts.setdefault(alert.id, int(alert.fired_at.timestamp() * 1_000_000))
    return list(starts.values())


def _incident(alert: Alert) -> dict[str, Any]:
    values = {k: v for k, v in alert.values.items() if k not in ("history", "links")}
    return {
        "rule": alert.rule,
        "id": alert.id,
        "status": alert.status,
        "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "values": values,
    }


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        err.print(f"[red]{option} {text!r} is not an ISO 8601 time[/red] (e.g. 2026-11-28T12:00)")
        raise typer.Exit(2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
