"""From a table to a model's input: feature detection, encoding, the target, the split.

Works on any tabular history (the CRM's deals, or a user's own CSV export such as a bank's
marketing calls): text and boolean columns become categorical, numbers stay numeric,
missing values stay missing (LightGBM handles them), identifiers are left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

MAX_CATEGORIES = 200
POSITIVE = {"1", "true", "yes", "y", "oui", "won", "win", "converted", "t", "1.0"}
NEGATIVE = {"0", "false", "no", "n", "non", "lost", "lose", "f", "0.0"}


@dataclass(frozen=True)
class Feature:
    """One model input: its column, kind, and for a categorical its known categories."""

    name: str
    kind: Literal["categorical", "numeric"]
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feature:
        return cls(name=data["name"], kind=data["kind"], categories=tuple(data["categories"]))


@dataclass(frozen=True)
class Encoder:
    """Turns a table's feature columns into a float32 matrix, the same way every time."""

    features: tuple[Feature, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """Columns left out and why (reported by training, not saved with the model)."""
    _lookups: dict[str, dict[str, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def column(self, frame: pl.DataFrame, feature: Feature) -> np.ndarray:
        """One feature as float32 codes or numbers; unknown or missing values are NaN."""
        if feature.name not in frame.columns:
            return np.full(frame.height, np.nan, dtype=np.float32)
        series = frame[feature.name]
        if feature.kind == "numeric":
            if series.dtype == pl.Boolean:
                series = series.cast(pl.Float32)
            return series.cast(pl.Float32, strict=False).to_numpy().astype(np.float32, copy=False)
        if isinstance(series.dtype, pl.Enum):
            values = series.dtype.categories.to_list()
        else:
            values = list(feature.categories)
            series = series.cast(pl.String).cast(pl.Enum(values), strict=False)
        index = {c: i for i, c in enumerate(feature.categories)}
        table = np.array([index.get(v, -1) for v in values] + [-1], dtype=np.float32)
        table[table < 0] = np.nan
        codes = series.to_physical().fill_null(len(values)).to_numpy()
        column: np.ndarray = table[codes]
        return column

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """All features of `frame` as an (n, k) float32 matrix."""
        out = np.empty((frame.height, len(self.features)), dtype=np.float32)
        for j, feature in enumerate(self.features):
            out[:, j] = self.column(frame, feature)
        return out

    def label(self, feature_index: int, value: float) -> str:
        """The readable value of a feature: a category's name or the number."""
        feature = self.features[feature_index]
        if value != value:  # NaN
            return "?"
        if feature.kind == "categorical":
            return feature.categories[int(value)]
        return f"{value:g}"

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.features]

    @classmethod
    def from_list(cls, data: list[dict[str, Any]]) -> Encoder:
        return cls(features=tuple(Feature.from_dict(d) for d in data))


def detect_features(
    frame: pl.DataFrame, *, exclude: set[str], allowed: list[str] | None = None
) -> Encoder:
    """Choose and type the feature columns of `frame`; say which columns were left out, why.

    Numbers and booleans are numeric; text is categorical with its most frequent
    `MAX_CATEGORIES` values; dates are left out. A text column whose values are nearly all
    distinct (an identifier, a name), a whole-number column with only distinct values that
    is named like an id or a row number or counts 1, 2, 3… (a row number: in a time-ordered
    file it would stand for the date), and constant columns are left out.
    """
    features: list[Feature] = []
    skipped: list[tuple[str, str]] = []
    columns = allowed if allowed is not None else frame.columns
    for name in columns:
        if name in exclude or name not in frame.columns:
            continue
        series = frame[name]
        non_null = series.drop_nulls()
        if non_null.n_unique() <= 1:
            skipped.append((name, "constant"))
            continue
        if series.dtype.is_numeric():
            reason = _id_like(name, non_null)
            if reason:
                skipped.append((name, reason))
                continue
            features.append(Feature(name=name, kind="numeric"))
            continue
        if series.dtype == pl.Boolean:
            features.append(Feature(name=name, kind="numeric"))
            continue
        if series.dtype.is_temporal():
            skipped.append((name, "a date or time (name it with --time-column)"))
            continue
        text = non_null.cast(pl.String)
        if text.n_unique() > max(50, 0.5 * len(text)):
            skipped.append((name, "nearly all values distinct (an identifier or free text)"))
            continue
        counts = text.value_counts(sort=True)
        categories = tuple(counts[counts.columns[0]].head(MAX_CATEGORIES).to_list())
        features.append(Feature(name=name, kind="categorical", categories=categories))
    if not features:
        raise ValueError(
            "no usable feature column: every column is the target, an id or constant"
            + (f" (left out: {dict(skipped)})" if skipped else "")
        )
    return Encoder(features=tuple(features), skipped=tuple(skipped))


ROW_NAMES = {"row", "rows", "index", "idx", "row_number", "rownum", "row_no", "n", "no", "#"}


def _id_like(name: str, values: pl.Series) -> str | None:
    """Why a numeric column is an identifier or a row number, or None."""
    if values.n_unique() != len(values):
        return None
    if _looks_like_id(name):
        return "an identifier (every value distinct)"
    if values.dtype.is_float() and not (values.round(0) == values).all():
        return None
    lowered = name.strip().lower()
    if lowered in ROW_NAMES or lowered.startswith("unnamed"):
        return "a row number (every value distinct)"
    span = values.cast(pl.Float64)
    low, high = span.min(), span.max()
    counts = isinstance(low, float) and isinstance(high, float) and high - low + 1 == len(values)
    if counts and len(values) >= 20:
        return "a row number (the values count 1, 2, 3…)"
    return None


def _looks_like_id(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in {"id", "key", "uuid"}
        or lowered.endswith(("_id", " id"))
        or lowered.startswith("id_")
    )


def target_vector(series: pl.Series, *, positive: str | None = None) -> np.ndarray:
    """The outcome as 0/1: booleans, 0/1 numbers, or yes/no, won/lost, oui/non text.

    `positive` names the positive value when the column holds something else; a value that
    is neither positive nor negative raises ValueError naming it and its row.
    """
    if series.null_count():
        row = int(np.flatnonzero(series.is_null().to_numpy())[0]) + 1
        raise ValueError(f"target column {series.name!r}, row {row}: missing outcome")
    if series.dtype == pl.Boolean:
        return series.cast(pl.Int8).to_numpy()
    text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
    if positive is not None:
        hits = text == positive.strip().lower()
        if not hits.any():
            counts = series.cast(pl.String).value_counts(sort=True).head(10)
            found = ", ".join(f"{v!r} ({n:,})" for v, n in counts.iter_rows())
            raise ValueError(
                f"--positive {positive!r} never appears in target column {series.name!r}; "
                f"values found: {found}"
            )
        return hits.cast(pl.Int8).to_numpy()
    is_pos = text.is_in(POSITIVE)
    is_neg = text.is_in(NEGATIVE)
    bad = ~(is_pos | is_neg)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"target column {series.name!r}, row {row + 1}: {series[row]!r} is neither a yes "
            "nor a no; name the positive value with --positive"
        )
    return is_pos.cast(pl.Int8).to_numpy()


def parse_times(series: pl.Series) -> pl.Series:
    """A time column as dates or times; text is read as ISO dates or date-times.

    A value that does not read raises ValueError naming the column, how many rows fail and
    a sample of them.
    """
    name = series.name
    if series.null_count():
        row = int(np.flatnonzero(series.is_null().to_numpy())[0]) + 1
        raise ValueError(f"time column {name!r}, row {row}: missing date or time")
    if series.dtype.is_temporal() or series.dtype.is_numeric():
        return series
    text = series.cast(pl.String).str.strip_chars()
    parsed: pl.Series | None = None
    for as_date in (False, True):
        try:
            candidate = (
                text.str.to_date(strict=False) if as_date else text.str.to_datetime(strict=False)
            )
        except pl.exceptions.PolarsError:
            continue
        if parsed is None or candidate.null_count() < parsed.null_count():
            parsed = candidate
    bad = parsed.is_null() if parsed is not None else pl.Series([True] * len(text))
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        sample = ", ".join(f"{text[int(i)]!r} (row {int(i) + 1})" for i in rows[:3])
        raise ValueError(
            f"time column {name!r}: {len(rows):,} of {len(text):,} values are not a date or "
            f"time, e.g. {sample}; use ISO dates such as 2024-05-31 or 2024-05-31T14:30"
        )
    assert parsed is not None
    return parsed


@dataclass(frozen=True)
class Split:
    """Row indices of the training, calibration and evaluation slices, and how they were cut."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray
    method: str
    window: dict[str, str]


def split_rows(
    frame: pl.DataFrame,
    y: np.ndarray,
    *,
    time_column: str | None,
    test_share: float = 0.2,
    calibration_share: float = 0.2,
    seed: int = 0,
) -> Split:
    """Train on the past, calibrate on the recent past, evaluate on the most recent period.

    Without a time column the split is random and stratified on the outcome.
    """
    n = frame.height
    if time_column is not None:
        if time_column not in frame.columns:
            raise ValueError(f"--time-column {time_column!r} is not a column of the data")
        times = parse_times(frame[time_column])
        order = np.argsort(times.to_physical().to_numpy(), kind="stable")
        n_test = max(1, int(n * test_share))
        n_cal = max(1, int((n - n_test) * calibration_share))
        train, cal, test = (
            order[: n - n_test - n_cal],
            order[n - n_test - n_cal : n - n_test],
            order[n - n_test :],
        )
        sorted_times = times.sort()
        if len(np.unique(y)) > 1 and len(np.unique(y[train])) < 2:
            # The past holds one outcome only (e.g. every early deal lost): nothing to learn
            # from it alone; the split falls back to random, and the card says why.
            fallback = split_rows(
                frame, y, time_column=None, test_share=test_share,
                calibration_share=calibration_share, seed=seed,
            )  # fmt: skip
            note = (
                f"every row before {sorted_times[len(train)]} has the same outcome: "
                "split at random instead of by time"
            )
            return dataclasses.replace(fallback, window={"note": note})

        def when(i: int) -> str:
            return str(sorted_times[i])

        window = {
            "train_from": when(0),
            "train_to": when(len(train) - 1),
            "calibration_to": when(len(train) + len(cal) - 1),
            "test_from": when(n - n_test),
            "test_to": when(n - 1),
        }
        return Split(train=train, calibration=cal, test=test, method="time", window=window)
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    strat = y if min(int(y.sum()), int(n - y.sum())) >= 2 else None
    rest, test = train_test_split(index, test_size=test_share, random_state=seed, stratify=strat)
    strat_rest = y[rest] if strat is not None else None
    train, cal = train_test_split(
        rest, test_size=calibration_share, random_state=seed, stratify=strat_rest
    )
    return Split(
        train=np.sort(train),
        calibration=np.sort(cal),
        test=np.sort(test),
        method="random stratified",
        window={},
    )
