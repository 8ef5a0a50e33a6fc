"""Scoring partitions: exclusions with reasons, ranking, merging, factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from vigie.ai.leads import customer_ids
from vigie.ai.prospects import partitions
from vigie.ai.scoring import EXCLUSIONS, factors, merge, score_base, score_frame

from .conftest import World


def test_excluded_prospects_are_counted_by_reason_and_never_scored(world: World) -> None:
    """No legal basis, existing customers and the unreachable are left out, each counted."""
    frame = pl.read_parquet(partitions(world.base)[0])
    customers = customer_ids(world.history)
    result = score_frame(frame, world.model, customers=customers, top_k=frame.height)
    assert result.rows == frame.height
    assert result.scored + sum(result.excluded.values()) == frame.height
    assert set(result.excluded) == set(EXCLUSIONS)
    no_basis = frame.filter(pl.col("legal_basis").cast(pl.String) == "none").height
    assert result.excluded["no_legal_basis"] == no_basis
    assert result.excluded["existing_customer"] > 0
    top = result.top
    assert top.filter(pl.col("legal_basis").cast(pl.String) == "none").height == 0
    assert not np.isin(top["company_id"].to_numpy(), customers).any()
    assert (top["email_ok"] | top["phone_ok"]).all()


def test_scores_are_0_to_100_and_ranked(world: World) -> None:
    """Scores lie in 0-100, follow the calibrated probability, and the top is sorted."""
    frame = pl.read_parquet(partitions(world.base)[1])
    result = score_frame(frame, world.model, customers=np.array([], dtype=np.int64), top_k=50)
    top = result.top
    assert top.height == 50
    assert top["score"].min() >= 0 and top["score"].max() <= 100
    assert (top["score"] == (top["probability"] * 100).round().cast(pl.Int16)).all()
    assert top["raw"].is_sorted(descending=True)


def test_merging_partitions_equals_scoring_the_whole(world: World) -> None:
    """Partition results merged give the same top and counts as one big frame."""
    paths = partitions(world.base)
    customers = customer_ids(world.history)
    parts = [
        score_frame(pl.read_parquet(p), world.model, customers=customers, top_k=100) for p in paths
    ]
    merged = merge(parts, top_k=100)
    whole = score_frame(pl.read_parquet(paths), world.model, customers=customers, top_k=100)
    assert merged.top["company_id"].to_list() == whole.top["company_id"].to_list()
    assert merged.excluded == whole.excluded
    assert merged.groups == whole.groups
    assert merged.rows == whole.rows


def test_local_engine_over_the_base(world: World) -> None:
    """score_base reports every partition's rows through its callback."""
    seen: list[int] = []
    result = score_base(
        partitions(world.base),
        world.model,
        customers=customer_ids(world.history),
        top_k=20,
        on_partition=seen.append,
    )
    assert sum(seen) == result.rows == 9000
    assert result.top.height == 20


def test_factors_are_the_strongest_contributions(world: World) -> None:
    """Each lead's factors are its largest pred_contrib values, strongest first, with values."""
    frame = pl.read_parquet(partitions(world.base)[0]).head(30)
    explained = factors(world.model, frame, n=3)
    assert explained.len() == 30
    contrib = world.model.contributions(world.model.encoder.matrix(frame))[:, :-1]
    for i, row in enumerate(explained.to_list()):
        sizes = [abs(f["contribution"]) for f in row]
        assert sizes == sorted(sizes, reverse=True)
        assert np.isclose(sizes[0], np.abs(contrib[i]).max(), atol=1e-4)
        assert all(f["value"] for f in row)


def test_every_prospect_score_can_be_kept(world: World, tmp_path: Path) -> None:
    """With a scores directory, each partition writes every prospect's score or exclusion."""
    paths = partitions(world.base)
    result = score_base(
        paths, world.model, customers=customer_ids(world.history), top_k=10, scores_dir=tmp_path
    )
    written = pl.read_parquet(sorted(tmp_path.glob("part-*.parquet")))
    assert written.height == result.rows
    assert written["score"].null_count() == sum(result.excluded.values())
    assert (written["score"].is_null() == written["excluded"].is_not_null()).all()
    reasons = written["excluded"].drop_nulls().cast(pl.String).value_counts()
    assert dict(reasons.iter_rows()) == {k: v for k, v in result.excluded.items() if v}
    best = written.sort("score", descending=True, nulls_last=True).head(1)["score"][0]
    assert best == result.top["score"][0]
