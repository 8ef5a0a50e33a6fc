"""Feature detection, the target and the split on a generic table."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from vigie.ai.features import detect_features, split_rows, target_vector


def bank_like(n: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "client_id": [f"C{i:05d}" for i in range(n)],
            "row_id": np.arange(n),
            "age": rng.integers(18, 90, n),
            "job": rng.choice(["admin.", "technician", "management", "unknown"], n),
            "balance": pl.Series(
                np.where(rng.random(n) < 0.1, np.nan, rng.normal(1000, 500, n))
            ).fill_nan(None),
            "housing": rng.choice(["yes", "no"], n),
            "constant": ["x"] * n,
            "y": rng.choice(["yes", "no"], n, p=[0.2, 0.8]),
        }
    )


def test_detects_kinds_and_skips_ids() -> None:
    """Text becomes categorical, numbers numeric; identifiers and constants are left out."""
    encoder = detect_features(bank_like(), exclude={"y"})
    kinds = {f.name: f.kind for f in encoder.features}
    assert kinds == {
        "age": "numeric",
        "job": "categorical",
        "balance": "numeric",
        "housing": "categorical",
    }


def test_matrix_keeps_missing_and_unknown_as_nan() -> None:
    """Missing numbers and categories never seen in training are NaN, not a made-up value."""
    encoder = detect_features(bank_like(), exclude={"y"})
    fresh = pl.DataFrame({"age": [30], "job": ["astronaut"], "balance": [None], "housing": ["yes"]})
    row = encoder.matrix(fresh)[0]
    assert row[0] == 30
    assert np.isnan(row[1]) and np.isnan(row[2])
    assert encoder.features[3].categories[int(row[3])] == "yes"


def test_target_accepts_yes_no_and_names_bad_rows() -> None:
    """yes/no, won/lost and booleans become 1/0; anything else names its row."""
    assert target_vector(pl.Series("y", ["yes", "no", "Yes"])).tolist() == [1, 0, 1]
    assert target_vector(pl.Series("won", [True, False])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="row 2"):
        target_vector(pl.Series("y", ["yes", "perhaps"]))
    assert target_vector(pl.Series("y", ["sub", "nosub"]), positive="sub").tolist() == [1, 0]


def test_time_split_trains_on_the_past() -> None:
    """With a time column every training row is older than every test row."""
    n = 300
    start = date(2025, 1, 1)
    frame = pl.DataFrame(
        {"d": [start + timedelta(days=int(i)) for i in np.random.default_rng(1).permutation(n)]}
    )
    split = split_rows(frame, np.zeros(n, dtype=np.int8), time_column="d")
    days = frame["d"].to_numpy()
    assert days[split.train].max() < days[split.calibration].min()
    assert days[split.calibration].max() < days[split.test].min()
    assert split.method == "time"


def test_random_split_is_stratified() -> None:
    """Without a time column each slice keeps the outcome's rate."""
    y = np.array([1] * 100 + [0] * 900, dtype=np.int8)
    split = split_rows(pl.DataFrame({"a": np.arange(1000)}), y, time_column=None)
    for part in (split.train, split.calibration, split.test):
        assert abs(y[part].mean() - 0.1) < 0.02
    assert len(set(split.train) | set(split.calibration) | set(split.test)) == 1000


def test_a_positive_value_that_never_appears_names_the_values_found() -> None:
    """--positive with a value absent from the target lists what the column holds (issue 22)."""
    with pytest.raises(ValueError, match=r"--positive 'signed' never appears.*'no' \(3\), 'yes'"):
        target_vector(pl.Series("y", ["no", "yes", "no", "no"]), positive="signed")


def test_an_unreadable_time_column_is_named_with_a_sample() -> None:
    """A text time column that does not read as dates names the column and shows values."""
    frame = pl.DataFrame({"month": ["may", "jun", "jul", "aug"], "x": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match=r"time column 'month': 4 of 4 .*'may' \(row 1\)"):
        split_rows(frame, np.array([0, 1, 0, 1]), time_column="month")


def test_text_dates_are_read() -> None:
    """ISO dates held as text order the split like real dates."""
    frame = pl.DataFrame({"d": ["2024-03-01", "2024-01-01", "2024-02-01"] * 10})
    split = split_rows(frame, np.zeros(30), time_column="d", test_share=0.34)
    assert set(frame["d"].gather(split.test).to_list()) == {"2024-03-01"}


def test_row_numbers_are_left_out_and_reported() -> None:
    """A numeric `row` column, or one that counts 1, 2, 3…, is not a feature; the encoder
    says why (issue 22)."""
    n = 200
    rng = np.random.default_rng(1)
    frame = pl.DataFrame(
        {
            "row": np.arange(n),
            "counter": rng.permutation(np.arange(1, n + 1)),
            "age": rng.integers(18, 90, n),
            "const": [1] * n,
        }
    )
    encoder = detect_features(frame, exclude=set())
    assert encoder.names == ["age"]
    skipped = dict(encoder.skipped)
    assert "row number" in skipped["row"] and "row number" in skipped["counter"]
    assert skipped["const"] == "constant"


def test_a_past_with_one_outcome_falls_back_to_a_random_split() -> None:
    """Every deal of the earliest period lost, wins only later: a time split would train on
    one outcome, so the split is random (stratified) and the card's window says why."""
    n = 100
    start = date(2025, 1, 1)
    frame = pl.DataFrame({"d": [start + timedelta(days=i) for i in range(n)]})
    y = np.array([0] * 70 + [1, 0] * 15, dtype=np.int8)
    split = split_rows(frame, y, time_column="d")
    assert split.method == "random stratified"
    assert "same outcome" in split.window["note"]
    assert len(np.unique(y[split.train])) == 2
