"""`vigie prospects …`: the prospect base, generated or imported (Parquet partitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from vigie.cli.options import AiConfigOption, DataOption, ai_config, console, fail, progress_bar
from vigie.clock import SystemClock

prospects_app = typer.Typer(
    help="The prospect base (Parquet partitions).\n\n"
    "Example: vigie prospects generate --rows 100000 --out vigie-data/ai/prospects",
    no_args_is_help=True,
)


@prospects_app.command("generate")
def prospects_generate(
    rows: Annotated[int, typer.Option(help="Prospects to generate.")] = 100_000,
    out: Annotated[
        Path | None, typer.Option(help="Base directory (default DATA/prospects).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    partition_rows: Annotated[int, typer.Option(help="Rows per Parquet partition.")] = 1_000_000,
    deals: Annotated[
        int, typer.Option(help="Closed deals of the synthetic CRM history (0: none).")
    ] = 6000,
    reps: Annotated[int, typer.Option(help="Salespeople in the synthetic history.")] = 12,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Generate a realistic synthetic prospect base (Belgium, France) and its CRM history.

    The history (won/lost deals of accounts of the base) goes to OUT/history/deals.parquet.

    Example: vigie prospects generate --rows 12000000 --out vigie-data/ai/prospects
    """
    from vigie.ai.history import history_for_base
    from vigie.ai.prospects import generate_base

    section = ai_config(config, data)
    out = out or section.base_dir
    with progress_bar() as progress:
        task = progress.add_task("generating", total=rows)
        paths = generate_base(
            out,
            rows=rows,
            seed=seed,
            rows_per_partition=partition_rows,
            on_partition=lambda n: progress.advance(task, n),
        )
    console.print(f"{rows:,} prospects in {len(paths)} partition(s) under {out}")
    if deals:
        history = history_for_base(
            first_partition_rows=min(rows, partition_rows),
            seed=seed,
            deals=deals,
            end=SystemClock().now().date(),
            reps=reps,
        )
        target = out / "history" / "deals.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        history.write_parquet(target)
        won = history["won"].cast(pl.Float64).sum() / max(history.height, 1)
        console.print(f"{history.height:,} closed deals ({won:.1%} won) in {target}")


@prospects_app.command("import")
def prospects_import(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of companies.")],
    map: Annotated[
        str | None, typer.Option("--map", help="Column mapping: source=vigie_column,…")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Base directory (default DATA/prospects).")
    ] = None,
    config: AiConfigOption = None,
    data: DataOption = None,
) -> None:
    """Load a real prospect file into the base, checking every row.

    Errors name the column and the row. Required columns: company_id, country, legal_basis.
    Every other column is kept as read (a model trained on a file with them may use them);
    the columns the current model learnt from and the file lacks are named.

    Example: vigie prospects import firms.csv --map vat=company_id,pays=country,base=legal_basis
    """
    from vigie.ai.prospects import ProspectImportError, import_prospects, parse_mapping

    section = ai_config(config, data)
    try:
        mapping = parse_mapping(map)
        rows, paths = import_prospects(file, out or section.base_dir, mapping=mapping)
    except (ProspectImportError, ValueError, OSError, pl.exceptions.PolarsError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{rows:,} prospects imported into {len(paths)} partition(s)")
    import pyarrow.parquet as pq

    from vigie.ai.prospects import SCHEMA

    columns = pq.read_schema(paths[0]).names if paths else []
    extra = [c for c in columns if c not in SCHEMA]
    if extra:
        console.print(f"kept {len(extra)} column(s) beyond the prospect schema: {', '.join(extra)}")
    _missing_for_model(section.models_dir, columns)


def _missing_for_model(models_dir: Path, columns: list[str]) -> None:
    """Name the current model's input columns the imported base lacks (a warning: those
    features read as missing for every prospect)."""
    from vigie.ai import models

    try:
        features = models.load(models_dir).encoder.names
    except FileNotFoundError:
        return
    missing = [name for name in features if name not in columns]
    if missing:
        console.print(
            f"[yellow]warning:[/yellow] the current model learnt from column(s) the base lacks: "
            f"{', '.join(missing)}; every prospect will read them as missing"
        )
