"""The regularised logistic regression candidate: one-hot categories, spline numbers.

Scikit-learn fits it (`OneHotEncoder`-style indicators, `SplineTransformer` with linear
extrapolation, `LogisticRegression` with an L2 penalty); what is kept is the fitted model as
one additive shape per feature — a table of log-odds per category, a B-spline per number —
so that it is saved as plain JSON, scores a million rows with a few vectorised lookups, and
explains each score exactly (each feature's share of the log-odds). Extrapolation matters:
a number beyond the training range (an interest rate never seen before) keeps the trend the
model learnt instead of freezing at the edge, as trees do. The trend is the least-squares
slope of the feature's learnt effect over the training values, not the spline's slope at
its last point, which the few rows near an edge make erratic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from vigie.ai.features import Encoder

if TYPE_CHECKING:  # SciPy loads when a model is fitted or read, not with every web app
    from scipy import sparse

N_KNOTS = 5
DEGREE = 3
MAX_ITER = 2000


@dataclass(frozen=True)
class Shape:
    """One feature's additive effect on the log-odds.

    `kind` is 'table' (log-odds per category code, the last slot for missing or unknown),
    'spline' (B-spline knots `t` and coefficients `c`; beyond the training range, a straight
    line of slope `slope` from the edge) or 'linear' (`slope` times the number). `fill`
    replaces a missing number, `missing` is added when it was.
    """

    kind: str
    table: tuple[float, ...] = ()
    t: tuple[float, ...] = ()
    c: tuple[float, ...] = ()
    slope: float = 0.0
    fill: float = 0.0
    missing: float = 0.0
    mean: float = 0.0

    def __call__(self, column: np.ndarray) -> np.ndarray:
        """The shape's log-odds for each value of an encoded column."""
        if self.kind == "table":
            table = np.asarray(self.table)
            codes = np.nan_to_num(column, nan=len(table) - 1).astype(np.int64)
            codes[(codes < 0) | (codes >= len(table))] = len(table) - 1
            return np.asarray(table[codes])
        values = column.astype(np.float64)
        nan = ~np.isfinite(values)
        values = np.where(nan, self.fill, values)
        if self.kind == "linear":
            out = self.slope * values
        else:
            out = _spline(np.asarray(self.t), np.asarray(self.c), self.slope, values)
        return np.asarray(out + nan * self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": list(self.table),
            "t": list(self.t),
            "c": list(self.c),
            "slope": self.slope,
            "fill": self.fill,
            "missing": self.missing,
            "mean": self.mean,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shape:
        return cls(
            kind=data["kind"],
            table=tuple(data["table"]),
            t=tuple(data["t"]),
            c=tuple(data["c"]),
            slope=data["slope"],
            fill=data["fill"],
            missing=data["missing"],
            mean=data["mean"],
        )


def _spline(t: np.ndarray, c: np.ndarray, slope: float, x: np.ndarray) -> np.ndarray:
    """A cubic B-spline inside its base interval, a line of `slope` from each edge outside."""
    from scipy.interpolate import BSpline

    spline = BSpline(t, c, DEGREE, extrapolate=False)
    lo, hi = t[DEGREE], t[-DEGREE - 1]
    inside = np.clip(x, lo, hi)
    out = np.asarray(spline(inside))
    below, above = x < lo, x > hi
    if below.any():
        out[below] = spline(lo) + (x[below] - lo) * slope
    if above.any():
        out[above] = spline(hi) + (x[above] - hi) * slope
    return out


@dataclass(frozen=True)
class SplineLogit:
    """A fitted additive logistic model: intercept plus one `Shape` per encoder feature."""

    intercept: float
    shapes: tuple[Shape, ...]
    penalty: float

    def terms(self, x: np.ndarray) -> np.ndarray:
        """Each feature's centred log-odds (n, k): the exact contributions."""
        out = np.empty(x.shape, dtype=np.float64)
        for j, shape in enumerate(self.shapes):
            out[:, j] = shape(x[:, j]) - shape.mean
        return out

    @property
    def bias(self) -> float:
        """The log-odds of an average row (intercept plus every shape's training mean)."""
        return self.intercept + sum(s.mean for s in self.shapes)

    def logit(self, x: np.ndarray) -> np.ndarray:
        total = np.full(x.shape[0], self.intercept, dtype=np.float64)
        for j, shape in enumerate(self.shapes):
            total += shape(x[:, j])
        return total

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.logit(x))))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature log-odds contributions with the bias as last column (sums to the
        log-odds, like LightGBM's pred_contrib)."""
        terms = self.terms(x)
        return np.column_stack([terms, np.full(x.shape[0], self.bias)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "penalty": self.penalty,
            "shapes": [s.to_dict() for s in self.shapes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SplineLogit:
        return cls(
            intercept=data["intercept"],
            penalty=data["penalty"],
            shapes=tuple(Shape.from_dict(s) for s in data["shapes"]),
        )


@dataclass
class _Block:
    """The design columns of one feature and how to read its coefficients back."""

    kind: str
    width: int
    t: np.ndarray | None = None
    fill: float = 0.0
    scale: float = 1.0
    has_missing: bool = False


def _knots(values: np.ndarray) -> np.ndarray | None:
    """Quantile knots of a number, or None when it has too few distinct values for a spline."""
    if len(np.unique(values)) < N_KNOTS + 2:
        return None
    knots = np.unique(np.quantile(values, np.linspace(0, 1, N_KNOTS)))
    return knots if len(knots) >= 3 else None


def _design(
    x: np.ndarray, encoder: Encoder, blocks: list[_Block] | None
) -> tuple[sparse.csr_matrix, list[_Block]]:
    """The model's design matrix: indicators for categories, splines or a scaled number."""
    from scipy import sparse
    from sklearn.preprocessing import SplineTransformer

    fitting = blocks is None
    built: list[_Block] = [] if blocks is None else blocks
    parts: list[Any] = []
    n = x.shape[0]
    for j, feature in enumerate(encoder.features):
        column = x[:, j]
        if feature.kind == "categorical":
            width = len(feature.categories) + 1
            codes = np.nan_to_num(column, nan=width - 1).astype(np.int64)
            parts.append(sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, width)))
            if fitting:
                built.append(_Block("table", width))
            continue
        values = column.astype(np.float64)
        nan = ~np.isfinite(values)
        if fitting:
            finite = values[~nan]
            fill = float(np.median(finite)) if len(finite) else 0.0
            knots = _knots(finite)
            if knots is None:
                spread = float(finite.std()) if len(finite) else 0.0
                block = _Block("linear", 1, fill=fill, scale=spread or 1.0)
            else:
                block = _Block("spline", len(knots) + DEGREE - 1, t=knots, fill=fill)
            block.has_missing = bool(nan.any())
            built.append(block)
        else:
            block = built[j]
        filled = np.where(nan, block.fill, values)
        if block.kind == "linear":
            parts.append(sparse.csr_matrix((filled / block.scale)[:, None]))
        else:
            assert block.t is not None
            spline = SplineTransformer(
                degree=DEGREE,
                knots=block.t[:, None],
                extrapolation="linear",
                include_bias=True,
            )
            parts.append(sparse.csr_matrix(spline.fit_transform(filled[:, None])))
        if block.has_missing:
            parts.append(sparse.csr_matrix(nan.astype(np.float64)[:, None]))
    return sparse.hstack(parts, format="csr"), built


def fit(
    x: np.ndarray,
    y: np.ndarray,
    encoder: Encoder,
    *,
    penalty: float = 1.0,
    weight: np.ndarray | None = None,
) -> SplineLogit:
    """Fit the L2-regularised logistic regression (C = `penalty`) on an encoded matrix."""
    from scipy.interpolate import BSpline
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import SplineTransformer

    design, blocks = _design(x, encoder, None)
    clf = LogisticRegression(C=penalty, max_iter=MAX_ITER, solver="newton-cholesky")
    clf.fit(design, y, sample_weight=weight)
    coef = clf.coef_[0]
    shapes: list[Shape] = []
    at = 0
    for j, block in enumerate(blocks):
        weights = coef[at : at + block.width]
        at += block.width
        missing = 0.0
        if block.kind != "table" and block.has_missing:
            missing = float(coef[at])
            at += 1
        if block.kind == "table":
            shape = Shape("table", table=tuple(float(w) for w in weights))
        elif block.kind == "linear":
            shape = Shape(
                "linear", slope=float(weights[0] / block.scale), fill=block.fill, missing=missing
            )
        else:
            assert block.t is not None
            transformer = SplineTransformer(
                degree=DEGREE, knots=block.t[:, None], extrapolation="linear"
            ).fit(block.t[:, None])
            t = transformer.bsplines_[0].t
            seen = x[:, j][np.isfinite(x[:, j])].astype(np.float64)
            effect = BSpline(t, weights, DEGREE, extrapolate=False)(seen)
            shape = Shape(
                "spline",
                t=tuple(float(v) for v in t),
                c=tuple(float(w) for w in weights),
                slope=trend(seen, effect),
                fill=block.fill,
                missing=missing,
            )
        shapes.append(replace(shape, mean=float(shape(x[:, j]).mean()) if len(x) else 0.0))
    return SplineLogit(intercept=float(clf.intercept_[0]), shapes=tuple(shapes), penalty=penalty)


def trend(x: np.ndarray, effect: np.ndarray) -> float:
    """The least-squares slope of `effect` against `x`."""
    spread = float(np.var(x))
    return float(np.mean((x - x.mean()) * (effect - effect.mean())) / spread) if spread else 0.0


def design_matrix(x: np.ndarray, encoder: Encoder) -> sparse.csr_matrix:
    """The design matrix `fit` would build for `x` (for tests and baselines)."""
    return _design(x, encoder, None)[0]
