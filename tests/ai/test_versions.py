"""Model versions: the promotion gate, explicit promotion, rollback (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from vigie.ai import models, versions

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _history(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    noise = rng.normal(size=n)
    won = rng.random(n) < 1 / (1 + np.exp(-(1.5 * x - 0.5)))
    days = np.sort(rng.integers(0, 700, n))
    return pl.DataFrame(
        {
            "signal": x,
            "noise": noise,
            "won": won,
            "closed_at": [datetime(2024, 1, 1, tzinfo=UTC) + np.timedelta64(int(d), "D").item()
                          for d in days],
        }
    )  # fmt: skip


def _train(frame: pl.DataFrame, root: Path, features: list[str]) -> models.Model:
    model = models.train(frame, target="won", time_column="closed_at", features=features)
    models.save(model, root, trained_at=NOW)
    return model


def _gate(root: Path, model: models.Model, frame: pl.DataFrame) -> versions.GateDecision:
    rows, y, label = versions.recent_holdout(
        frame, target="won", time_column="closed_at", positive=None, seed=0
    )
    return versions.gate(root, model, rows, y, at=NOW, holdout_label=label)


def test_a_worse_model_does_not_replace_the_active_one(tmp_path: Path) -> None:
    """The first model is activated; a model that learnt only noise is saved but stays
    inactive (loading still gives the first); promote and rollback switch by hand, and
    every change is kept."""
    frame = _history(3000, seed=1)
    good = _train(frame, tmp_path, ["signal", "noise"])
    first = _gate(tmp_path, good, frame)
    assert first.promoted and versions.active_version(tmp_path) == "v0001"
    bad = _train(frame, tmp_path, ["noise"])
    second = _gate(tmp_path, bad, frame)
    assert not second.promoted and "worse" in second.reason
    assert second.candidate_metrics["auc"] < second.incumbent_metrics["auc"]  # type: ignore[index]
    assert models.load(tmp_path).version == "v0001"
    listed = versions.listing(tmp_path)
    assert [v["active"] for v in listed] == [True, False] and listed[1]["gate"]["promoted"] is False
    versions.activate(tmp_path, "v0002", how="promote", reason="by hand", at=NOW)
    assert models.load(tmp_path).version == "v0002"
    assert versions.rollback(tmp_path, at=NOW) == "v0001"
    assert models.load(tmp_path).version == "v0001"
    how = [h["how"] for h in versions.registry(tmp_path)["history"]]
    assert how == ["gate", "promote", "rollback"]


def test_an_equal_or_better_model_is_promoted(tmp_path: Path) -> None:
    """A model retrained on the same data is not worse on the same holdout: it is promoted."""
    frame = _history(3000, seed=2)
    _gate(tmp_path, _train(frame, tmp_path, ["noise"]), frame)
    better = _gate(tmp_path, _train(frame, tmp_path, ["signal", "noise"]), frame)
    assert better.promoted and versions.active_version(tmp_path) == "v0002"


def test_promoting_an_unknown_version_names_the_known_ones(tmp_path: Path) -> None:
    """A typo in `promote` is refused with the versions that exist."""
    frame = _history(1500, seed=3)
    _gate(tmp_path, _train(frame, tmp_path, ["signal"]), frame)
    with pytest.raises(ValueError, match="v0001"):
        versions.activate(tmp_path, "v0009", how="promote", reason="", at=NOW)
    with pytest.raises(ValueError, match="no earlier"):
        versions.rollback(tmp_path, at=NOW)


def test_a_model_from_before_the_gate_is_the_one_to_beat(tmp_path: Path) -> None:
    """An installation whose models predate `active.json` gates a new model against its
    newest existing version, not against nothing."""
    frame = _history(3000, seed=4)
    _train(frame, tmp_path, ["signal", "noise"])
    assert versions.active_version(tmp_path) == "v0001"
    decision = _gate(tmp_path, _train(frame, tmp_path, ["noise"]), frame)
    assert decision.incumbent == "v0001" and not decision.promoted
    assert models.load(tmp_path).version == "v0001"


def test_the_gate_judges_the_held_out_models_not_the_refit_ones(tmp_path: Path) -> None:
    """The refit models saw the holdout: the gate scores each version's held-out model,
    so the candidate's figure is its card's test AUC, and a retrained incumbent's too."""
    frame = _history(3000, seed=4)
    first = _train(frame, tmp_path, ["signal", "noise"])
    _gate(tmp_path, first, frame)
    second = _train(frame, tmp_path, ["signal", "noise"])
    decision = _gate(tmp_path, second, frame)
    assert decision.candidate_metrics["auc"] == second.card["metrics"]["auc"]
    assert decision.incumbent_metrics is not None
    assert decision.incumbent_metrics["auc"] == first.card["metrics"]["auc"]
