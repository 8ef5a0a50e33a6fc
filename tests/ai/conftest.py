"""Small synthetic data for the AI tests: a base of a few thousand prospects, its deal
history and a model trained on it (built once per session: training takes a second)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from vigie.ai import models
from vigie.ai.history import history_for_base
from vigie.ai.prospects import FEATURES, generate_base

ROWS = 9000
PARTITION_ROWS = 3000


@dataclass
class World:
    """A generated base on disk, its history and a saved model."""

    base: Path
    history: pl.DataFrame
    model: models.Model
    models_dir: Path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 6,000-prospect base in three partitions, 3,000 deals, a trained model."""
    root = tmp_path_factory.mktemp("ai")
    base = root / "prospects"
    generate_base(base, rows=ROWS, seed=3, rows_per_partition=PARTITION_ROWS)
    history = history_for_base(
        first_partition_rows=PARTITION_ROWS, seed=3, deals=3000, end=date(2026, 11, 1), reps=6
    )
    model = models.train(history, target="won", time_column="closed_at", features=FEATURES)
    models_dir = root / "models"
    from datetime import UTC, datetime

    models.save(model, models_dir, trained_at=datetime(2026, 11, 2, tzinfo=UTC))
    return World(base=base, history=history, model=model, models_dir=models_dir)
