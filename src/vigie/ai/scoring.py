"""Scoring the prospect base: one pure function per Parquet partition, merged afterwards.

`score_frame` gives every prospect of a partition a calibrated probability and a 0-100
score, excludes those that may not or need not be contacted (the reason is counted), and
keeps the partition's best candidates with the aggregates the bias report needs.
`score_base` runs it over every partition, here or on a Dask cluster, with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from vigie.ai.models import Model, histogram, load

CONTACTABLE_BASES = ["legitimate_interest", "consent"]
EXCLUSIONS = ("no_legal_basis", "existing_customer", "not_contactable")
GROUPS = ("nace", "region", "size_band", "country")
SCORE_BINS = 20
DRIFT_STRIDE = 10
LOCAL_WORKERS = 2


@dataclass
class Scored:
    """What scoring a partition (or, merged, the whole base) leaves behind."""

    rows: int = 0
    scored: int = 0
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUSIONS, 0))
    top: pl.DataFrame = field(default_factory=pl.DataFrame)
    groups: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    drift: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The aggregates (everything but the top rows), for the run's summary."""
        return {
            "rows": self.rows,
            "scored": self.scored,
            "excluded": self.excluded,
            "groups": self.groups,
            "drift": self.drift,
        }


def exclusion_reasons(frame: pl.DataFrame, customers: np.ndarray) -> np.ndarray:
    """Per row, the index into `EXCLUSIONS` of why it may not be scored, or -1."""
    basis = frame["legal_basis"]
    if isinstance(basis.dtype, pl.Enum):
        allowed = np.isin(basis.dtype.categories.to_numpy(), CONTACTABLE_BASES)
        codes = basis.to_physical().fill_null(len(allowed)).to_numpy()
        no_basis = ~np.append(allowed, False)[codes]
    else:
        no_basis = (~basis.cast(pl.String).is_in(CONTACTABLE_BASES)).fill_null(True).to_numpy()
    ids = frame["company_id"]
    customer = (
        ids.is_in(pl.Series(customers).cast(ids.dtype).implode()).to_numpy()
        if len(customers)
        else np.zeros(frame.height, dtype=bool)
    )
    contact = np.zeros(frame.height, dtype=bool)
    for column in ("email_ok", "phone_ok"):
        if column in frame.columns:
            contact |= frame[column].fill_null(False).to_numpy()
    reason = np.full(frame.height, -1, dtype=np.int8)
    reason[~contact] = 2
    reason[customer] = 1
    reason[no_basis] = 0
    return reason


def score_frame(
    frame: pl.DataFrame,
    model: Model,
    *,
    customers: np.ndarray,
    top_k: int,
    scores_to: Path | None = None,
) -> Scored:
    """Score one partition; keep its `top_k` best eligible prospects and its aggregates.

    With `scores_to`, every prospect's score (or exclusion reason) is also written there
    as Parquet: `company_id`, `score` (0-100, null when excluded), `excluded`.
    """
    reason = exclusion_reasons(frame, customers)
    eligible = reason < 0
    eligible_rows = frame.filter(pl.Series(eligible))
    x = model.encoder.matrix(eligible_rows)
    raw = model.raw(x)
    probability = model.calibration(raw)
    score = np.rint(probability * 100).astype(np.int16)
    result = Scored(rows=frame.height, scored=int(eligible.sum()))
    counts = np.bincount(reason[~eligible].astype(np.int64), minlength=len(EXCLUSIONS))
    result.excluded = {name: int(c) for name, c in zip(EXCLUSIONS, counts, strict=True)}
    if scores_to is not None:
        _write_scores(scores_to, frame["company_id"], reason, eligible, score)
    kept = eligible_rows.with_columns(
        raw=pl.Series(raw), probability=pl.Series(probability), score=pl.Series(score)
    )
    if len(raw) > top_k:
        threshold = np.partition(raw, len(raw) - top_k)[len(raw) - top_k]
        candidates = kept.filter(pl.col("raw") >= threshold)
    else:
        candidates = kept
    result.top = candidates.sort(["raw", "company_id"], descending=[True, False]).head(top_k)
    bins = np.minimum(score // (100 // SCORE_BINS), SCORE_BINS - 1)
    for column in GROUPS:
        if column not in kept.columns:
            continue
        table = (
            pl.DataFrame({"g": kept[column].cast(pl.String), "b": bins}).group_by("g", "b").len()
        )
        hist: dict[str, list[int]] = {}
        for g, b, n in table.iter_rows():
            hist.setdefault(str(g), [0] * SCORE_BINS)[int(b)] += int(n)
        result.groups[column] = hist
    sample = x[::DRIFT_STRIDE]
    for j, feature in enumerate(model.encoder.features):
        ref = model.reference[feature.name]
        values = sample[:, j]
        if feature.kind == "categorical":
            codes = np.nan_to_num(values, nan=len(feature.categories)).astype(np.int64)
            result.drift[feature.name] = np.bincount(
                codes, minlength=len(feature.categories) + 1
            ).tolist()
        else:
            result.drift[feature.name] = histogram(values, ref["edges"]).tolist()
    return result


def _write_scores(
    path: Path, ids: pl.Series, reason: np.ndarray, eligible: np.ndarray, score: np.ndarray
) -> None:
    full = np.zeros(len(reason), dtype=np.int16)
    full[eligible] = score
    why = pl.Series(np.maximum(reason, 0).astype(np.uint32)).cat.to(pl.Enum(list(EXCLUSIONS)))
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "company_id": ids,
            "score": pl.Series(full).set(pl.Series(~eligible), None),
            "excluded": why.set(pl.Series(eligible), None),
        }
    ).write_parquet(path)


def merge(parts: Sequence[Scored], *, top_k: int) -> Scored:
    """Combine partition results: sums of the aggregates and the global best `top_k`."""
    merged = Scored()
    tops = []
    for part in parts:
        merged.rows += part.rows
        merged.scored += part.scored
        for name, n in part.excluded.items():
            merged.excluded[name] = merged.excluded.get(name, 0) + n
        for column, hist in part.groups.items():
            into = merged.groups.setdefault(column, {})
            for value, counts in hist.items():
                current = into.setdefault(value, [0] * len(counts))
                into[value] = [a + b for a, b in zip(current, counts, strict=True)]
        for name, counts in part.drift.items():
            current = merged.drift.get(name, [0] * len(counts))
            merged.drift[name] = [a + b for a, b in zip(current, counts, strict=True)]
        if part.top.height:
            tops.append(part.top)
    if tops:
        merged.top = (
            pl.concat(tops, how="diagonal_relaxed")
            .sort(["raw", "company_id"], descending=[True, False])
            .head(top_k)
        )
    return merged


@lru_cache(maxsize=4)
def _cached_model(path: str) -> Model:
    return load(Path(path))


def score_partition(
    path: str, *, model_path: str, customers: np.ndarray, top_k: int, scores_dir: str | None
) -> Scored:
    """Read one Parquet partition and score it (the unit of work of every engine)."""
    return score_frame(
        pl.read_parquet(path),
        _cached_model(model_path),
        customers=customers,
        top_k=top_k,
        scores_to=Path(scores_dir) / Path(path).name if scores_dir else None,
    )


def score_base(
    paths: Sequence[Path],
    model: Model,
    *,
    customers: np.ndarray,
    top_k: int,
    engine: str = "local",
    scheduler: str | None = None,
    on_partition: Callable[[int], None] | None = None,
    scores_dir: Path | None = None,
) -> Scored:
    """Score every partition with `engine` ('local' or 'dask'), then merge.

    With `scores_dir`, each partition's scores are written there under the partition's name.
    """
    if engine == "local":

        def score_one(path: Path) -> Scored:
            target = scores_dir / path.name if scores_dir else None
            part = score_frame(
                pl.read_parquet(path), model, customers=customers, top_k=top_k, scores_to=target
            )
            if on_partition:
                on_partition(part.rows)
            return part

        # Two partitions at a time (Polars, NumPy and LightGBM release the GIL), merged in
        # partition order so the result is the same as one after another.
        with ThreadPoolExecutor(max_workers=LOCAL_WORKERS) as pool:
            return merge(list(pool.map(score_one, paths)), top_k=top_k)
    if engine != "dask":
        raise ValueError(f"--engine {engine!r}: use 'local' or 'dask'")
    if model.path is None:
        raise ValueError("the dask engine needs a saved model (its directory is sent)")
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("--engine dask needs `pip install 'vigie[dask]'`") from exc
    client = Client(scheduler) if scheduler else Client(processes=False)  # type: ignore[no-untyped-call]
    try:
        futures = [
            client.submit(
                score_partition,
                str(path),
                model_path=str(model.path),
                customers=customers,
                top_k=top_k,
                scores_dir=str(scores_dir) if scores_dir else None,
                pure=False,
            )
            for path in paths
        ]
        order = {f.key: i for i, f in enumerate(futures)}
        results: list[Scored | None] = [None] * len(futures)
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            part: Scored = future.result()
            results[order[future.key]] = part
            if on_partition:
                on_partition(part.rows)
        return merge([r for r in results if r is not None], top_k=top_k)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def factors(model: Model, frame: pl.DataFrame, *, n: int = 4) -> pl.Series:
    """Each row's `n` strongest reasons, strongest first, as a list of
    {feature, value, contribution} (LightGBM pred_contrib, in log-odds)."""
    dtype = pl.List(
        pl.Struct({"feature": pl.String, "value": pl.String, "contribution": pl.Float64})
    )
    if frame.height == 0:
        return pl.Series("factors", [], dtype=dtype)
    x = model.encoder.matrix(frame)
    contrib = model.contributions(x)[:, :-1]
    order = np.argsort(-np.abs(contrib), axis=1)[:, :n]
    rows = np.arange(frame.height)[:, None]
    labels = np.empty(x.shape, dtype=object)
    for j, feature in enumerate(model.encoder.features):
        column = pl.Series(x[:, j])
        if feature.kind == "categorical":
            categories = pl.Series([*feature.categories, "?"])
            text = categories.gather(column.fill_nan(len(feature.categories)).cast(pl.Int64))
        else:
            text = column.round(2).cast(pl.String).str.replace(r"\.0$", "").fill_null("?")
            text = text.replace("NaN", "?")
        labels[:, j] = text.to_numpy()
    names = np.array(model.encoder.names, dtype=object)
    long = pl.DataFrame(
        {
            "row": np.repeat(np.arange(frame.height), order.shape[1]),
            "feature": names[order].ravel(),
            "value": labels[rows, order].ravel(),
            "contribution": np.round(contrib[rows, order], 4).ravel(),
        },
        schema_overrides={"feature": pl.String, "value": pl.String},
    )
    grouped = long.group_by("row", maintain_order=True).agg(
        pl.struct("feature", "value", "contribution").alias("factors")
    )
    return grouped["factors"].cast(dtype)


def missing_features(model: Model, columns: Sequence[str]) -> list[str]:
    """The model's input columns absent from `columns` (each would read as missing for every
    row, so every row would lean on the same guess)."""
    present = set(columns)
    return [name for name in model.encoder.names if name not in present]


def score_table(frame: pl.DataFrame, model: Model, *, n_factors: int = 4) -> pl.DataFrame:
    """Every row of `frame` with `row` (its number, from 1), `probability`, `score` (0-100)
    and its strongest `factors`: any table with the columns the model was trained on.

    Raise ValueError naming the model's columns the table lacks. Rows whose `legal_basis`
    (when the table has one) allows no contact are kept, unscored, with the reason.
    """
    missing = missing_features(model, frame.columns)
    if missing:
        raise ValueError(
            f"the file lacks column(s) the model {model.version} was trained on: "
            f"{', '.join(missing)}; add them (empty values are allowed) or train on this file"
        )
    probability = model.predict(model.encoder.matrix(frame))
    out = frame.with_columns(
        row=pl.int_range(1, frame.height + 1, dtype=pl.Int64),
        probability=pl.Series(np.round(probability, 6)),
        score=pl.Series(np.rint(probability * 100).astype(np.int16)),
        factors=factors(model, frame, n=n_factors),
    )
    if "legal_basis" in frame.columns:
        blocked = ~frame["legal_basis"].cast(pl.String).is_in(CONTACTABLE_BASES).fill_null(False)
        out = out.with_columns(
            excluded=pl.when(pl.Series(blocked)).then(pl.lit("no_legal_basis")).otherwise(None),
            score=pl.when(pl.Series(blocked)).then(None).otherwise(pl.col("score")),
        )
    return out
