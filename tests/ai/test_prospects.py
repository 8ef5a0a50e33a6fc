"""The prospect base: generator and import."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from vigie.ai.prospects import (
    SCHEMA,
    ProspectImportError,
    generate_base,
    generate_partition,
    import_prospects,
    parse_mapping,
    partitions,
    validate,
)


def test_generator_is_deterministic_and_in_schema() -> None:
    """The same seed and partition give the same rows, with every column of the schema."""
    a = generate_partition(1, 500, seed=9)
    b = generate_partition(1, 500, seed=9)
    assert a.equals(b)
    assert a.columns == list(SCHEMA)
    assert a["company_id"].n_unique() == 500
    assert set(a["country"].cast(pl.String).unique()) <= {"BE", "FR"}


def test_partitions_have_distinct_ids(tmp_path: Path) -> None:
    """A base is written as several Parquet partitions whose company ids never collide."""
    paths = generate_base(tmp_path, rows=2500, seed=1, rows_per_partition=1000)
    assert [p.name for p in paths] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    frame = pl.concat([pl.read_parquet(p) for p in partitions(tmp_path)])
    assert frame.height == 2500
    assert frame["company_id"].n_unique() == 2500


def test_size_band_matches_employees() -> None:
    """Each company's size band is the band of its head count."""
    frame = generate_partition(0, 2000, seed=2)
    bands = frame.select(
        pl.when(pl.col("employees") < 10)
        .then(pl.lit("0-9"))
        .when(pl.col("employees") < 50)
        .then(pl.lit("10-49"))
        .when(pl.col("employees") < 250)
        .then(pl.lit("50-249"))
        .otherwise(pl.lit("250+"))
        .alias("b")
    )["b"]
    assert (bands == frame["size_band"].cast(pl.String)).all()


def test_import_maps_and_converts(tmp_path: Path) -> None:
    """A CSV with its own column names is mapped, typed and written as a partition."""
    csv = tmp_path / "companies.csv"
    csv.write_text(
        "vat;nom;pays;base;staff;web\n"
        "0123.456.789;Boulangerie Lambert;be;legitimate_interest;12;oui\n"
        "0987.654.321;Garage Martin;FR;consent;;non\n",
        encoding="utf-8",
    )
    mapping = parse_mapping(
        "vat=company_id,nom=name,pays=country,base=legal_basis,staff=employees,web=has_website"
    )
    rows, paths = import_prospects(csv, tmp_path / "base", mapping=mapping)
    frame = pl.read_parquet(paths[0])
    assert rows == 2
    assert frame["company_id"].to_list() == [123456789, 987654321]
    assert frame["country"].to_list() == ["BE", "FR"]
    assert frame["has_website"].to_list() == [True, False]
    assert frame["size_band"].to_list() == ["10-49", None]


def test_import_errors_name_column_and_row() -> None:
    """Bad values are reported with their column and 1-based row, all at once."""
    raw = pl.DataFrame(
        {
            "id": ["1", "2", "2", "x"],
            "country": ["BE", "Belgium", "FR", "FR"],
            "legal_basis": ["consent", "consent", "maybe", "none"],
            "employees": ["3", "-1", "4", "5"],
        }
    )
    with pytest.raises(ProspectImportError) as info:
        validate(raw, {"id": "company_id"})
    text = str(info.value)
    assert "column 'country', row 2" in text
    assert "column 'legal_basis', row 3" in text
    assert "column 'employees', row 2" in text
    assert "column 'company_id', row 4" in text
    assert "duplicate" in text


def test_import_requires_key_columns() -> None:
    """A file without a company id says which column to map."""
    with pytest.raises(ProspectImportError, match="company_id"):
        validate(pl.DataFrame({"country": ["BE"], "legal_basis": ["consent"]}), {})


def test_mapping_rejects_unknown_target() -> None:
    """--map refuses a destination that is not a prospect column."""
    with pytest.raises(ValueError, match="not a prospect column"):
        parse_mapping("a=colour")
