"""The candidate models and how the data chooses between them.

Two learners compete: a regularised logistic regression on one-hot categories and spline
numbers (`vigie.ai.additive`), which extrapolates a trend beyond the training range, and
LightGBM gradient-boosted trees (with monotone constraints where the user declared them),
which find interactions but freeze at the edge of what they saw. With a time column they are
compared by rolling origin: each fold trains on everything before its origin and is judged
on the period right after it; the most recent fold (train, then the calibration period just
before the test period) decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vigie.ai import additive
from vigie.ai.features import Encoder, Split

if TYPE_CHECKING:
    import lightgbm as lgb

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 20.0,
    "cat_l2": 10.0,
    "max_cat_to_onehot": 8,
    "verbose": -1,
    "num_threads": 1,
}
PREDICT_THREADS = 2
"""Threads for prediction; training uses one: OpenMP threads that wait for a busy core
make boosting many times slower on a shared machine."""
MAX_ROUNDS = 400
PENALTIES = (0.05, 1.0)
"""Inverse L2 strengths (scikit-learn's C) tried for the logistic regression."""
FOLDS = 3
"""Rolling-origin folds with a time column (the most recent one decides)."""
LABELS = {
    "logistic": "regularised logistic regression (one-hot categories, spline numbers)",
    "lightgbm": "LightGBM gradient-boosted trees",
}


class Trees:
    """LightGBM's booster behind the learner interface (raw probability, contributions)."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, num_threads=PREDICT_THREADS))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, pred_contrib=True))

    def importance(self, encoder: Encoder, x: np.ndarray) -> dict[str, float]:
        """Each feature's share of the total gain."""
        del x
        gain = np.asarray(self.booster.feature_importance(importance_type="gain"), np.float64)
        total = gain.sum() or 1.0
        return {n: round(float(g / total), 4) for n, g in zip(encoder.names, gain, strict=True)}

    @property
    def size(self) -> str:
        return f"{self.booster.num_trees()} trees"


class Logistic:
    """The fitted additive logistic regression behind the learner interface."""

    def __init__(self, model: additive.SplineLogit) -> None:
        self.model = model

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return self.model.contributions(x)

    def importance(self, encoder: Encoder, x: np.ndarray) -> dict[str, float]:
        """Each feature's share of the mean absolute contribution on `x`."""
        strength = (
            np.abs(self.model.terms(x)).mean(axis=0) if len(x) else np.zeros(len(encoder.names))
        )
        total = strength.sum() or 1.0
        return {n: round(float(s / total), 4) for n, s in zip(encoder.names, strength, strict=True)}

    @property
    def size(self) -> str:
        return f"C={self.model.penalty:g}"


Learner = Trees | Logistic


def monotone_vector(encoder: Encoder, monotone: Mapping[str, int]) -> list[int]:
    """LightGBM's per-feature constraint list; a declared column must be a used number."""
    known = {f.name: f for f in encoder.features}
    for name, sign in monotone.items():
        if name not in known:
            raise ValueError(
                f"--monotone {name!r}: not a feature of the model; features: {encoder.names}"
            )
        if known[name].kind != "numeric":
            raise ValueError(f"--monotone {name!r}: only a numeric column can be monotone")
        if sign not in (-1, 1):
            raise ValueError(f"--monotone {name}={sign}: use +1 (increasing) or -1 (decreasing)")
    return [int(monotone.get(name, 0)) for name in encoder.names]


def fit_trees(
    x: np.ndarray,
    y: np.ndarray,
    encoder: Encoder,
    fit_rows: np.ndarray,
    stop_rows: np.ndarray,
    *,
    seed: int,
    monotone: Mapping[str, int],
    recency: float | None = None,
) -> Trees:
    """Gradient-boosted trees on `fit_rows`, stopped early on `stop_rows`."""
    import lightgbm as lgb  # a second and a half to import: only when trees are fitted

    # A small history (a few hundred deals) still gets trees: leaves need 40 rows at most.
    min_leaf = int(min(PARAMS["min_data_in_leaf"], max(5, len(fit_rows) // 50)))
    params = {**PARAMS, "seed": seed, "min_data_in_leaf": min_leaf}
    if monotone:
        params["monotone_constraints"] = monotone_vector(encoder, monotone)
    train_set = lgb.Dataset(
        x[fit_rows],
        y[fit_rows],
        weight=recency_weights(len(fit_rows), recency),
        feature_name=encoder.names,
        categorical_feature=encoder.categorical_indices,
        free_raw_data=False,
    )
    valid = lgb.Dataset(x[stop_rows], y[stop_rows], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    return Trees(booster)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    encoder: Encoder,
    fit_rows: np.ndarray,
    *,
    penalty: float,
    recency: float | None = None,
) -> Logistic:
    weight = recency_weights(len(fit_rows), recency)
    return Logistic(additive.fit(x[fit_rows], y[fit_rows], encoder, penalty=penalty, weight=weight))


def recency_weights(rows: int, half_life: float | None) -> np.ndarray | None:
    """Weights of `rows` time-ordered rows: 1 for the latest, halving every `half_life` share
    of them (None: every row weighs the same)."""
    if half_life is None:
        return None
    if half_life <= 0:
        raise ValueError(f"--recency {half_life}: give a positive share of the period, e.g. 0.5")
    age = (rows - 1 - np.arange(rows)) / max(rows, 1)
    return np.asarray(0.5 ** (age / half_life))


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


@dataclass
class Fold:
    """One rolling-origin fold: fit on `fit`, judged on `valid` (row indices)."""

    fit: np.ndarray
    valid: np.ndarray


def rolling_folds(split: Split, *, folds: int = FOLDS) -> list[Fold]:
    """Folds in time order, the most recent last (train → calibration period).

    Earlier folds move the origin back by one validation period each. Without a time
    column there is one fold: train → calibration slice.
    """
    recent = Fold(split.train, split.calibration)
    if split.method != "time":
        return [recent]
    width = len(split.calibration)
    earlier = []
    for k in range(folds - 1, 0, -1):
        origin = len(split.train) - k * width
        if origin < max(2 * width, 50):
            continue
        earlier.append(Fold(split.train[:origin], split.train[origin : origin + width]))
    return [*earlier, recent]


@dataclass
class Candidate:
    """A candidate learner fitted on the training period, and how each fold judged it."""

    name: str
    learner: Learner
    folds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recent_auc(self) -> float:
        value = self.folds[-1]["auc"] if self.folds else None
        return -1.0 if value is None else float(value)


def _judge(y: np.ndarray, p: np.ndarray, fold: Fold) -> dict[str, Any]:
    value = auc(y[fold.valid], p)
    return {
        "fit_rows": len(fold.fit),
        "valid_rows": len(fold.valid),
        "auc": None if value is None else round(value, 4),
    }


def compare(
    x: np.ndarray,
    y: np.ndarray,
    encoder: Encoder,
    split: Split,
    *,
    seed: int,
    monotone: Mapping[str, int],
    recency: float | None = None,
) -> list[Candidate]:
    """Fit both candidates, judge them on every fold, best on the most recent fold first.

    The logistic regression's penalty is the one of `PENALTIES` with the best AUC on the most
    recent fold; LightGBM stops early on each fold's validation period. With `recency` (time
    splits only) each fit weighs its latest rows more, halving every `recency` share of them.
    """
    if split.method != "time":
        recency = None
    folds = rolling_folds(split)
    recent = folds[-1]
    best: tuple[float, Logistic] | None = None
    for penalty in PENALTIES:
        learner = fit_logistic(x, y, encoder, recent.fit, penalty=penalty, recency=recency)
        score = auc(y[recent.valid], learner.predict(x[recent.valid]))
        if best is None or (score or 0.0) > best[0]:
            best = (score or 0.0, learner)
    assert best is not None
    penalty = best[1].model.penalty
    logistic = Candidate("logistic", best[1])
    trees = Candidate(
        "lightgbm",
        fit_trees(
            x, y, encoder, recent.fit, recent.valid, seed=seed, monotone=monotone, recency=recency
        ),
    )
    for fold in folds[:-1]:
        if len(np.unique(y[fold.fit])) < 2:  # an early origin may have seen one outcome only
            continue
        lr = fit_logistic(x, y, encoder, fold.fit, penalty=penalty, recency=recency)
        logistic.folds.append(_judge(y, lr.predict(x[fold.valid]), fold))
        gb = fit_trees(
            x, y, encoder, fold.fit, fold.valid, seed=seed, monotone=monotone, recency=recency
        )
        trees.folds.append(_judge(y, gb.predict(x[fold.valid]), fold))
    for candidate in (logistic, trees):
        candidate.folds.append(_judge(y, candidate.learner.predict(x[recent.valid]), recent))
    return sorted([logistic, trees], key=lambda c: -c.recent_auc)


ROUNDS_KEYS = frozenset(
    ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round",
     "num_rounds", "nrounds", "num_boost_round", "n_estimators", "max_iter",
     "early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change")
)  # fmt: skip
"""LightGBM's names for the number of rounds and early stopping: a booster's parameters
keep them, and they would override the rounds a refit asks for."""


def refit(
    learner: Learner,
    x: np.ndarray,
    y: np.ndarray,
    encoder: Encoder,
    rows: np.ndarray,
    *,
    recency: float | None = None,
) -> Learner:
    """The same learner with the same hyper-parameters, fitted again on `rows` (time order
    with a time column): the logistic regression keeps its penalty, the trees their
    parameters and the number of rounds early stopping chose, since no later period is left
    to stop on."""
    if isinstance(learner, Logistic):
        return fit_logistic(x, y, encoder, rows, penalty=learner.model.penalty, recency=recency)
    import lightgbm as lgb

    booster = learner.booster
    rounds = booster.best_iteration or booster.num_trees()
    params = {k: v for k, v in booster.params.items() if k not in ROUNDS_KEYS}
    train_set = lgb.Dataset(
        x[rows],
        y[rows],
        weight=recency_weights(len(rows), recency),
        feature_name=encoder.names,
        categorical_feature=encoder.categorical_indices,
        free_raw_data=False,
    )
    return Trees(lgb.train(params, train_set, num_boost_round=max(1, rounds)))
