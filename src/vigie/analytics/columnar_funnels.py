"""A funnel recomputed from scratch over the whole log, with Polars.

The same counts as the live `FunnelTracker`, computed column-wise: the funnel's events are
grouped by visitor (in log order) and each event of a later step gets the best start of the
chains that reached the step before it, as the live tracker keeps them: the time of the
visitor's latest first-step event for the second step, the highest start carried by a valid
event of the previous step for the steps after. The chain holds when the event is within the
window of that start.
Used to rebuild or audit the live figures and by `vigie bench funnel`; steps with `where`
filters are live-only, and visitors are the events' ids as they come (identity merges are
live-only too).

The events are read from the log's columnar copy (`vigie.log.columnar`) and, past its last
segment, from the log itself, so the recomputation covers the whole log with no body decoded.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from vigie.analytics.funnels import Funnel
from vigie.log.columnar import ColumnarCopy, read_columns

COLUMNS = {"visitor": pl.String, "event": pl.String, "ts": pl.Int64, "seq": pl.Int64}
_READ = ["log_offset", "event", "anonymous_id", "user_id", "timestamp_us"]
_SEEDS = (0, 1, 2)
# Visitors are split in this many groups counted in parallel (the bench machine has 2 cores).
_PARTS = 2


def funnel_counts(frame: pl.DataFrame | pl.LazyFrame, funnel: Funnel) -> list[int]:
    """Visitors reaching each step of `funnel` in `frame` (visitor, event, ts µs, seq)."""
    names = _step_names(funnel)
    window = int(funnel.window.total_seconds() * 1_000_000)
    data = (
        frame.lazy()
        .filter(pl.col("event").is_in(names) & pl.col("visitor").is_not_null())
        .select(
            "visitor",
            pl.col("event").cast(pl.Enum(names)).to_physical().alias("step"),
            "ts",
            "seq",
        )
        .collect()
    )
    if not data.get_column("seq").is_sorted():
        data = data.sort("seq")
    # Visitors are grouped on a 64-bit hash of their id, sorted stably (log order is kept
    # within a visitor): sorting integers costs a fraction of sorting strings. A second,
    # independent hash rides along: two ids sharing the first would sit in one run of equal
    # hashes with different second hashes, which `_hash_collides` sees (another seed is then
    # tried). Ids clashing on both, 128 bits, are as unlikely as two equal random UUIDs.
    visitor = pl.col("visitor")
    for seed in _SEEDS:
        parts = _grouped(data, visitor.hash(seed), visitor.hash(seed + len(_SEEDS)))
        if not any(_hash_collides(part) for part in parts):
            break
    else:
        codes = visitor.cast(pl.Categorical).to_physical().cast(pl.UInt64)
        parts = _grouped(data, codes, codes)
    v, ts = pl.col("v"), pl.col("ts")
    # When every visitor's events are in time order, the starts carried by valid events
    # never decrease, so the latest one is the highest: a forward fill is enough.
    in_time_order = all(
        part.select(((v != v.shift(1)) | (ts >= ts.shift(1))).all()).item() for part in parts
    )
    counted = pl.collect_all(
        [_chain_counts(part.lazy(), len(names), window, in_time_order) for part in parts]
    )
    return [sum(int(c[0, k]) for c in counted) for k in range(len(names))]


def _grouped(data: pl.DataFrame, key: pl.Expr, check: pl.Expr) -> list[pl.DataFrame]:
    """The events split by visitor into `_PARTS` frames sorted by visitor, in parallel."""
    keyed = data.lazy().select(key.alias("v"), check.alias("check"), "step", "ts")
    return pl.collect_all(
        [
            keyed.filter(pl.col("v") % _PARTS == part).sort("v", maintain_order=True)
            for part in range(_PARTS)
        ]
    )


def _step_names(funnel: Funnel) -> list[str]:
    names = []
    for step in funnel.steps:
        if step.event is None or step.where:
            raise ValueError(
                f"funnel {funnel.name!r}: the from-scratch path handles event steps without "
                "`where` filters only"
            )
        names.append(step.event)
    if len(set(names)) != len(names):
        raise ValueError(f"funnel {funnel.name!r}: the from-scratch path needs distinct steps")
    return names


def _hash_collides(grouped: pl.DataFrame) -> bool:
    v, check = pl.col("v"), pl.col("check")
    clash = (v == v.shift(1)) & (check != check.shift(1))
    return bool(grouped.select(clash.any()).item())


def _chain_counts(
    grouped: pl.LazyFrame, steps: int, window: int, in_time_order: bool
) -> pl.LazyFrame:
    """Per-step counts over events sorted by visitor `v`, in log order within a visitor."""
    v, ts = pl.col("v"), pl.col("ts")
    lazy = grouped.with_columns(pl.when(pl.col("step") == 0).then(ts).alias("start_0"))
    for k in range(1, steps):
        previous = pl.col(f"start_{k - 1}")
        if k > 1 and not in_time_order:
            previous = previous.cum_max().over("v")
        # The latest non-null value above each row, kept only when it is this visitor's.
        owner = pl.when(previous.is_not_null()).then(v).forward_fill()
        carried = pl.when(owner == v).then(previous.forward_fill())
        lazy = lazy.with_columns(
            pl.when((pl.col("step") == k) & (ts - carried <= window))
            .then(carried)
            .alias(f"start_{k}")
        )
    return lazy.select(
        v.filter(pl.col(f"start_{k}").is_not_null()).n_unique().alias(str(k)) for k in range(steps)
    )


def load_columns(
    engine: sa.Engine, events: Sequence[str], *, copy: ColumnarCopy | None = None
) -> pl.DataFrame:
    """The log's track events named `events` (visitor, event, ts, seq), in log order.

    With a columnar `copy`, its segments are read with Polars and only the events past them
    come from the store; without, all of them do. No event body is read or decoded.
    """
    names = list(dict.fromkeys(events))
    chain = copy.segments() if copy is not None else []
    covered = chain[-1].last if chain else 0
    parts = []
    if chain and copy is not None and names:
        parts.append(
            copy.scan(chain)
            .filter((pl.col("type") == "track") & pl.col("event").is_in(names))
            .select(_READ)
        )
    tail = read_columns(engine, after=covered, columns=_READ, type="track", events=names)
    parts.append(tail.lazy())
    return (
        pl.concat(parts)
        .select(
            pl.coalesce("anonymous_id", "user_id").alias("visitor"),
            "event",
            pl.col("timestamp_us").alias("ts"),
            pl.col("log_offset").alias("seq"),
        )
        .collect()
    )
