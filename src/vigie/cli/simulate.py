"""`vigie simulate`: write a simulated scenario (web traffic, CRM, deal history) to a file."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from vigie.cli.options import err
from vigie.clock import SystemClock


def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario: lunch, crm or deals.")] = "lunch",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    visitors: Annotated[int, typer.Option(help="Visitors to simulate.")] = 2000,
    day: Annotated[str | None, typer.Option(help="Day of the scenario, YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    accounts: Annotated[int, typer.Option(help="Companies in the crm scenario.")] = 40,
    deals: Annotated[int, typer.Option(help="Closed deals (scenario deals).")] = 5000,
) -> None:
    """Write a simulated scenario: `lunch` (a lunch-time campaign) or `crm` (Belgian and French
    companies, pipeline, tickets, invoices) as Segment messages, one JSON object per line;
    `deals` as a CRM deal history with outcomes (CSV, or Parquet when --out ends in .parquet).

    Example: vigie simulate crm --accounts 60 --seed 3 --out crm.jsonl
    """
    from collections.abc import Iterator
    from typing import Any

    from vigie.simulate import CrmScenario, LunchCampaign

    if scenario == "deals":
        simulate_deals(out, deals=deals, seed=seed, day=date.fromisoformat(day) if day else None)
        return
    the_day = date.fromisoformat(day) if day else date.today()
    stream: Iterator[dict[str, Any]]
    if scenario == "lunch":
        stream = LunchCampaign(day=the_day, visitors=visitors, seed=seed).messages()
    elif scenario == "crm":
        stream = CrmScenario(day=the_day, accounts=accounts, seed=seed).messages()
    else:
        err.print(f"[red]unknown scenario {scenario!r}[/red]; available: lunch, crm, deals")
        raise typer.Exit(2)
    handle = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for message in stream:
            handle.write(json.dumps(message, ensure_ascii=False) + "\n")
    finally:
        if out:
            handle.close()


def simulate_deals(out: Path | None, *, deals: int, seed: int, day: date | None) -> None:
    """`vigie simulate deals`: a synthetic CRM deal history as CSV (stdout) or Parquet/CSV."""
    from vigie.ai.history import history_for_base

    history = history_for_base(
        first_partition_rows=max(deals * 4, 10_000),
        seed=seed,
        deals=deals,
        end=day or SystemClock().now().date(),
    )
    if out is None:
        print(history.write_csv(), end="")
    elif out.suffix == ".parquet":
        history.write_parquet(out)
    else:
        history.write_csv(out)
