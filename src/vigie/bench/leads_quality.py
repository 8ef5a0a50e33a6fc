"""`vigie bench leads-quality`: is Vigie's model good where the user lives, the latest period?

Two generated call histories (`vigie.ai.regimes`): one with a change of economic regime at
70 % of the period (context columns move outside their past range, the base rate drifts),
and a stationary control. On each, in one run and on the same time split (the last 20 % of
rows is the test period): Vigie's model (`vigie leads train`: candidates compared by rolling
origin, calibrated on the period before the test) against a one-hot logistic regression
(scikit-learn defaults, numbers standardised) and LightGBM at its defaults, both trained on
every row before the test period. Goals on the test period: Vigie's AUC at least the best
baseline's minus 0.005, its expected calibration error at most 0.05, and the card's shift
warning raised on the regime change (and not on the control). Besides, `refit` measures
the refit on every row: trained on the first 80 % of the history only, the held-out model and
the refit one are judged on the last 20 %.
"""

from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from vigie.ai import models, regimes
from vigie.ai.features import detect_features, split_rows, target_vector

TARGET = "converted"
TIME = "called_at"
AUC_MARGIN = 0.005
MAX_ECE = 0.05


def _baselines(
    frame: pl.DataFrame, y: np.ndarray, past: np.ndarray, test: np.ndarray
) -> dict[str, float]:
    """Test AUC of the one-hot logistic regression and of LightGBM at its defaults."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    inputs = frame.drop(TIME, TARGET)
    categorical = [c for c in inputs.columns if inputs[c].dtype == pl.String]
    numeric = [c for c in inputs.columns if c not in categorical]
    text = inputs.select(categorical).to_numpy()
    numbers = inputs.select(pl.col(numeric).cast(pl.Float64)).to_numpy()
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(text[past])
    scaler = StandardScaler().fit(numbers[past])

    def design(rows: np.ndarray) -> np.ndarray:
        indicators = np.asarray(onehot.transform(text[rows]))
        return np.hstack([indicators, np.asarray(scaler.transform(numbers[rows]))])

    linear = LogisticRegression(max_iter=1000).fit(design(past), y[past])
    encoder = detect_features(inputs, exclude=set())
    x = encoder.matrix(inputs)
    trees = lgb.LGBMClassifier(verbose=-1, n_jobs=1).fit(
        x[past], y[past], categorical_feature=encoder.categorical_indices
    )
    boosted = np.asarray(trees.predict_proba(x[test]))[:, 1]
    return {
        "onehot_logistic": round(
            float(roc_auc_score(y[test], linear.predict_proba(design(test))[:, 1])), 4
        ),
        "default_lightgbm": round(float(roc_auc_score(y[test], boosted)), 4),
    }


def refit_gain(frame: pl.DataFrame) -> dict[str, Any]:
    """Does the refit on every row help later? Trained on the first 80 % of the history as if
    it were all there is, the held-out model and the refit one are judged on the last 20 %,
    which neither saw."""
    ordered = frame.sort(TIME)
    cut = int(ordered.height * 0.8)
    past, later = ordered[:cut], ordered[cut:]
    model = models.train(past, target=TARGET, time_column=TIME, context=list(regimes.CONTEXT))
    assert model.held_out is not None
    y = target_vector(later[TARGET])
    x = model.encoder.matrix(later)
    before = models.metrics(y, model.held_out.predict(x))
    after = models.metrics(y, model.predict(x))
    return {
        "later_rows": later.height,
        "later_positive_rate": before["positive_rate"],
        **{f"held_out_{k}": before[k] for k in ("auc", "ece", "mean_predicted")},
        **{f"refit_{k}": after[k] for k in ("auc", "ece", "mean_predicted")},
    }


def scenario(rows: int, *, seed: int, shifted: bool) -> dict[str, Any]:
    """Train Vigie's model and the baselines on one generated history; their test figures."""
    frame = regimes.history(rows, seed=seed, shifted=shifted)
    truth = frame["true_probability"].to_numpy()
    frame = frame.drop("true_probability")
    started = time.perf_counter()
    model = models.train(frame, target=TARGET, time_column=TIME, context=list(regimes.CONTEXT))
    train_seconds = time.perf_counter() - started
    y = target_vector(frame[TARGET])
    split = split_rows(frame, y, time_column=TIME)
    past = np.concatenate([split.train, split.calibration])
    baselines = _baselines(frame, y, past, split.test)
    m = model.card["metrics"]
    best = max(baselines.values())
    from sklearn.metrics import roc_auc_score

    return {
        "scenario": "regime change" if shifted else "stationary",
        "rows": rows,
        "test_rows": len(split.test),
        "test_positive_rate": m["positive_rate"],
        "chosen": model.card["model"],
        "vigie_auc": m["auc"],
        "vigie_auc_ci": m["auc_ci"],
        "vigie_ece": m["ece"],
        "vigie_mean_predicted": m["mean_predicted"],
        **baselines,
        "true_probability_auc": round(float(roc_auc_score(y[split.test], truth[split.test])), 4),
        "naive_ece": model.card["naive"]["ece"],
        "shift_flagged": model.card["shift"]["shifted"],
        "refit": refit_gain(frame),
        "train_seconds": round(train_seconds, 2),
        "auc_goal_met": m["auc"] >= best - AUC_MARGIN,
        "ece_goal_met": m["ece"] <= MAX_ECE,
        "shift_goal_met": bool(model.card["shift"]["shifted"]) == shifted,
    }


def run_leads_quality_bench(*, rows: int, seed: int, console: Console) -> dict[str, Any]:
    """Run both scenarios and return their figures (also printed)."""
    results = [scenario(rows, seed=seed, shifted=s) for s in (True, False)]
    table = Table(title="leads quality on the most recent period (test)")
    for key in ("scenario", "chosen", "vigie_auc", "onehot_logistic", "default_lightgbm",
                "vigie_ece", "shift_flagged"):  # fmt: skip
        table.add_column(key)
    for r in results:
        table.add_row(*(str(r[k]) for k in (
            "scenario", "chosen", "vigie_auc", "onehot_logistic", "default_lightgbm",
            "vigie_ece", "shift_flagged",
        )))  # fmt: skip
    console.print(table)
    figures: dict[str, Any] = {
        "rows": rows,
        "seed": seed,
        "scenarios": results,
        "goals_met": all(
            r["auc_goal_met"] and r["ece_goal_met"] and r["shift_goal_met"] for r in results
        ),
    }
    console.print(figures)
    return figures
