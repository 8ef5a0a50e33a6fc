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
    missing = runner.invoke(app, ["leads", "explain", "99999999999", "--data", str(scored_data)])
    assert missing.exit_code == 1 and "nor in the prospect base" in " ".join(missing.output.split())


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
    affinity = runner.invoke(app, ["leads", "affinity", "--lang", "fr", "--limit", "200",
                                   "--data", str(scored_data)])  # fmt: skip
    assert affinity.exit_code == 0, affinity.output
    assert not re.search(r"\b\d{2}\.\d{2}\b", affinity.output)  # sectors by name, not code


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
    assert "trained" in result.stderr and "6/6" in result.stderr  # the stages, on a bar
    assert "refit on all 2500 rows" in result.output
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


def _bank_file(path: Path, n: int = 1500, seed: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    job = rng.choice(["admin.", "retired", "student", "blue-collar"], n)
    duration = rng.exponential(260, n)
    logit = -2.5 + duration / 220 + np.isin(job, ["retired", "student"]) * 0.9
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    pl.DataFrame({"job": job, "duration": duration.round(), "y": y}).write_csv(path)
    return path


def test_score_any_file_trained_from_csv(tmp_path: Path) -> None:
    """Issue 22: a model trained --from-csv scores a file with the same columns, each row
    with its own score and factors, and `explain --row` explains any of them; a file
    lacking a trained-on column is refused naming it."""
    data = tmp_path / "ai"
    train = _bank_file(tmp_path / "bank.csv")
    result = runner.invoke(
        app, ["leads", "train", "--from-csv", str(train), "--target", "y", "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    fresh = _bank_file(tmp_path / "new.csv", n=300, seed=9)
    out = tmp_path / "scored.parquet"
    result = runner.invoke(
        app, ["leads", "score", "--input", str(fresh), "--out", str(out), "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    scored = pl.read_parquet(out)
    assert scored.height == 300 and scored["score"].n_unique() > 10
    assert scored["factors"].list.len().min() >= 1
    assert scored["row"].to_list() == list(range(1, 301))
    csv_out = runner.invoke(app, ["leads", "score", "--input", str(fresh), "--data", str(data)])
    assert csv_out.exit_code == 0 and (tmp_path / "new-scored.csv").exists()
    explained = runner.invoke(app, ["leads", "explain", "--row", "17", "--data", str(data)])
    assert explained.exit_code == 0, explained.output
    assert f"score {scored['score'][16]}" in explained.output
    assert "duration" in explained.output or "job" in explained.output
    lacking = tmp_path / "lacking.csv"
    pl.read_csv(fresh).drop("duration").write_csv(lacking)
    refused = runner.invoke(app, ["leads", "score", "--input", str(lacking), "--data", str(data)])
    assert refused.exit_code == 1 and "duration" in refused.output


def test_explain_any_prospect_of_the_base(scored_data: Path) -> None:
    """Issue 22: a prospect that is not among the leads is scored on the spot and explained."""
    leads = pl.read_parquet(scored_data / "leads" / "leads.parquet")
    base = pl.read_parquet(scored_data / "prospects" / "part-00001.parquet")
    other = base.filter(~pl.col("company_id").is_in(leads["company_id"].implode())).row(
        0, named=True
    )
    result = runner.invoke(
        app, ["leads", "explain", str(other["company_id"]), "--data", str(scored_data)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "not among the current leads" in text and "score" in text


def test_score_without_history_names_real_options(tmp_path: Path) -> None:
    """Issue 22: the missing-history error of `leads score` suggests options that exist."""
    data = tmp_path / "ai"
    runner.invoke(app, ["prospects", "generate", "--rows", "500", "--deals", "0",
                        "--data", str(data)])  # fmt: skip
    train = _bank_file(tmp_path / "bank.csv")
    runner.invoke(app, ["leads", "train", "--from-csv", str(train), "--target", "y",
                        "--data", str(data)])  # fmt: skip
    result = runner.invoke(app, ["leads", "score", "--data", str(data)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "--deals" not in text and "--input FILE" in text


def test_import_keeps_every_column(tmp_path: Path) -> None:
    """Issue 22: `prospects import` keeps the columns beyond the schema instead of dropping
    them, and says so."""
    source = tmp_path / "firms.csv"
    source.write_text("id,pays,base,duration,job\n1,BE,consent,120,retired\n2,FR,none,30,admin.\n")
    data = tmp_path / "ai"
    result = runner.invoke(
        app,
        ["prospects", "import", str(source), "--map", "id=company_id,pays=country,base=legal_basis",
         "--data", str(data)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "duration, job" in " ".join(result.output.split())
    frame = pl.read_parquet(data / "prospects" / "part-00000.parquet")
    assert frame["job"].to_list() == ["retired", "admin."]
    assert frame["duration"].to_list() == [120, 30]


def test_versions_promote_rollback(tmp_path: Path) -> None:
    """Issue 22: the first model is active; a model the active one cannot be compared with
    waits; `promote` and `rollback` switch by hand; a typo names the versions."""
    data = tmp_path / "ai"
    steps = [
        ["prospects", "generate", "--rows", "3000", "--deals", "1500", "--data", str(data)],
        ["leads", "train", "--data", str(data)],
    ]
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "v0001 is active" in " ".join(result.output.split())
    bank = _bank_file(tmp_path / "bank.csv")
    result = runner.invoke(
        app, ["leads", "train", "--from-csv", str(bank), "--target", "y", "--data", str(data)]
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "v0002 is not active" in text and "cannot be compared" in text
    listed = runner.invoke(app, ["leads", "versions", "--data", str(data)])
    assert listed.exit_code == 0 and "v0002" in listed.output
    assert runner.invoke(app, ["leads", "promote", "v0002", "--data", str(data)]).exit_code == 0
    assert json.loads((data / "models" / "active.json").read_text())["version"] == "v0002"
    back = runner.invoke(app, ["leads", "rollback", "--data", str(data)])
    assert back.exit_code == 0 and "v0001" in back.output
    typo = runner.invoke(app, ["leads", "promote", "v0042", "--data", str(data)])
    assert typo.exit_code == 1 and "v0001, v0002" in " ".join(typo.output.split())


def _crm_files(tmp_path: Path, n: int = 160) -> list[tuple[str, Path]]:
    """Staff, accounts and decided deals as CSV files for `vigie import`."""
    from vigie.ai.prospects import NACE_CODES, REGION_NAMES

    rng = np.random.default_rng(11)
    staff = tmp_path / "staff.csv"
    staff.write_text("id,name,role\nst_a,Alice Dubois,sales\nst_b,Bruno Maes,sales\n")
    accounts = ["id,name,vat_number,nace,size_band,region,country"]
    deals = ["id,title,account_id,owner_id,stage"]
    sizes = ["micro", "small", "medium", "large"]
    for i in range(n):
        nace = NACE_CODES[i % 5]
        size = sizes[int(rng.integers(0, 4))]
        good = (nace in NACE_CODES[:2]) + (size == "small")
        won = rng.random() < 0.15 + 0.3 * good
        accounts.append(f"acc_{i},Firm {i},BE0{100000000 + i},{nace},{size},"
                        f"{REGION_NAMES[i % 11]},BE")  # fmt: skip
        deals.append(f"deal_{i},Deal {i},acc_{i},st_{'ab'[i % 2]},{'won' if won else 'lost'}")
    (tmp_path / "accounts.csv").write_text("\n".join(accounts) + "\n")
    (tmp_path / "deals.csv").write_text("\n".join(deals) + "\n")
    return [("staff", staff), ("accounts", tmp_path / "accounts.csv"),
            ("deals", tmp_path / "deals.csv")]  # fmt: skip


def test_history_retrain_and_publish_from_the_crm(tmp_path: Path) -> None:
    """Issue 22: `leads history` builds the training set from the CRM, `leads retrain` learns
    from it through the gate, and `leads publish` hands a run's leads to the CRM's staff."""
    import sqlalchemy as sa

    from vigie.store import connect

    db = f"sqlite:///{tmp_path}/v.db"
    for entity, path in _crm_files(tmp_path):
        result = runner.invoke(app, ["import", entity, str(path), "--db", db])
        assert result.exit_code == 0, result.output
    data = tmp_path / "ai"
    result = runner.invoke(app, ["leads", "history", "--db", db, "--data", str(data)])
    assert result.exit_code == 0, result.output
    history = pl.read_parquet(data / "prospects" / "history" / "deals.parquet")
    assert history.height == 160 and set(history["rep"]) == {"Alice Dubois", "Bruno Maes"}
    assert set(history["size_band"]) <= {"0-9", "10-49", "50-249", "250+"}
    result = runner.invoke(app, ["leads", "retrain", "--db", db, "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "v0001 is active" in " ".join(result.output.split())
    card = json.loads((data / "models" / "v0001" / "card.json").read_text())
    assert {f["name"] for f in card["features"]} <= {"nace", "size_band", "region", "country"}
    steps = [
        ["prospects", "generate", "--rows", "2000", "--deals", "0", "--data", str(data)],
        ["leads", "score", "--top", "40", "--data", str(data), "--db", db],
        ["leads", "publish", "--db", db, "--data", str(data)],
    ]
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "40 lead(s) published" in result.output
    engine = connect(db)
    with engine.connect() as conn:
        owners = conn.execute(sa.text("SELECT owner_id, count(*) FROM crm_leads GROUP BY 1"))
        assert {row[0] for row in owners} == {"st_a", "st_b"}
        checked = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE event = 'Lead Scores Checked'")
        ).scalar()
    engine.dispose()
    assert checked == 1
    again = runner.invoke(app, ["leads", "publish", "--db", db, "--data", str(data)])
    assert "0 lead(s) published, 40 proposed before" in " ".join(again.output.split())
