"""The `vigie prospects` and `vigie leads` commands end to end, on a small base."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from vigie.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def scored_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after generate, train and score."""
    data = tmp_path_factory.mktemp("cli") / "ai"
    steps = [
        ["prospects", "generate", "--rows", "8000", "--partition-rows", "3000", "--deals", "2500",
         "--reps", "5", "--data", str(data)],
        ["leads", "train", "--data", str(data)],
        ["leads", "score", "--top", "300", "--data", str(data)],
    ]  # fmt: skip
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return data


def test_generate_train_score(scored_data: Path) -> None:
    """The pipeline leaves a versioned model with its card and a run of assigned leads."""
    assert (scored_data / "models" / "v0001" / "card.md").exists()
    leads = pl.read_parquet(scored_data / "leads" / "leads.parquet")
    assert leads.height == 300
    assert leads["rep"].is_not_null().all()
    summary = json.loads((scored_data / "leads" / "summary.json").read_text())
    assert summary["rows"] == 8000 and summary["model"] == "v0001"
    assert summary["excluded"]["no_legal_basis"] > 0
    assert summary["profile"]["fr"]["text"]


def test_explain_names_factors_and_reason(scored_data: Path) -> None:
    """`leads explain` prints the lead's factors and why it went to its rep, in French."""
    leads = pl.read_parquet(scored_data / "leads" / "leads.parquet")
    first = leads.row(0, named=True)
    result = runner.invoke(
        app,
        ["leads", "explain", str(first["company_id"]), "--lang", "fr", "--data", str(scored_data)],
    )
    assert result.exit_code == 0, result.output
    assert "conversion attendue" in result.output
    assert first["name"] in result.output
    missing = runner.invoke(app, ["leads", "explain", "1", "--data", str(scored_data)])
    assert missing.exit_code == 1 and "not among the current leads" in missing.output


def test_report_is_self_contained(scored_data: Path, tmp_path: Path) -> None:
    """The report embeds its plots and loads nothing from elsewhere."""
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["leads", "report", "--out", str(out), "--data", str(scored_data)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "four-fifths" in page and "quatre cinquièmes" in page
    assert "PSI" in page and "already a customer" in page


def test_today_and_profile(scored_data: Path) -> None:
    """Today's proposals and the ideal customer profile print for the reps of the history."""
    today = runner.invoke(app, ["leads", "today", "--data", str(scored_data)])
    assert today.exit_code == 0, today.output
    assert "lead(s)" in today.output and "expected conversion" in today.output
    profile = runner.invoke(app, ["leads", "profile", "--json", "--data", str(scored_data)])
    assert profile.exit_code == 0, profile.output
    assert set(json.loads(profile.output)) == {"en", "fr"}


def test_train_from_a_bank_marketing_like_csv(tmp_path: Path) -> None:
    """A `;`-separated export (yes/no target, text, missing values) trains and reports AUC."""
    rng = np.random.default_rng(3)
    n = 2500
    age = rng.integers(18, 95, n)
    job = rng.choice(["admin.", "retired", "student", "blue-collar", "unknown"], n)
    duration = rng.exponential(260, n)
    pdays = np.where(rng.random(n) < 0.8, -1, rng.integers(1, 400, n))
    logit = -3.2 + duration / 220 + np.isin(job, ["retired", "student"]) * 0.9 + (pdays > 0) * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    lines = ["age;job;duration;pdays;balance;y"]
    for i in range(n):
        balance = "" if i % 17 == 0 else str(int(rng.normal(1500, 900)))
        lines.append(f'{age[i]};"{job[i]}";{duration[i]:.0f};{pdays[i]};{balance};"{y[i]}"')
    csv = tmp_path / "bank.csv"
    csv.write_text("\n".join(lines) + "\n")
    data = tmp_path / "ai"
    result = runner.invoke(
        app, ["leads", "train", "--from-csv", str(csv), "--target", "y", "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "trained" in result.stderr and "5/5" in result.stderr  # the stages, on a bar
    card = json.loads((data / "models" / "v0001" / "card.json").read_text())
    assert card["split"] == "random stratified"
    assert {f["name"] for f in card["features"]} == {"age", "job", "duration", "pdays", "balance"}
    assert card["metrics"]["auc"] > 0.75
    bad = runner.invoke(
        app, ["leads", "train", "--from-csv", str(csv), "--target", "nope", "--data", str(data)]
    )
    assert bad.exit_code == 1 and "'nope' is not a column" in bad.output


def test_train_with_a_regime_change_names_winner_shift_and_left_out_columns(
    tmp_path: Path,
) -> None:
    """Training on a time-ordered export prints each candidate and the naive baseline, the
    columns left out and why, and the shift warning; the profile shows no context column
    (issue 22)."""
    from vigie.ai import regimes

    frame = regimes.history(6000, seed=4).drop("true_probability").with_row_index("row")
    csv = tmp_path / "calls.csv"
    frame.with_columns(pl.col("called_at").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(csv)
    data = tmp_path / "ai"
    args = ["leads", "train", "--from-csv", str(csv), "--target", "converted", "--time-column",
            "called_at", "--context", "rate,confidence,month", "--monotone", "calls=-1",
            "--data", str(data)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "logistic" in out and "lightgbm" in out and "naive" in out
    assert "left out: row — a row number" in out
    assert "⚠ The most recent period differs" in out and "outside the training range" in out
    card = json.loads((data / "models" / "v0001" / "card.json").read_text())
    assert card["context"] == ["rate", "confidence", "month"]
    assert card["monotone"] == {"calls": -1}
    profile = runner.invoke(
        app, ["leads", "profile", "--from-csv", str(csv), "--json", "--data", str(data)]
    )
    assert profile.exit_code == 0, profile.output
    traits = json.loads(profile.output)["en"]["traits"]
    assert traits and not {t["feature"] for t in traits} & {"rate", "confidence", "month"}


def test_train_errors_name_the_input(tmp_path: Path) -> None:
    """A --positive value absent from the target, an unreadable time column and a malformed
    --monotone each stop with a message naming the input and what was found (issue 22)."""
    csv = tmp_path / "calls.csv"
    rows = [
        f"{m},{20 + a % 40},{'yes' if a % 3 == 0 else 'no'}"
        for a, m in zip(range(60), ["may", "jun"] * 30, strict=True)
    ]
    csv.write_text("month,age,y\n" + "\n".join(rows) + "\n")
    base = ["leads", "train", "--from-csv", str(csv), "--target", "y", "--data", str(tmp_path)]
    wrong = runner.invoke(app, [*base, "--positive", "signed"])
    assert wrong.exit_code == 1
    said = " ".join(wrong.output.split())
    assert "'signed' never appears" in said and "'no' (40)" in said
    when = runner.invoke(app, [*base, "--time-column", "month"])
    said = " ".join(when.output.split())
    assert when.exit_code == 1
    assert "time column 'month'" in said and "'may' (row 1)" in said
    sign = runner.invoke(app, [*base, "--monotone", "age=up"])
    assert sign.exit_code == 1 and "COLUMN=+1 or COLUMN=-1" in sign.output


def test_simulate_deals_writes_a_history(tmp_path: Path) -> None:
    """`vigie simulate deals` writes a CSV of closed deals with outcomes."""
    out = tmp_path / "deals.csv"
    result = runner.invoke(app, ["simulate", "deals", "--deals", "300", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out)
    assert frame.height == 300 and {"won", "rep", "closed_at", "nace"} <= set(frame.columns)


def test_import_command_reports_bad_rows(tmp_path: Path) -> None:
    """`prospects import` writes a valid file and refuses a bad one, naming column and row."""
    good = tmp_path / "good.csv"
    good.write_text("id,pays,base\n1,BE,consent\n2,FR,none\n")
    data = tmp_path / "ai"
    mapping = "id=company_id,pays=country,base=legal_basis"
    result = runner.invoke(
        app, ["prospects", "import", str(good), "--map", mapping, "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(data / "prospects" / "part-00000.parquet").height == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,pays,base\n1,BE,consent\n2,France,none\n")
    result = runner.invoke(
        app, ["prospects", "import", str(bad), "--map", mapping, "--data", str(data)]
    )
    assert result.exit_code == 1
    assert "column 'country', row 2" in result.output
