"""The conversion model: the data's chosen learner, its calibration, metrics and model card.

`train` fits the candidates (`vigie.ai.candidates`), keeps the one the most recent
validation fold prefers, calibrates it on the most recent period before the test period and
writes in its card what was compared, how each did on the test period beside a naive
baseline, and how the inputs shifted.

A model directory (`models/v0003/`) holds `model.json` (learner kind, features, calibration,
reference distributions, and the logistic regression's shapes), `model.txt` for LightGBM
(its own text format) and the model card as `card.json` and `card.md`. Nothing is pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from vigie.ai import drift
from vigie.ai.additive import SplineLogit
from vigie.ai.candidates import (
    LABELS,
    PARAMS,
    Learner,
    Logistic,
    Trees,
    compare,
    recency_weights,
    refit,
)
from vigie.ai.drift import histogram
from vigie.ai.features import Encoder, Split, detect_features, split_rows, target_vector

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["PARAMS", "Model", "histogram", "load", "metrics", "save", "train"]

BINS = 10


@dataclass
class Calibration:
    """Map from the learner's raw probability to an observed frequency: isotonic (a
    piecewise-linear map through `x`, `y`) or Platt's sigmoid on the log-odds (`slope`,
    `intercept`), which keeps extrapolating beyond the probabilities it was fitted on."""

    x: np.ndarray
    y: np.ndarray
    slope: float | None = None
    intercept: float = 0.0

    @property
    def method(self) -> str:
        return "platt" if self.slope is not None else "isotonic"

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.slope is not None:
            return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * logit(raw) + self.intercept))))
        if len(self.x) == 0:
            return raw
        return np.asarray(np.interp(raw, self.x, self.y))

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            x=np.asarray(data["x"]),
            y=np.asarray(data["y"]),
            slope=data.get("slope"),
            intercept=data.get("intercept", 0.0),
        )


@dataclass
class Model:
    """A trained, calibrated conversion model and what is known about it."""

    learner: Learner
    encoder: Encoder
    calibration: Calibration
    card: dict[str, Any]
    reference: dict[str, Any]
    path: Path | None = None
    held_out: Model | None = None
    """Before the refit on every row: the model the test period judged, which never saw
    it (kept in memory for the promotion gate, not saved)."""

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unsaved"))

    @property
    def kind(self) -> str:
        """'lightgbm' or 'logistic'."""
        return "lightgbm" if isinstance(self.learner, Trees) else "logistic"

    @property
    def booster(self) -> lgb.Booster | None:
        """LightGBM's booster when the trees won, else None."""
        return self.learner.booster if isinstance(self.learner, Trees) else None

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The learner's uncalibrated probabilities."""
        return self.learner.predict(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of conversion for the rows of an encoded matrix."""
        return self.calibration(self.raw(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions in log-odds; the last column is the bias."""
        return self.learner.contributions(x)


def _bins(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Equal-count bins of prediction, tied predictions kept in one bin: each row in exactly
    one bin, and no prediction in two."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    n = len(ps)
    cuts: list[int] = []
    for k in range(1, bins):
        at = int(np.searchsorted(ps, ps[min(n - 1, k * n // bins)], side="left"))
        if at <= (cuts[-1] if cuts else 0):
            at = int(np.searchsorted(ps, ps[min(n - 1, k * n // bins)], side="right"))
        if (cuts[-1] if cuts else 0) < at < n:
            cuts.append(at)
    out = []
    for chunk in np.split(order, cuts):
        if len(chunk):
            out.append(
                {
                    "from": round(float(p[chunk].min()), 4),
                    "to": round(float(p[chunk].max()), 4),
                    "predicted": round(float(p[chunk].mean()), 4),
                    "observed": round(float(y[chunk].mean()), 4),
                    "count": len(chunk),
                }
            )
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = BINS) -> float:
    """Mean gap between predicted and observed rates over equal-count bins, row-weighted."""
    if len(y) == 0:
        return float("nan")
    return float(
        sum(b["count"] * abs(b["predicted"] - b["observed"]) for b in _bins(y, p, bins)) / len(y)
    )


def auc_interval(y: np.ndarray, p: np.ndarray, *, z: float = 1.96) -> tuple[float, float] | None:
    """95 % confidence interval of the AUC by DeLong's method (fast midrank form).

    The AUC is the mean of each positive's share of negatives ranked below it; its variance
    comes from the spread of those shares among positives and among negatives.
    """
    from scipy.stats import rankdata

    positives, negatives = p[y == 1], p[y == 0]
    m, n = len(positives), len(negatives)
    if m < 2 or n < 2:
        return None
    ranks = rankdata(np.concatenate([positives, negatives]))
    v10 = (ranks[:m] - rankdata(positives)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(negatives)) / m
    auc = float(v10.mean())
    se = math.sqrt(float(v10.var(ddof=1)) / m + float(v01.var(ddof=1)) / n)
    return round(max(0.0, auc - z * se), 4), round(min(1.0, auc + z * se), 4)


def lift_table(y: np.ndarray, p: np.ndarray, *, bins: int = BINS) -> list[dict[str, Any]]:
    """Rows by decile of score, best first: positives, rate, lift and share of all
    positives captured down to that decile."""
    base = float(y.mean()) if len(y) else 0.0
    total = float(y.sum()) or 1.0
    captured = 0.0
    rows = []
    for k, chunk in enumerate(np.array_split(np.argsort(-p, kind="stable"), bins)):
        if not len(chunk):
            continue
        positives = float(y[chunk].sum())
        captured += positives
        rate = positives / len(chunk)
        rows.append(
            {
                "decile": k + 1,
                "rows": len(chunk),
                "positives": int(positives),
                "rate": round(rate, 4),
                "lift": round(rate / base, 3) if base else None,
                "captured": round(captured / total, 4),
            }
        )
    return rows


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC with its interval, log-loss, Brier, ECE, calibration bins, lift table."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    both = len(np.unique(y)) == 2
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    base = float(y.mean()) if len(y) else float("nan")
    # A constant forecast (the naive baseline) ranks nobody: no interval, no lift.
    ranks = len(y) > 0 and float(np.ptp(p)) > 0
    lift = lift_table(y, p) if ranks else []
    interval = auc_interval(y, p) if ranks else None
    return {
        "rows": len(y),
        "positive_rate": round(base, 4),
        "mean_predicted": round(float(p.mean()), 4) if len(p) else None,
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "auc_ci": list(interval) if interval else None,
        "log_loss": round(float(log_loss(y, clipped, labels=[0, 1])), 4) if len(y) else None,
        "brier": round(float(brier_score_loss(y, p)), 4) if len(y) else None,
        "ece": round(expected_calibration_error(y, p), 4) if len(y) else None,
        "top_decile_lift": lift[0]["lift"] if lift else None,
        "calibration": _bins(y, p, BINS) if len(y) else [],
        "lift": lift,
    }


def reference_of(encoder: Encoder, x: np.ndarray) -> dict[str, Any]:
    """Each feature's distribution in the training data, the baseline of drift (PSI)."""
    reference: dict[str, Any] = {}
    for j, feature in enumerate(encoder.features):
        column = x[:, j]
        if feature.kind == "categorical":
            counts = drift.counts_of(feature, column, [])
            reference[feature.name] = {"kind": "categorical", "counts": counts.tolist()}
        else:
            finite = column[np.isfinite(column)]
            edges: list[float] = (
                np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))).tolist()
                if len(finite)
                else []
            )
            reference[feature.name] = {
                "kind": "numeric",
                "edges": [float(e) for e in edges],
                "counts": histogram(column, list(edges)).tolist(),
            }
    return reference


STAGES = ("features", "training", "calibration", "evaluation", "refit")
"""The stages of `train`, in order (for a progress bar)."""


def train(
    frame: pl.DataFrame,
    *,
    target: str,
    time_column: str | None = None,
    features: list[str] | None = None,
    exclude: frozenset[str] = frozenset(),
    positive: str | None = None,
    context: Sequence[str] = (),
    monotone: Mapping[str, int] | None = None,
    recency: float | None = None,
    seed: int = 0,
    source: str = "",
    stage: Callable[[str], None] | None = None,
) -> Model:
    """Learn a calibrated conversion model from a table with one outcome per row.

    `features` restricts the columns learnt from (default: all but target, time column and
    `exclude`). With `time_column` the candidates train on the past, are compared on the
    recent past (rolling origin), the winner is calibrated on the most recent period before
    the test period and evaluated on the most recent period; without it the split is random
    and stratified. `context` names columns used by the model that describe the moment
    (economy, campaign), not the customer: the profile never presents them as traits.
    `monotone` maps numeric columns to +1 or -1 for the gradient-boosted candidate. With a
    time column, `recency` weighs the latest training rows more (the weight halves every
    `recency` share of the training period). `stage` is told when each of the `STAGES` begins.
    """
    tell = stage or (lambda _name: None)
    tell("features")
    if target not in frame.columns:
        raise ValueError(f"--target {target!r} is not a column; columns: {frame.columns}")
    unknown = [c for c in context if c not in frame.columns]
    if unknown:
        raise ValueError(
            f"--context {unknown}: not column(s) of the data; columns: {frame.columns}"
        )
    y = target_vector(frame[target], positive=positive)
    positives = int(y.sum())
    if positives < 5 or (len(y) - positives) < 5:
        raise ValueError(
            f"target {target!r}: at least 5 positive and 5 negative rows needed "
            f"(found {positives} positive, {len(y) - positives} negative)"
        )
    excluded = {target, *exclude} | ({time_column} if time_column else set())
    split = split_rows(frame, y, time_column=time_column, seed=seed)
    encoder = detect_features(frame, exclude=excluded, allowed=features)
    x = encoder.matrix(frame)
    tell("training")
    candidates = compare(x, y, encoder, split, seed=seed, monotone=monotone or {}, recency=recency)
    tell("calibration")
    latest = recency_weights(len(split.calibration), HALF_LIFE) if split.method == "time" else None
    calibrations = [
        _calibrate(
            c.learner.predict(x[split.calibration]),
            y[split.calibration],
            latest,
            sigmoid=c.name == "logistic",
        )
        for c in candidates
    ]
    model = Model(
        learner=candidates[0].learner,
        encoder=encoder,
        calibration=calibrations[0],
        card={},
        reference=reference_of(encoder, x[split.train]),
    )
    tell("evaluation")
    y_test = y[split.test]
    judged = [
        {
            "name": c.name,
            "label": LABELS[c.name],
            "size": c.learner.size,
            "folds": c.folds,
            "test": metrics(y_test, cal(c.learner.predict(x[split.test]))),
        }
        for c, cal in zip(candidates, calibrations, strict=True)
    ]
    past = np.concatenate([split.train, split.calibration])
    naive = metrics(y_test, np.full(len(y_test), float(y[past].mean())))
    importance = candidates[0].learner.importance(encoder, x[split.train])
    model.card = {
        "version": "unsaved",
        "model": candidates[0].name,
        "algorithm": f"{LABELS[candidates[0].name]}, chosen by the data; calibrated "
        f"({calibrations[0].method}, recent rows weighted more) on the most recent period "
        "before the test period",
        "selection": "highest AUC on the most recent validation fold"
        + (" (rolling origin)" if split.method == "time" else " (held-out slice)"),
        "source": source,
        "target": target,
        "positive": positive,
        "time_column": time_column,
        "context": list(context),
        "monotone": dict(monotone or {}),
        "recency_half_life": recency if split.method == "time" else None,
        "split": split.method,
        "window": split.window,
        "rows": {
            "total": frame.height,
            "train": len(split.train),
            "calibration": len(split.calibration),
            "test": len(split.test),
        },
        "positive_rate": round(float(y.mean()), 4),
        "size": candidates[0].learner.size,
        "features": encoder.to_list(),
        "skipped_columns": dict(encoder.skipped),
        "importance": importance,
        "metrics": judged[0]["test"],
        "candidates": judged,
        "naive": naive,
        "shift": drift.shift(
            encoder,
            model.reference,
            x[split.train],
            x[split.test],
            weight_now(model, x[split.test]) or importance,
        ),
        "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
    }
    tell("refit")
    return refit_on_every_row(model, x, y, split, recency=recency)


REFIT_FOLDS = 3
"""Folds of the most recent period whose predictions calibrate the refitted learner."""


def refit_on_every_row(
    model: Model, x: np.ndarray, y: np.ndarray, split: Split, *, recency: float | None
) -> Model:
    """The chosen learner fitted again, same hyper-parameters, on every row including the
    test period, so that the model used for scoring knows the most recent regime.

    Its calibration is fitted on the most recent period (the test period), on predictions
    the learner did not train on yet that already know that period: the period is cut into
    `REFIT_FOLDS` interleaved folds, and each fold is predicted by the learner fitted on
    every other row. (Predictions of a learner fitted only before the period would carry the
    old regime, and the refitted learner, which knows the new one, would be corrected
    twice.) The card keeps the held-out figures, the only honest ones: nothing later is left
    to judge the refitted model on.
    """
    timed = split.method == "time"
    recency = recency if timed else None
    every = np.concatenate([split.train, split.calibration, split.test])
    recent = split.test
    folds = min(REFIT_FOLDS, len(recent))
    if len(np.unique(y[recent])) == 2 and folds >= 2:
        position = np.arange(len(every))
        is_recent = position >= len(every) - len(recent)
        out_of_fold = np.empty(len(recent))
        for k in range(folds):
            held = is_recent & ((position - (len(every) - len(recent))) % folds == k)
            learner = refit(model.learner, x, y, model.encoder, every[~held], recency=recency)
            out_of_fold[held[is_recent]] = learner.predict(x[every[held]])
        weight = recency_weights(len(recent), HALF_LIFE) if timed else None
        calibration = _calibrate(out_of_fold, y[recent], weight, sigmoid=model.kind == "logistic")
        rows_en, rows_fr = (
            ("most recent rows", "lignes les plus récentes")
            if timed
            else ("test rows", "lignes de test")
        )
        how = (
            f"{calibration.method}, on the {len(recent)} {rows_en}, each predicted by the same "
            f"learner fitted on every other row ({folds} folds)"
        )
        how_fr = (
            f"{calibration.method}, sur les {len(recent)} {rows_fr}, chacune prédite par le "
            f"même modèle ajusté sur toutes les autres lignes ({folds} plis)"
        )
    else:  # test rows with one outcome only cannot calibrate: keep the held-out map
        calibration = model.calibration
        how = "kept from the held-out model: the test rows have one outcome only"
        how_fr = "celui du modèle évalué : les lignes de test n'ont qu'une seule issue"
    learner = refit(model.learner, x, y, model.encoder, every, recency=recency)
    card = {
        **model.card,
        "algorithm": model.card["algorithm"] + "; then refitted with the same "
        "hyper-parameters on every row, test period included",
        "size": learner.size,
        "importance": learner.importance(model.encoder, x[every]),
        "refit": {
            "done": True,
            "rows": len(every),
            "through": split.window.get("test_to"),
            "calibration": how,
            "calibration_fr": how_fr,
        },
    }
    card["rows"] = {**card["rows"], "refit": len(every)}
    return Model(
        learner=learner,
        encoder=model.encoder,
        calibration=calibration,
        card=card,
        reference=reference_of(model.encoder, x[every]),
        held_out=model,
    )


ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_POSITIVES = 50


HALF_LIFE = 0.25
"""The calibration period's recency weighting: a row's weight halves every quarter of it."""


def _calibrate(
    raw: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *, sigmoid: bool = False
) -> Calibration:
    """Platt's sigmoid for the logistic regression or on a small slice, isotonic regression
    for trees on a large enough one.

    Isotonic regression overfits the extremes of a small slice (a top bin of only wins would
    read as certainty), as scikit-learn's guide warns, and clips at the largest probability
    it saw: a logistic regression that extrapolates a shift would lose it. Trees do not
    extrapolate, and their raw probabilities need isotonic's freedom. `weight` favours the
    most recent rows, so that a drifting base rate is followed.
    """
    big = len(y) >= ISOTONIC_MIN_ROWS and y.sum() >= ISOTONIC_MIN_POSITIVES
    if big and not sigmoid:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            raw, y, sample_weight=weight
        )
        return Calibration(
            x=np.asarray(iso.X_thresholds_, dtype=np.float64),
            y=np.asarray(iso.y_thresholds_, dtype=np.float64),
        )
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e4).fit(logit(raw)[:, None], y, sample_weight=weight)
    return Calibration(
        x=np.array([]),
        y=np.array([]),
        slope=float(platt.coef_[0][0]),
        intercept=float(platt.intercept_[0]),
    )


def weight_now(model: Model, x: np.ndarray) -> dict[str, float]:
    """Each feature's share of the mean absolute contribution on `x` (the most recent period):
    how much it moves the scores now, which a feature that barely varied in training but
    jumped since (an interest rate after a crisis) does far more than its training share."""
    if len(x) == 0:
        return {}
    strength = np.abs(model.contributions(x)[:, :-1]).mean(axis=0)
    total = float(strength.sum()) or 1.0
    return {
        name: round(float(s / total), 4)
        for name, s in zip(model.encoder.names, strength, strict=True)
    }


def _num(value: Any, fmt: str = ".4f") -> str:
    return "-" if value is None else format(value, fmt)


def _auc(m: Mapping[str, Any]) -> str:
    ci = m.get("auc_ci")
    return _num(m.get("auc")) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _refit_line(refit: Mapping[str, Any] | None) -> str:
    if not refit or not refit.get("done"):
        return "- Refit on every row / Réajusté sur toutes les lignes: no / non"
    through = f" through / jusqu'au {refit['through']}" if refit.get("through") else ""
    return (
        f"- Refit on every row / Réajusté sur toutes les lignes: yes / oui — {refit['rows']} "
        f"rows / lignes{through}; calibration: {refit['calibration']} / "
        f"{refit['calibration_fr']}"
    )


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown, in English and French."""
    m = card["metrics"]
    rows = card["rows"]
    window = card.get("window") or {}
    top = sorted(card["importance"].items(), key=lambda kv: -kv[1])[:8]
    shift = card.get("shift") or {}
    alarm = shift.get("warning")
    compared = [*card.get("candidates", []), {"name": "naive", "test": card.get("naive")}]
    lines = [
        f"# Model card / Fiche du modèle — {card['version']}",
        "",
        *([f"> ⚠ {alarm['en']}", ">", f"> ⚠ {alarm['fr']}", ""] if alarm else []),
        f"- Model / Modèle: **{card.get('model', 'lightgbm')}** — {card['algorithm']}",
        f"- Chosen by / Choisi par: {card.get('selection', '-')}",
        f"- Target / Cible: `{card['target']}` (positive rate / taux positif "
        f"{card['positive_rate']:.1%})",
        f"- Data / Données: {card.get('source') or '-'}; {rows['total']} rows / lignes "
        f"(train {rows['train']}, calibration {rows['calibration']}, test {rows['test']})",
        f"- Split / Découpage: {card['split']}"
        + (
            f" — train {window['train_from']} → {window['train_to']}, "
            f"calibration → {window.get('calibration_to', '-')}, "
            f"test {window['test_from']} → {window['test_to']}"
            if "train_from" in window
            else (f" — {window['note']}" if "note" in window else "")
        ),
        f"- Context columns (not customer traits) / Colonnes de contexte (pas des traits du "
        f"client): {', '.join(card.get('context') or []) or '-'}",
        "- Columns left out / Colonnes écartées: "
        + (
            "; ".join(f"`{k}` ({v})" for k, v in (card.get("skipped_columns") or {}).items()) or "-"
        ),
        f"- Trained at / Entraîné le: {card.get('trained_at', '-')}",
        _refit_line(card.get("refit")),
        "",
        "## Metrics on the most recent period / Mesures sur la période la plus récente",
        "",
        *(
            [
                "Measured before the refit, on rows the model had not seen: the honest "
                "figures. / Mesurées avant le réajustement, sur des lignes que le modèle "
                "n'avait pas vues : les chiffres honnêtes.",
                "",
            ]
            if (card.get("refit") or {}).get("done")
            else []
        ),
        "| metric / mesure | value / valeur |",
        "|---|---|",
        f"| AUC [95% CI / IC 95 %] | {_auc(m)} |",
        f"| expected calibration error / erreur de calibrage (ECE) | {_num(m.get('ece'))} |",
        f"| mean predicted / prédit moyen | {_num(m.get('mean_predicted'))} |",
        f"| observed rate / taux observé | {_num(m.get('positive_rate'))} |",
        f"| log-loss | {_num(m.get('log_loss'))} |",
        f"| Brier | {_num(m.get('brier'))} |",
        f"| top-decile lift / lift du premier décile | {_num(m.get('top_decile_lift'), '.3f')} |",
        "",
        "## Candidates / Candidats",
        "",
        "Same test period, each calibrated on the same period before it; the naive baseline "
        "predicts the past positive rate for everyone. / Même période de test, chacun calibré "
        "sur la même période qui la précède ; la référence naïve prédit à tous le taux positif "
        "passé.",
        "",
        "| candidate / candidat | AUC per fold / par pli (oldest → most recent) | test AUC "
        "[95% CI] | test ECE | test log-loss | top-decile lift |",
        "|---|---|---|---|---|---|",
        *[
            f"| {c['name']}{' ✓' if c['name'] == card.get('model') else ''} | "
            + (", ".join(_num(f.get("auc"), ".3f") for f in c.get("folds", [])) or "-")
            + f" | {_auc(c['test'])} | {_num(c['test'].get('ece'))} | "
            f"{_num(c['test'].get('log_loss'))} | {_num(c['test'].get('top_decile_lift'), '.3f')} |"
            for c in compared
            if c.get("test")
        ],
        "",
        "## Calibration (equal-count bins / classes d'effectif égal)",
        "",
        "| predicted range / plage prédite | predicted / prédit | observed / observé "
        "| rows / lignes |",
        "|---|---|---|---|",
        *[
            f"| {b.get('from', 0):.3f} to {b.get('to', 0):.3f} | {b['predicted']:.3f} | "
            f"{b['observed']:.3f} | {b['count']} |"
            for b in m["calibration"]
        ],
        "",
        "## Lift by decile / Lift par décile",
        "",
        "| decile / décile | rows / lignes | positives / positifs | rate / taux | lift "
        "| captured / capturés |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['decile']} | {r['rows']} | {r['positives']} | {r['rate']:.3f} | "
            f"{_num(r['lift'], '.2f')} | {r['captured']:.1%} |"
            for r in m.get("lift", [])
        ],
        "",
        "## Shift: training vs most recent period / Dérive : entraînement vs période récente",
        "",
        "| feature / variable | weight now / poids actuel | PSI | level / niveau | outside "
        "training range / hors plage |",
        "|---|---|---|---|---|",
        *[
            f"| {r['feature']} | {r['importance']:.1%} | {r['psi']:.3f} | {r['level']} | "
            f"{r['outside_share']:.1%} |"
            for r in shift.get("features", [])
        ],
        "",
        "## Most important features / Variables les plus importantes",
        "",
        *[f"- `{name}`: {share:.1%}" for name, share in top],
        "",
        "## Use and limits / Usage et limites",
        "",
        "Scores rank prospects for a salesperson's attention; they are not a decision about a "
        "person. Prospects without a legal basis for contact are never scored. / Les scores "
        "ordonnent les prospects pour l'attention d'un commercial ; ce ne sont pas des décisions "
        "sur une personne. Les prospects sans base légale de contact ne sont jamais notés.",
        "",
    ]
    return "\n".join(lines)


HELD_OUT = "held-out"
"""The sub-directory of a version holding the model before its refit, which the promotion
gate compares (`vigie.ai.versions`)."""


def _write_learner(model: Model, path: Path, version: str) -> None:
    meta: dict[str, Any] = {
        "version": version,
        "learner": model.kind,
        "features": model.encoder.to_list(),
        "calibration": model.calibration.to_dict(),
        "reference": model.reference,
    }
    if isinstance(model.learner, Trees):
        model.learner.booster.save_model(str(path / "model.txt"))
    else:
        meta["logistic"] = model.learner.model.to_dict()
    (path / "model.json").write_text(json.dumps(meta), encoding="utf-8")


def save(model: Model, root: Path, *, trained_at: datetime) -> Path:
    """Write `model` as the next version under `root` (with its held-out model before the
    refit, when there was one) and return its directory."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[1:]) for p in root.glob("v[0-9]*") if p.name[1:].isdigit()]
    version = f"v{max(numbers, default=0) + 1:04d}"
    path = root / version
    path.mkdir()
    model.card["version"] = version
    model.card["trained_at"] = trained_at.isoformat()
    _write_learner(model, path, version)
    if model.held_out is not None:
        (path / HELD_OUT).mkdir()
        _write_learner(model.held_out, path / HELD_OUT, version)
    (path / "card.json").write_text(json.dumps(model.card, indent=2), encoding="utf-8")
    (path / "card.md").write_text(card_markdown(model.card), encoding="utf-8")
    model.path = path
    return path


def resolve(path: Path) -> Path:
    """A model directory, or inside a models root the active version (`active.json`, kept
    by `vigie.ai.versions`), else the newest."""

    def saved(folder: Path) -> bool:  # every learner saves model.json
        return (folder / "model.json").exists()

    if saved(path):
        return path
    active = path / "active.json"
    if active.exists():
        version = str(json.loads(active.read_text(encoding="utf-8")).get("version") or "")
        if version and saved(path / version):
            return path / version
    versions = sorted(p for p in path.glob("v[0-9]*") if saved(p))
    if not versions:
        raise FileNotFoundError(f"{path}: no trained model; run `vigie leads train` first")
    return versions[-1]


def _read_learner(path: Path, card: dict[str, Any]) -> Model:
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    learner: Learner
    if meta.get("learner", "lightgbm") == "lightgbm":
        import lightgbm as lgb

        learner = Trees(lgb.Booster(model_file=str(path / "model.txt")))
    else:
        learner = Logistic(SplineLogit.from_dict(meta["logistic"]))
    return Model(
        learner=learner,
        encoder=Encoder.from_list(meta["features"]),
        calibration=Calibration.from_dict(meta["calibration"]),
        card=card,
        reference=meta["reference"],
    )


def load(path: Path) -> Model:
    """Load a saved model (a version directory, or a models root: its active version)."""
    path = resolve(path)
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    model = _read_learner(path, card)
    model.path = path
    if (path / HELD_OUT / "model.json").exists():
        model.held_out = _read_learner(path / HELD_OUT, card)
    return model


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(clipped / (1 - clipped)))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))
