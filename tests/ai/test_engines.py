"""The Dask engine gives the same result as the local one."""

from __future__ import annotations

import pytest

from vigie.ai import models
from vigie.ai.leads import customer_ids
from vigie.ai.prospects import partitions
from vigie.ai.scoring import score_base

from .conftest import World


def test_dask_cluster_matches_local(world: World) -> None:
    """Scoring on a dask.distributed LocalCluster returns the local engine's top and counts."""
    distributed = pytest.importorskip("distributed")
    model = models.load(world.models_dir)
    customers = customer_ids(world.history)
    local = score_base(partitions(world.base), model, customers=customers, top_k=200)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = score_base(
            partitions(world.base),
            model,
            customers=customers,
            top_k=200,
            engine="dask",
            scheduler=cluster.scheduler_address,
        )
    assert remote.top["company_id"].to_list() == local.top["company_id"].to_list()
    assert remote.top["probability"].to_list() == local.top["probability"].to_list()
    assert remote.excluded == local.excluded
    assert remote.groups == local.groups
    assert remote.drift == local.drift
