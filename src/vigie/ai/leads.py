"""A lead run: score the base, rank it, explain the best, assign them; today's proposals.

Runs are kept on disk by `vigie.ai.runs`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from vigie.ai import affinity as affinity_mod
from vigie.ai.assignment import assign
from vigie.ai.config import AiConfig
from vigie.ai.models import Model
from vigie.ai.prospects import partitions
from vigie.ai.reps import Rep
from vigie.ai.scoring import Scored, factors, score_base


def customer_ids(history: pl.DataFrame | None, *, won: str = "won") -> np.ndarray:
    """Company ids of existing customers: accounts with a won deal."""
    if history is None or "company_id" not in history.columns or won not in history.columns:
        return np.array([], dtype=np.int64)
    return np.unique(
        history.filter(pl.col(won).cast(pl.Boolean))["company_id"].cast(pl.Int64).to_numpy()
    )


def run_leads(
    *,
    base: Path,
    model: Model,
    history: pl.DataFrame,
    reps: list[Rep],
    now: datetime,
    top_k: int,
    engine: str = "local",
    scheduler: str | None = None,
    on_partition: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    scores_dir: Path | None = None,
) -> tuple[pl.DataFrame, Scored]:
    """Score every prospect, keep the `top_k` best, explain them and assign them to `reps`."""
    step = on_step or (lambda _name: None)
    scored = score_base(
        partitions(base),
        model,
        customers=customer_ids(history),
        top_k=top_k,
        engine=engine,
        scheduler=scheduler,
        on_partition=on_partition,
        scores_dir=scores_dir,
    )
    step("explain")
    top = scored.top.with_row_index("rank", offset=1)
    top = top.with_columns(factors(model, top))
    step("assign")
    fitted = affinity_mod.estimate(history)
    leads = assign(top, reps, fitted, now=now, bounds=calibrated_range(model))
    return leads, scored


def calibrated_range(model: Model) -> tuple[float, float]:
    """The lowest and highest probability the model's calibration gives (all of [0, 1]
    when it has none): the range an expected conversion shown to a rep stays in."""
    y = getattr(getattr(model, "calibration", None), "y", None)
    if y is None or len(y) == 0:
        return 0.0, 1.0
    values = np.asarray(y, dtype=np.float64)
    return float(values.min()), float(values.max())


def todays_leads(
    leads: pl.DataFrame, reps: list[Rep], *, now: datetime, lang: str = "en"
) -> dict[str, list[dict[str, Any]]]:
    """Each rep's leads for today, best expected conversion first, with the reason.

    A rep gets at most their capacity; a lead is due when the run scheduled it, or not
    before the rep's next working time.
    """
    proposals: dict[str, list[dict[str, Any]]] = {}
    reason = "reason_fr" if lang == "fr" else "reason_en"
    for rep in reps:
        mine = (
            leads.filter(pl.col("rep") == rep.name)
            .sort("expected", descending=True)
            .head(rep.capacity)
        )
        earliest = rep.next_working_time(now)
        proposals[rep.name] = [
            {
                "company_id": row["company_id"],
                "name": row["name"],
                "score": row["score"],
                "expected": round(float(row["expected"]), 4),
                "due_at": max(row.get("due_at") or earliest, earliest).isoformat(),
                "reason": row[reason],
            }
            for row in mine.iter_rows(named=True)
        ]
    return proposals


def propose_today(
    section: AiConfig, *, now: datetime, rows: int = 50_000, seed: int = 7, lang: str = "en"
) -> dict[str, list[dict[str, Any]]]:
    """Today's leads for each rep, preparing what is missing first (for `vigie demo`).

    Without a prospect base, a synthetic one of `rows` prospects and its deal history are
    generated; without a model, one is trained; without a lead run, the base is scored.
    What already exists is reused, so a real installation is never overwritten.
    """
    from vigie.ai import models
    from vigie.ai.history import history_for_base
    from vigie.ai.profiles import ideal_customer_profile
    from vigie.ai.prospects import FEATURES, PARTITION_GLOB, generate_base
    from vigie.ai.runs import read_leads, write_run

    if not any(section.base_dir.glob(PARTITION_GLOB)):
        generate_base(section.base_dir, rows=rows, seed=seed)
        history = history_for_base(
            first_partition_rows=rows, seed=seed, deals=min(6000, rows // 4), end=now.date()
        )
        section.history_file.parent.mkdir(parents=True, exist_ok=True)
        history.write_parquet(section.history_file)
    history = pl.read_parquet(section.history_file)
    try:
        model = models.load(section.models_dir)
    except FileNotFoundError:
        trained = models.train(
            history, target="won", time_column="closed_at", features=FEATURES, seed=seed
        )
        model = models.load(models.save(trained, section.models_dir, trained_at=now))
    names = sorted(history["rep"].unique().to_list())
    reps = list(section.reps) or [
        Rep(name=n, capacity=section.top_leads // len(names)) for n in names
    ]
    try:
        leads = read_leads(section.run_dir)
    except FileNotFoundError:
        leads, scored = run_leads(
            base=section.base_dir,
            model=model,
            history=history,
            reps=reps,
            now=now,
            top_k=section.top_leads,
        )
        profile = ideal_customer_profile(model, history)
        write_run(
            section.run_dir,
            leads,
            scored,
            extra={"run_at": now.isoformat(), "model": model.version, "profile": profile.to_dict()},
        )
    return todays_leads(leads, reps, now=now, lang=lang)
