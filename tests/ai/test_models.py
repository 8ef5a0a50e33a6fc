"""The calibrated LightGBM model, its metrics and its versioned model card."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.ai import models, regimes

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
    files = {"model.json", "card.json", "card.md"} | (
        {"model.txt"} if world.model.kind == "lightgbm" else set()
    )
    assert files <= {p.name for p in second.iterdir()}


def test_contributions_add_up_to_the_raw_score(world: World) -> None:
    """The contributions plus their bias are the learner's log-odds for each row."""
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
    assert model.card["metrics"]["auc"] > 0.7


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.sampled_from([0.05, 0.1, 0.1, 0.2, 0.5, 0.9]), min_size=1, max_size=300),
    st.integers(0, 2**31 - 1),
)
def test_calibration_bins_partition_the_rows(values: list[float], seed: int) -> None:
    """Bins hold every row exactly once and never share a prediction, even with ties (the
    card once listed 18,587 rows for 8,237; issue 22)."""
    p = np.asarray(values)
    y = (np.random.default_rng(seed).random(len(p)) < p).astype(int)
    bins = models.metrics(y, p)["calibration"]
    assert sum(b["count"] for b in bins) == len(p)
    for b in bins:
        inside = (p >= b["from"]) & (p <= b["to"])
        assert inside.sum() == b["count"]
        assert b["predicted"] == pytest.approx(p[inside].mean(), abs=1e-4)
        assert b["observed"] == pytest.approx(y[inside].mean(), abs=1e-4)
    assert all(a["to"] < b["from"] for a, b in pairwise(bins))


def test_bins_are_equal_count_without_ties() -> None:
    """Distinct predictions fall in ten bins of the same size."""
    p = np.linspace(0.01, 0.99, 1000)
    y = (np.random.default_rng(0).random(1000) < p).astype(int)
    assert [b["count"] for b in models.metrics(y, p)["calibration"]] == [100] * 10


def test_ece_of_a_constant_forecast_is_its_gap() -> None:
    """Predicting 30 % where 20 % happens is 0.1 off; predicting the truth is 0 off."""
    y = np.array([1] * 20 + [0] * 80)
    assert models.expected_calibration_error(y, np.full(100, 0.3)) == pytest.approx(0.1)
    assert models.expected_calibration_error(y, np.full(100, 0.2)) == pytest.approx(0.0)


def test_delong_interval_matches_its_definition() -> None:
    """The interval is AUC ± 1.96 standard errors from the pairwise placement values."""
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.round(rng.random(300) * 0.5 + 0.3 * y, 2)
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    se = np.sqrt(psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg))
    lo, hi = models.auc_interval(y, p) or (0, 0)
    assert lo == pytest.approx(auc - 1.96 * se, abs=1e-4)
    assert hi == pytest.approx(auc + 1.96 * se, abs=1e-4)


def test_lift_table_captures_every_positive() -> None:
    """Deciles cover every row, best first, and the last captures all the positives."""
    rng = np.random.default_rng(3)
    p = rng.random(1003)
    y = (rng.random(1003) < p).astype(int)
    lift = models.lift_table(y, p)
    assert sum(r["rows"] for r in lift) == 1003
    assert lift[-1]["captured"] == pytest.approx(1.0)
    assert lift[0]["rate"] > lift[-1]["rate"]


def regime(rows: int = 12_000, *, shifted: bool = True) -> pl.DataFrame:
    return regimes.history(rows, seed=5, shifted=shifted).drop("true_probability")


def test_regime_change_is_flagged_and_the_card_compares_candidates(tmp_path: Path) -> None:
    """After a change of economy the card names the winner chosen on the most recent fold,
    gives every candidate's and the naive baseline's test metrics, and warns in plain words."""
    model = models.train(
        regime(), target="converted", time_column="called_at", context=list(regimes.CONTEXT)
    )
    card = model.card
    names = [c["name"] for c in card["candidates"]]
    assert sorted(names) == ["lightgbm", "logistic"] and card["model"] == names[0]
    recent = [c["folds"][-1]["auc"] for c in card["candidates"]]
    assert recent[0] >= recent[1]
    assert all(len(c["folds"]) == 3 for c in card["candidates"])
    assert card["naive"]["auc"] == 0.5
    assert "rate" in card["shift"]["shifted"]
    assert "rate" in card["shift"]["warning"]["en"] and "rate" in card["shift"]["warning"]["fr"]
    rate = next(r for r in card["shift"]["features"] if r["feature"] == "rate")
    assert rate["level"] == "major" and rate["outside_share"] > 0.9
    assert card["metrics"]["ece"] < card["naive"]["ece"] / 2
    lo, hi = card["metrics"]["auc_ci"]
    assert lo < card["metrics"]["auc"] < hi
    path = models.save(model, tmp_path, trained_at=datetime(2026, 1, 1, tzinfo=UTC))
    text = (path / "card.md").read_text()
    assert "⚠" in text and "naive" in text and "Lift" in text and "ECE" in text
    loaded = models.load(path)
    x = model.encoder.matrix(regime(500))
    assert np.allclose(loaded.predict(x), model.predict(x))


def test_stationary_history_raises_no_warning() -> None:
    """Without a change of regime the card warns of nothing."""
    model = models.train(
        regime(shifted=False), target="converted", time_column="called_at", context=["rate"]
    )
    assert model.card["shift"]["warning"] is None


def test_lightgbm_model_round_trip(tmp_path: Path) -> None:
    """When the trees win (an interaction no additive model holds) they are saved as LightGBM's
    text and load back predicting the same."""
    rng = np.random.default_rng(9)
    n = 6000
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-3 * np.sign(a) * np.sign(b)))
    model = models.train(pl.DataFrame({"a": a, "b": b, "won": y}), target="won")
    assert model.kind == "lightgbm" and model.booster is not None
    assert model.held_out is not None and model.held_out.booster is not None
    # The refit keeps the rounds early stopping chose (nothing later is left to stop on).
    assert model.booster.num_trees() == model.held_out.booster.num_trees() < 400
    path = models.save(model, tmp_path, trained_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert (path / "model.txt").exists() and (path / "held-out" / "model.txt").exists()
    x = model.encoder.matrix(pl.DataFrame({"a": a[:100], "b": b[:100]}))
    assert np.allclose(models.load(path).predict(x), model.predict(x))


def test_a_model_saved_before_the_candidates_still_loads(world: World, tmp_path: Path) -> None:
    """A LightGBM model saved without a learner kind nor Platt parameters (the earlier
    format) loads and predicts through its isotonic map."""
    rng = np.random.default_rng(9)
    n = 8000
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-3 * np.sign(a) * np.sign(b)))
    model = models.train(pl.DataFrame({"a": a, "b": b, "won": y}), target="won")
    assert model.kind == "lightgbm"
    path = models.save(model, tmp_path, trained_at=datetime(2026, 1, 1, tzinfo=UTC))
    meta = json.loads((path / "model.json").read_text())
    del meta["learner"]
    meta["calibration"] = {k: meta["calibration"][k] for k in ("x", "y")}
    (path / "model.json").write_text(json.dumps(meta))
    x = model.encoder.matrix(pl.DataFrame({"a": a[:50], "b": b[:50]}))
    assert np.allclose(models.load(path).predict(x), model.predict(x))


def test_the_saved_model_is_refit_on_every_row_and_keeps_the_held_out_figures(
    tmp_path: Path,
) -> None:
    """After the choice the winner is refit on every row, test period included: the card
    says so and keeps the held-out model's test figures; on a later period of the new regime
    the refit model's mean prediction is nearer the observed rate than the held-out one's;
    both are saved and load back."""
    from vigie.ai.features import split_rows, target_vector

    full = regime(15_000).sort("called_at")
    past, future = full[:12_000], full[12_000:]
    model = models.train(
        past, target="converted", time_column="called_at", context=list(regimes.CONTEXT)
    )
    card = model.card
    assert card["refit"]["done"] and card["refit"]["rows"] == past.height
    assert card["refit"]["through"] == card["window"]["test_to"]
    assert model.held_out is not None and model.held_out.learner is not model.learner
    y = target_vector(past["converted"])
    test = split_rows(past, y, time_column="called_at").test
    held = model.held_out.predict(model.encoder.matrix(past[test]))
    assert card["metrics"]["auc"] == models.metrics(y[test], held)["auc"]
    x_future = model.encoder.matrix(future)
    observed = float(target_vector(future["converted"]).mean())
    refit_gap = abs(float(model.predict(x_future).mean()) - observed)
    held_gap = abs(float(model.held_out.predict(x_future).mean()) - observed)
    assert refit_gap < held_gap
    path = models.save(model, tmp_path, trained_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert (
        "Refit on every row / Réajusté sur toutes les lignes: yes" in (path / "card.md").read_text()
    )
    loaded = models.load(path)
    assert loaded.held_out is not None
    assert np.allclose(loaded.predict(x_future), model.predict(x_future))
    assert np.allclose(loaded.held_out.predict(x_future), model.held_out.predict(x_future))
