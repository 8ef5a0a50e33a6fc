"""The calibrated LightGBM model, its metrics and its versioned model card."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from vigie.ai import models

from .conftest import World


def test_model_beats_chance_on_the_latest_period(world: World) -> None:
    """Trained on the past, the model ranks the most recent deals better than chance."""
    card = world.model.card
    assert card["split"] == "time"
    assert card["window"]["train_to"] <= card["window"]["test_from"]
    assert card["metrics"]["auc"] > 0.6
    assert card["metrics"]["top_decile_lift"] > 1.2


def test_probabilities_are_calibrated(world: World) -> None:
    """The mean predicted probability on the history is close to the observed win rate."""
    x = world.model.encoder.matrix(world.history)
    p = world.model.predict(x)
    assert abs(p.mean() - world.history["won"].mean()) < 0.05
    assert ((p >= 0) & (p <= 1)).all()


def test_save_load_round_trip(world: World, tmp_path: Path) -> None:
    """A saved model predicts exactly as before and versions count up."""
    first = models.save(world.model, tmp_path, trained_at=datetime(2026, 1, 1, tzinfo=UTC))
    second = models.save(world.model, tmp_path, trained_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert (first.name, second.name) == ("v0001", "v0002")
    loaded = models.load(tmp_path)
    assert loaded.path == second
    x = world.model.encoder.matrix(world.history.head(200))
    assert np.allclose(loaded.predict(x), world.model.predict(x))
    card = (second / "card.md").read_text()
    assert "AUC" in card and "Fiche du modèle" in card
    assert {"model.txt", "model.json", "card.json", "card.md"} <= {p.name for p in second.iterdir()}


def test_contributions_add_up_to_the_raw_score(world: World) -> None:
    """pred_contrib plus its bias is the booster's log-odds for each row."""
    x = world.model.encoder.matrix(world.history.head(50))
    contrib = world.model.contributions(x)
    raw = world.model.raw(x)
    assert np.allclose(contrib.sum(axis=1), np.log(raw / (1 - raw)), atol=1e-6)


def test_generic_table_without_time_column() -> None:
    """A bank-marketing-like table (yes/no target, no date) trains with a stratified split."""
    rng = np.random.default_rng(5)
    n = 3000
    duration = rng.exponential(250, n)
    job = rng.choice(["admin.", "retired", "student", "blue-collar"], n)
    logit = -3 + duration / 250 + np.where(job == "retired", 1.0, 0.0)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pl.DataFrame({"duration": duration, "job": job, "y": y})
    model = models.train(frame, target="y")
    assert model.card["split"] == "random stratified"
    assert model.card["metrics"]["auc"] > 0.7
    assert model.card["importance"]["duration"] > 0.3


def test_small_history_still_learns() -> None:
    """Three hundred rows are enough for trees that rank better than chance."""
    rng = np.random.default_rng(8)
    n = 300
    x = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(2.5 * x - 1)))
    model = models.train(pl.DataFrame({"x": x, "won": y}), target="won", seed=1)
    assert model.booster.num_trees() > 1
    assert model.card["metrics"]["auc"] > 0.7
