"""`vigie leads …`: lead scoring: train, profile, score, explain, assign, report."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from vigie.ai.config import AiConfig
from vigie.ai.labels import Lang
from vigie.ai.reps import Rep
from vigie.cli.options import (
    AiConfigOption,
    DataOption,
    DbOption,
    ai_config,
    cli_actor,
    console,
    fail,
    load_settings,
    migrated_engine,
    progress_bar,
)
from vigie.clock import SystemClock

leads_app = typer.Typer(
    help="Lead scoring: train, profile, score, explain, assign, report.\n\n"
    "Example: vigie leads today",
    no_args_is_help=True,
)


LangOption = Annotated[str, typer.Option("--lang", help="Language: en or fr.")]


def _lang(lang: str) -> Lang:
    if lang == "en":
        return "en"
    if lang == "fr":
        return "fr"
    raise fail(f"--lang {lang!r}: use en or fr")


def _read_history(path: Path, *, hint: str = "") -> pl.DataFrame:
    """The deal history at `path`, or exit naming how to make one (`hint`: this command's
    own way, e.g. its option)."""
    from vigie.ai.prospects import read_table

    if not path.exists():
        ways = "generate one with `vigie prospects generate`, build it from the CRM with "
        ways += "`vigie leads history`"
        raise fail(f"{path}: no deal history; {ways}{hint}")
    return read_table(path)


@leads_app.command("train")
def leads_train(
    from_csv: Annotated[
        Path | None,
        typer.Option("--from-csv", help="Train on your own exported history (CSV or Parquet)."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Outcome column (yes/no, won/lost, 1/0).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Date column: train on the past, test on the latest.")
    ] = None,
    positive: Annotated[
        str | None, typer.Option(help="The outcome value that counts as a conversion.")
    ] = None,
    deals: Annotated[
        Path | None, typer.Option(help="Deal history (default DATA/prospects/history).")
    ] = None,
    context: Annotated[
        str,
        typer.Option(
            help="Comma-separated context columns (economy, campaign, date parts): used by "
            "the model, never shown as customer traits."
        ),
    ] = "",
    monotone: Annotated[
        str,
        typer.Option(
            help="Comma-separated COLUMN=+1 or COLUMN=-1: the trees' effect of that number "
            "only rises (or only falls)."
        ),
    ] = "",
    exclude: Annotated[str, typer.Option(help="Comma-separated columns never to learn from.")] = "",
    recency: Annotated[
        float | None,
        typer.Option(
            help="With a time column, weigh recent rows more: the weight halves every this "
            "share of the training period (e.g. 0.5)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    tolerance: Annotated[
        float, typer.Option(help="AUC the new model may lose to the active one and still win.")
    ] = 0.0,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Train a calibrated conversion model and save it as a new version with its model card.

    Without --from-csv it learns from the CRM deal history on the prospect base's columns.
    A logistic regression and gradient-boosted trees compete on the most recent period
    before the test period; the card names the winner, its test metrics beside a naive
    baseline, and warns when the most recent period has shifted. The new version becomes
    the active one only if it is not worse than the active one on the same recent holdout
    (else `vigie leads promote VERSION` does it by hand).

    Example: vigie leads train --from-csv bank-additional-full.csv --target y
    --time-column date --context euribor3m,emp.var.rate,month

    Example: vigie leads train --from-csv calls.csv --target outcome --positive signed
    --monotone calls=-1
    """
    from vigie.ai import models
    from vigie.ai.prospects import FEATURES, read_table

    section = ai_config(config, data)
    if from_csv is not None and target is None:
        raise fail("--from-csv needs --target COLUMN")
    contexts = _names(context)
    excluded = frozenset(_names(exclude))
    try:
        constraints = _monotone(monotone)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    bar = progress_bar()
    task = bar.add_task("reading", total=len(models.STAGES) + 1)

    def stage(name: str) -> None:
        bar.update(task, description=name, advance=1)

    try:
        with bar:
            if from_csv is not None:
                frame = read_table(from_csv)
                model = models.train(
                    frame,
                    target=target or "",
                    time_column=time_column,
                    positive=positive,
                    context=contexts,
                    monotone=constraints,
                    exclude=excluded,
                    recency=recency,
                    seed=seed,
                    source=str(from_csv),
                    stage=stage,
                )
            else:
                path = deals or section.history_file
                frame = _read_history(path, hint=", or pass --deals FILE")
                model = models.train(
                    frame,
                    target=target or "won",
                    time_column=time_column or "closed_at",
                    features=FEATURES,
                    positive=positive,
                    context=contexts,
                    monotone=constraints,
                    exclude=excluded,
                    recency=recency,
                    seed=seed,
                    source=str(path),
                    stage=stage,
                )
            bar.update(task, description="trained", advance=1)
    except (ValueError, OSError, pl.exceptions.PolarsError) as exc:
        raise fail(str(exc)) from exc
    now = SystemClock().now()
    path = models.save(model, section.models_dir, trained_at=now)
    _gate(section, model, frame, target=target or "won",
          time_column=time_column if from_csv is not None else time_column or "closed_at",
          positive=positive, seed=seed, tolerance=tolerance, now=now)  # fmt: skip
    card = model.card
    table = Table(
        title=f"model {model.version}: {card['model']} chosen ({card['split']} split; "
        "metrics on the most recent period)"
    )
    for key in ("candidate", "auc [95% CI]", "ece", "log_loss", "top_decile_lift"):
        table.add_column(key)
    for c in [*card["candidates"], {"name": "naive", "test": card["naive"]}]:
        m = c["test"]
        ci = m.get("auc_ci")
        table.add_row(
            c["name"] + (" ✓" if c["name"] == card["model"] else ""),
            f"{m['auc']}" + (f" [{ci[0]}, {ci[1]}]" if ci else ""),
            str(m["ece"]),
            str(m["log_loss"]),
            str(m["top_decile_lift"]),
        )
    console.print(table)
    for name, reason in card["skipped_columns"].items():
        console.print(f"left out: {name} — {reason}")
    warning = card["shift"]["warning"]
    if warning:
        console.print(f"[bold yellow]⚠ {warning['en']}[/bold yellow]")
    refit = card.get("refit") or {}
    if refit.get("done"):
        console.print(
            f"{card['model']} refit on all {refit['rows']} rows, test period included "
            f"(calibration: {refit['calibration']}); the figures above are held-out"
        )
    console.print(f"saved in {path} (card.md, card.json)")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _monotone(text: str) -> dict[str, int]:
    """`calls=-1,age=+1` as {'calls': -1, 'age': 1}."""
    out: dict[str, int] = {}
    for item in _names(text):
        name, _, sign = item.rpartition("=")
        if not name or sign.strip() not in {"+1", "1", "-1"}:
            raise ValueError(f"--monotone {item!r}: write COLUMN=+1 or COLUMN=-1")
        out[name.strip()] = int(sign)
    return out


@leads_app.command("profile")
def leads_profile(
    from_csv: Annotated[
        Path | None,
        typer.Option("--from-csv", help="The history the model was trained on (CSV/Parquet)."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Outcome column of that history (default: the model's).")
    ] = None,
    lang: LangOption = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Describe the ideal customer learnt from the CRM history, with each trait's weight.

    Context columns declared at training (economy, campaign, date) are never traits.

    Example: vigie leads profile --lang fr
    """
    from vigie.ai import models
    from vigie.ai.profiles import ideal_customer_profile
    from vigie.ai.prospects import read_table

    section = ai_config(config, data)
    lang = _lang(lang)
    try:
        model = models.load(section.models_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    history = read_table(from_csv) if from_csv else _read_history(section.history_file)
    profile = ideal_customer_profile(model, history, target=target)
    context = model.card.get("context") or []
    if as_json:
        print(json.dumps(profile.to_dict(), ensure_ascii=False))
        return
    console.print(f"[bold]{profile.text(lang)}[/bold]")
    for trait in profile.to_dict()[lang]["traits"]:
        console.print(f"  {trait['weight']:6.1%}  {trait['phrase']}  ({trait['source']})")
    if context:
        console.print(f"context, not traits / contexte, pas des traits: {', '.join(context)}")


def _gate(
    section: AiConfig,
    model: object,
    frame: pl.DataFrame,
    *,
    target: str,
    time_column: str | None,
    positive: str | None,
    seed: int,
    tolerance: float,
    now: datetime,
) -> None:
    """Run the promotion gate on a just-saved model and say what it decided."""
    from vigie.ai import versions
    from vigie.ai.models import Model

    assert isinstance(model, Model)
    rows, y, label = versions.recent_holdout(
        frame, target=target, time_column=time_column, positive=positive, seed=seed
    )
    decision = versions.gate(
        section.models_dir, model, rows, y, at=now, tolerance=tolerance, holdout_label=label
    )
    verdict = "[green]active[/green]" if decision.promoted else "[yellow]not active[/yellow]"
    console.print(f"{decision.candidate} is {verdict}: {decision.reason} (on {label})")


def reps_for(section: AiConfig, history: pl.DataFrame, top: int) -> list[Rep]:
    """The configured reps, or the history's reps sharing `top` leads equally."""
    from vigie.ai.reps import default_reps

    if section.reps:
        return list(section.reps)
    names = sorted(history["rep"].unique().to_list()) if "rep" in history.columns else []
    if not names:
        raise fail("no reps: list them under ai.reps in vigie.yaml")
    return default_reps(names, capacity=math.ceil(top / len(names)))


@leads_app.command("score")
def leads_score(
    top: Annotated[int | None, typer.Option(help="Leads to keep (default ai.top_leads).")] = None,
    engine: Annotated[str, typer.Option(help="local or dask.")] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")
    ] = None,
    base: Annotated[Path | None, typer.Option(help="Prospect base directory.")] = None,
    all_scores: Annotated[
        bool,
        typer.Option("--all-scores", help="Also write every prospect's score (DATA/leads/scores)."),
    ] = False,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Score this CSV/Parquet file instead (the columns the model was trained on).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="With --input: where to write the scored rows (.csv or .parquet)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Log the run's drift check in this store's event log (for its rules)."
        ),
    ] = None,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Score every prospect, rank them, explain the best and assign them to the reps.

    With --input, score the rows of any file with the columns the model learnt from (one
    trained with --from-csv included): each row gets its probability, 0-100 score and
    strongest factors, written to --out (default FILE-scored.csv or .parquet) and kept for
    `vigie leads explain --row N`.

    Example: vigie leads score --top 10000 --engine dask --scheduler tcp://10.0.0.5:8786
    """
    if input is not None:
        _score_file(input, out, ai_config(config, data))
        return
    from vigie.ai import models
    from vigie.ai.leads import run_leads
    from vigie.ai.profiles import ideal_customer_profile
    from vigie.ai.prospects import partitions
    from vigie.ai.runs import write_run

    section = ai_config(config, data)
    top = top or section.top_leads
    base = base or section.base_dir
    try:
        model = models.load(section.models_dir)
        parts = partitions(base)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    history = _read_history(
        section.history_file, hint=", or score a file without reps with --input FILE"
    )
    reps = reps_for(section, history, top)
    import pyarrow.parquet as pq

    total = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    now = SystemClock().now()
    with progress_bar() as progress:
        task = progress.add_task(f"scoring ({engine})", total=total)
        leads, scored = run_leads(
            base=base,
            model=model,
            history=history,
            reps=reps,
            now=now,
            top_k=top,
            engine=engine,
            scheduler=scheduler,
            on_partition=lambda n: progress.advance(task, n),
            scores_dir=section.run_dir / "scores" if all_scores else None,
        )
    profile = ideal_customer_profile(model, history)
    write_run(
        section.run_dir,
        leads,
        scored,
        extra={"run_at": now.isoformat(), "model": model.version, "profile": profile.to_dict()},
    )
    console.print(
        f"{scored.rows:,} prospects, {scored.scored:,} scored, excluded {scored.excluded}; "
        f"{leads.height:,} leads, {leads['rep'].is_not_null().sum():,} assigned → {section.run_dir}"
    )
    _monitor(section, model, db, now, config)


def _monitor(
    section: AiConfig, model: object, db: str | None, now: datetime, config: Path | None
) -> None:
    """Compare the run with the model's live baseline; with --db, log the check as an event
    (the `lead-score-drift` rule alerts on it) in the log the server appends to."""
    from vigie.ai import monitoring
    from vigie.ai.models import Model
    from vigie.ai.runs import read_summary

    assert isinstance(model, Model)
    result = monitoring.check(model, read_summary(section.run_dir), at=now)
    monitoring.record(section.run_dir, result)
    shifted = f"; inputs shifted: {', '.join(result['shifted'])}" if result["shifted"] else ""
    console.print(f"score drift since {result['baseline_at']}: PSI {result['psi']} "
                  f"({result['level']}){shifted}")  # fmt: skip
    if db is None:
        return
    from vigie.system import command_log

    engine = migrated_engine(db)
    log = command_log(load_settings(db, config), engine)
    try:
        event = monitoring.drift_event(result, at=now)
        log.append([event], source=event.source, endpoint="cli:leads score", received_at=now)
    finally:
        log.close()
        engine.dispose()


def _score_file(path: Path, out: Path | None, section: AiConfig) -> None:
    """`leads score --input`: score every row of a file and keep the result."""
    from vigie.ai import models
    from vigie.ai.prospects import read_table
    from vigie.ai.runs import write_scored
    from vigie.ai.scoring import score_table

    try:
        model = models.load(section.models_dir)
        scored = score_table(read_table(path), model)
    except (FileNotFoundError, ValueError, pl.exceptions.PolarsError) as exc:
        raise fail(str(exc)) from exc
    suffix = ".parquet" if path.suffix.lower() in {".parquet", ".pq"} else ".csv"
    target = out or path.with_name(f"{path.stem}-scored{suffix}")
    if target.suffix.lower() in {".parquet", ".pq"}:
        scored.write_parquet(target)
    else:
        flat = scored.with_columns(
            factors=pl.col("factors")
            .list.eval(
                pl.element().struct.field("feature")
                + "="
                + pl.element().struct.field("value")
                + " ("
                + pl.element().struct.field("contribution").round(3).cast(pl.String)
                + ")"
            )
            .list.join("; ")
        )
        flat.write_csv(target)
    write_scored(section.run_dir, scored)
    kept = scored["score"].drop_nulls()
    mean = float(scored["probability"].cast(pl.Float64).to_numpy().mean())
    console.print(
        f"{scored.height:,} rows scored with model {model.version} "
        f"(mean probability {mean:.1%}, "
        f"{scored.height - kept.len():,} excluded) → {target}"
    )


def _print_factors(record: dict[str, object], lang: Lang) -> None:
    from vigie.ai.labels import factor_text

    for factor in record["factors"]:  # type: ignore[attr-defined]
        sign = "+" if factor["contribution"] >= 0 else "-"
        console.print(
            f"  {sign} {factor_text(factor['feature'], factor['value'], lang)} "
            f"({factor['contribution']:+.3f})"
        )


@leads_app.command("explain")
def leads_explain(
    company_id: Annotated[
        int | None, typer.Argument(help="A company id: a lead, or any prospect of the base.")
    ] = None,
    row: Annotated[
        int | None, typer.Option(help="Row N (from 1) of the last `leads score --input` file.")
    ] = None,
    lang: LangOption = "en",
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Why a row was scored as it was: its top factors, and for a lead the rep's reason.

    Works on a current lead, on any prospect of the base (scored on the spot) and on any
    row of the last file scored with --input.

    Example: vigie leads explain 100016399 --lang fr
    """
    from vigie.ai.runs import find_lead, find_scored_row, read_leads

    section = ai_config(config, data)
    lang = _lang(lang)
    if row is not None:
        try:
            record = find_scored_row(section.run_dir, row)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from exc
        if record is None:
            raise fail(f"--row {row}: the last scored file has no such row")
        excluded = f" (not scored: {record['excluded']})" if record.get("excluded") else ""
        console.print(
            f"[bold]row {row}[/bold] — score {record['score']}, probability "
            f"{record['probability']:.1%}{excluded}"
        )
        _print_factors(record, lang)
        return
    if company_id is None:
        raise fail("name a company id, or --row N of the last scored file")
    try:
        lead = find_lead(read_leads(section.run_dir), company_id)
    except FileNotFoundError:
        lead = None
    if lead is None:
        _explain_prospect(section, company_id, lang)
        return
    console.print(
        f"[bold]{lead['name']}[/bold] ({company_id}) — score {lead['score']}, rank {lead['rank']}"
    )
    _print_factors(lead, lang)
    console.print(lead["reason_fr" if lang == "fr" else "reason_en"])


def _explain_prospect(section: AiConfig, company_id: int, lang: Lang) -> None:
    """Score one prospect of the base on the spot and print its factors."""
    from vigie.ai import models
    from vigie.ai.prospects import partitions
    from vigie.ai.runs import lead_record
    from vigie.ai.scoring import score_table

    try:
        parts = partitions(section.base_dir)
        model = models.load(section.models_dir)
    except FileNotFoundError as exc:
        raise fail(f"company {company_id} is not among the current leads; {exc}") from exc
    found = pl.scan_parquet(parts).filter(pl.col("company_id") == company_id).collect()
    if not found.height:
        raise fail(
            f"company {company_id} is not among the current leads nor in the prospect base "
            f"({section.base_dir})"
        )
    try:
        record = lead_record(score_table(found, model).row(0, named=True))
    except ValueError as exc:
        raise fail(str(exc)) from exc
    excluded = f"; not contactable: {record['excluded']}" if record.get("excluded") else ""
    console.print(
        f"[bold]{record.get('name') or company_id}[/bold] ({company_id}) — score "
        f"{record['score']}, probability {record['probability']:.1%}; not among the current "
        f"leads{excluded}"
    )
    _print_factors(record, lang)


@leads_app.command("report")
def leads_report(
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Write the bias and governance report: selection by group, drift, exclusions, reasons.

    Example: vigie leads report --out report.html
    """
    from vigie.ai import models
    from vigie.ai.report import build_report
    from vigie.ai.runs import read_leads, read_summary

    section = ai_config(config, data)
    try:
        leads = read_leads(section.run_dir)
        summary = read_summary(section.run_dir)
        model = models.load(section.models_dir / summary["model"])
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    history = _read_history(section.history_file) if section.history_file.exists() else None
    out.write_text(
        build_report(summary=summary, leads=leads, model=model, history=history), encoding="utf-8"
    )
    console.print(f"report written to {out}")


@leads_app.command("today")
def leads_today(
    rep: Annotated[str | None, typer.Option(help="Only this rep.")] = None,
    lang: LangOption = "en",
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Propose today's leads to each rep, with the reason of each.

    Example: vigie leads today --rep "Alice Dubois" --lang fr
    """
    from vigie.ai.leads import todays_leads
    from vigie.ai.runs import read_leads

    section = ai_config(config, data)
    lang = _lang(lang)
    try:
        leads = read_leads(section.run_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    history = _read_history(section.history_file)
    reps = [r for r in reps_for(section, history, leads.height) if rep is None or r.name == rep]
    for name, items in todays_leads(leads, reps, now=SystemClock().now(), lang=lang).items():
        console.print(f"[bold]{name}[/bold]: {len(items)} lead(s)")
        for item in items[:10]:
            console.print(
                f"  {item['name']} ({item['company_id']}) due {item['due_at']}: {item['reason']}"
            )


@leads_app.command("affinity")
def leads_affinity(
    rep: Annotated[str | None, typer.Option(help="Only this rep.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    lang: LangOption = "en",
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Each rep's smoothed win rate per segment, with its 90% credible interval.

    Example: vigie leads affinity --rep "Alice Dubois"
    """
    from vigie.ai.affinity import estimate
    from vigie.ai.labels import value_name

    section = ai_config(config, data)
    lang = _lang(lang)
    table = estimate(_read_history(section.history_file)).table()
    if rep:
        table = table.filter(pl.col("rep") == rep)
    shown = table.sort("rate", descending=True).head(limit)
    out = Table(title="rep affinity (Beta-smoothed win rate, 90% interval)")
    for column in ("rep", "sector", "size", "region", "deals", "wins", "rate", "interval"):
        out.add_column(column)
    for row in shown.iter_rows(named=True):
        out.add_row(
            row["rep"], value_name("nace", row["nace"], lang), row["size_band"],
            value_name("region", row["region"], lang), str(row["deals"]),
            str(row["wins"]), f"{row['rate']:.1%}", f"{row['low']:.1%}-{row['high']:.1%}",
        )  # fmt: skip
    console.print(out)


@leads_app.command("publish")
def leads_publish(
    limit: Annotated[int, typer.Option(help="Publish at most this many, best first.")] = 1000,
    db: DbOption = None,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Hand the latest run's leads to the reps as CRM lead records.

    Each goes to the staff member named like its rep, due within their working hours
    (schedule: in vigie.yaml; someone off duty gets it at their next working time); a
    company proposed before is not proposed again. Reps see them on the Leads page.

    Example: vigie leads publish --limit 500
    """
    from vigie.ai.records import publish
    from vigie.ai.runs import read_leads, read_summary
    from vigie.system import command_log

    settings = load_settings(db, config)
    section = ai_config(config, data)
    try:
        leads = read_leads(section.run_dir).head(limit)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    engine = migrated_engine(db)
    log = command_log(settings, engine)
    try:
        counts = publish(
            engine=engine,
            log=log,
            leads=leads,
            schedule=settings.config.schedule,
            model=read_summary(section.run_dir).get("model"),
            actor=cli_actor(),
            now=SystemClock().now(),
            crm_config=settings.config.crm,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    finally:
        log.close()
        engine.dispose()
    console.print(
        f"{counts['published']} lead(s) published, {counts['already']} proposed before, "
        f"{counts['unassigned']} without a staff member for their rep"
    )


@leads_app.command("versions")
def leads_versions(config: AiConfigOption = None, data: DataOption = None) -> None:
    """List the model versions: when trained, test AUC, the gate's verdict, which is active.

    Example: vigie leads versions
    """
    from vigie.ai import versions

    section = ai_config(config, data)
    table = Table(title="model versions")
    for column in ("version", "trained at", "AUC", "active", "gate"):
        table.add_column(column)
    for item in versions.listing(section.models_dir):
        gate = item["gate"]["reason"] if item["gate"] else "-"
        table.add_row(item["version"], str(item["trained_at"]), str(item["auc"]),
                      "yes" if item["active"] else "", gate)  # fmt: skip
    console.print(table)


@leads_app.command("promote")
def leads_promote(
    version: Annotated[str, typer.Argument(help="The version to make active, e.g. v0004.")],
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Make a model version the active one by hand (past the gate), kept in the history.

    Example: vigie leads promote v0004
    """
    from vigie.ai import versions

    section = ai_config(config, data)
    try:
        versions.activate(section.models_dir, version, how="promote",
                          reason="promoted by hand", at=SystemClock().now())  # fmt: skip
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{version} is now the active model")


@leads_app.command("rollback")
def leads_rollback(config: AiConfigOption = None, data: DataOption = None) -> None:
    """Reactivate the model version that was active before the current one.

    Example: vigie leads rollback
    """
    from vigie.ai import versions

    section = ai_config(config, data)
    try:
        version = versions.rollback(section.models_dir, at=SystemClock().now())
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"rolled back: {version} is the active model again")


@leads_app.command("history")
def leads_history(
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: the AI's deal history).")
    ] = None,
    rejected: Annotated[
        bool, typer.Option(help="Count the leads reps rejected as lost opportunities.")
    ] = True,
    db: DbOption = None,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Build the training set from the CRM: decided deals and rejected leads, each with what
    was known at its decision (account, stage durations, calls, e-mails, chats, sentiment,
    tickets, payments) and nothing after.

    Example: vigie leads history --db postgresql://vigie@db/vigie
    """
    from vigie.ai.bridge import crm_training_set

    section = ai_config(config, data)
    target = out or section.history_file
    engine = migrated_engine(db)
    try:
        frame = crm_training_set(engine, include_rejected=rejected)
    finally:
        engine.dispose()
    if frame.height == 0:
        raise fail("the CRM has no decided deal yet (won or lost) to learn from")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target)
    won = float(frame["won"].cast(pl.Float64).to_numpy().mean())
    console.print(f"{frame.height:,} decisions ({won:.1%} won) from the CRM → {target}")


@leads_app.command("retrain")
def leads_retrain(
    tolerance: Annotated[
        float, typer.Option(help="AUC the new model may lose to the active one and still win.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    db: DbOption = None,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Retrain on the CRM's own history (with --db, rebuilt from the CRM first) and activate
    the new model only if the promotion gate lets it through. Meant to run on a schedule,
    e.g. a cron line `0 3 * * 1 vigie leads retrain --db URL` (Mondays at 03:00).

    Example: vigie leads retrain --db postgresql://vigie@db/vigie
    """
    from vigie.ai import models
    from vigie.ai.bridge import crm_training_set
    from vigie.ai.prospects import FEATURES

    section = ai_config(config, data)
    if db is not None:
        engine = migrated_engine(db)
        try:
            frame = crm_training_set(engine)
        finally:
            engine.dispose()
        if frame.height:
            section.history_file.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(section.history_file)
    frame = _read_history(section.history_file, hint=", or pass --db URL")
    # Only what a prospect also has: a deal's stage durations or calls would be missing for
    # every prospect scored, so the model must not lean on them.
    features = [name for name in FEATURES if name in frame.columns]
    now = SystemClock().now()
    try:
        model = models.train(frame, target="won", time_column="closed_at", features=features,
                             seed=seed, source=f"CRM history {section.history_file}")  # fmt: skip
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise fail(str(exc)) from exc
    models.save(model, section.models_dir, trained_at=now)
    _gate(section, model, frame, target="won", time_column="closed_at", positive=None,
          seed=seed, tolerance=tolerance, now=now)  # fmt: skip
