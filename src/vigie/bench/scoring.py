"""`vigie bench scoring`: generate a prospect base, score it all, rank, explain, assign.

Timed end to end: generating `rows` prospects into Parquet partitions, scoring every one
(exclusions, calibrated probability, group aggregates), ranking, explaining the best `top`
(each feature's log-odds contribution) and assigning them to `reps` reps (min-cost flow).
The model is trained beforehand on a synthetic deal history (not timed, reported apart).

The baseline is the same scoring job written plainly: pandas reads every partition into one
frame, scikit-learn's HistGradientBoostingClassifier (trained on the same history) predicts
every row, pandas filters the excluded and sorts; no explanation nor assignment. The ratio
compares it with Vigie's read-score-rank-explain-assign time on the same files.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vigie.ai import models
from vigie.ai.history import REP_NAMES, history_for_base
from vigie.ai.leads import run_leads
from vigie.ai.prospects import FEATURES, generate_base
from vigie.ai.reps import default_reps

PARTITION_ROWS = 1_000_000
DEALS = 8000
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def plain_baseline(
    paths: list[Path], history: pl.DataFrame, *, top: int, customers: np.ndarray
) -> tuple[float, float]:
    """Wall and CPU seconds of the plain pandas + scikit-learn job: read, predict, sort."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = history.to_pandas()
    categorical = [
        c for c in FEATURES if train[c].dtype == object or str(train[c].dtype) == "category"
    ]
    vocab = {c: pd.Index(sorted(train[c].astype(str).unique())) for c in categorical}

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[FEATURES].copy()
        for c in categorical:
            out[c] = vocab[c].get_indexer(out[c].astype(str)).astype("float64")
            out.loc[out[c] < 0, c] = np.nan
        return out.astype("float64")

    clf = HistGradientBoostingClassifier(
        categorical_features=[FEATURES.index(c) for c in categorical], random_state=0
    ).fit(encode(train), train["won"].astype(int))
    started = time.perf_counter()
    cpu_started = time.process_time()
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    eligible = frame["legal_basis"].astype(str).isin(["legitimate_interest", "consent"])
    eligible &= ~frame["company_id"].isin(customers)
    eligible &= frame["email_ok"] | frame["phone_ok"]
    frame = frame[eligible]
    frame = frame.assign(probability=clf.predict_proba(encode(frame))[:, 1])
    frame.sort_values("probability", ascending=False).head(top)
    return time.perf_counter() - started, time.process_time() - cpu_started


def run_scoring_bench(
    *, rows: int, top: int, reps: int, baseline: bool = True, console: Console
) -> dict[str, Any]:
    """Run the benchmark and return its figures (also printed)."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-scoring-") as tmp:
        base = Path(tmp) / "prospects"
        history = history_for_base(
            first_partition_rows=min(rows, PARTITION_ROWS),
            seed=7,
            deals=DEALS,
            end=date(2026, 11, 1),
            reps=reps,
        )
        trained = time.perf_counter()
        model = models.train(history, target="won", time_column="closed_at", features=FEATURES)
        model_dir = models.save(model, Path(tmp) / "models", trained_at=NOW)
        model = models.load(model_dir)
        train_seconds = time.perf_counter() - trained
        team = default_reps(REP_NAMES[:reps], capacity=-(-top // reps))
        progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        started = time.perf_counter()
        cpu_started = time.process_time()
        with progress:
            generating = progress.add_task("generate", total=rows)
            scoring = progress.add_task("score", total=rows)
            steps = progress.add_task("explain+assign", total=3)

            paths = generate_base(
                base,
                rows=rows,
                seed=7,
                rows_per_partition=PARTITION_ROWS,
                on_partition=lambda n: progress.advance(generating, n),
            )
            generated = time.perf_counter()
            leads, scored = run_leads(
                base=base,
                model=model,
                history=history,
                reps=team,
                now=NOW,
                top_k=top,
                on_partition=lambda n: progress.advance(scoring, n),
                on_step=lambda _name: progress.advance(steps, 1),
            )
            progress.advance(steps, 1)
        finished = time.perf_counter()
        cpu = time.process_time() - cpu_started
        peak = _peak_rss_mib()
        figures: dict[str, Any] = {
            "rows": rows,
            "top": top,
            "reps": reps,
            "seconds": round(finished - started, 2),
            "generate_seconds": round(generated - started, 2),
            "score_explain_assign_seconds": round(finished - generated, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mib": round(peak),
            "train_seconds": round(train_seconds, 2),
            "model": f"{model.kind} ({model.card['size']})",
            "test_auc": model.card["metrics"]["auc"],
            "scored": scored.scored,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "assigned": int(leads["rep"].is_not_null().sum()),
        }
        if baseline and importlib.util.find_spec("pandas") is None:
            console.print(
                "baseline skipped: pandas is not installed (pip install 'vigie[baseline]')"
            )
        elif baseline:
            console.print(
                "baseline: pandas read + scikit-learn HistGradientBoosting predict + sort"
            )
            customers = np.unique(history.filter(pl.col("won"))["company_id"].to_numpy())
            base_seconds, base_cpu = plain_baseline(paths, history, top=top, customers=customers)
            figures["baseline_seconds"] = round(base_seconds, 2)
            figures["baseline_cpu_seconds"] = round(base_cpu, 2)
            figures["baseline_ratio"] = round(base_seconds / (finished - generated), 2)
            figures["baseline_peak_rss_mib"] = round(_peak_rss_mib())
    console.print(figures)
    return figures
