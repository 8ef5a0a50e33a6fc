"""`vigie backtest`: the stored log and CSV series replayed through the rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from typer.testing import CliRunner

from vigie.catalogue import load_catalogue
from vigie.cli import app
from vigie.events import Event
from vigie.kpi.metrics import Metric
from vigie.log import SqlEventLog
from vigie.rules.backtest import replay, series_events
from vigie.rules.definitions import Rule

from .test_scenario import _events as scenario_events

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONFIG = """
metrics:
  - name: orders
    kind: count
    where: {event: Order Completed}
    window: 1m
rules:
  - name: busy
    kind: threshold
    metric: orders
    op: ">="
    value: 3
    summary: {en: "{value:.0f} orders", fr: "{value:.0f} commandes"}
  - name: site-down
    kind: absence
    where: {event: Order Completed}
    silence: 5m
"""


def _orders(seconds: list[int]) -> list[Event]:
    return [
        Event(
            message_id=f"o{s}",
            type="track",
            source="web",
            event="Order Completed",
            timestamp=T0 + timedelta(seconds=s),
            received_at=T0 + timedelta(seconds=s),
        )
        for i, s in enumerate(seconds)
    ]


def test_backtest_command_prints_what_would_have_fired(engine: sa.Engine, tmp_path: Path) -> None:
    """Stored events replayed by the CLI fire the threshold, then the silence, with reasons."""
    log = SqlEventLog(engine)
    log.append(_orders([0, 10, 20]))
    log.append(_orders([20 * 60]))
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["backtest", "--config", str(config), "--db", url, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert "events replayed" in result.stderr  # the bar on stderr, issue 18
    changes = [(c["rule"], c["status"]) for c in lines[:-1]]
    assert changes[0] == ("busy", "firing")
    assert ("busy", "resolved") in changes
    assert ("site-down", "firing") in changes
    assert lines[0]["annotations"]["summary_fr"] == "3 commandes"
    assert lines[-1]["fired"] == 2


def test_backtest_on_the_reference_engine_prints_the_same(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """`--reference` replays on the per-event KPI engine: the same alerts, to the byte."""
    log = SqlEventLog(engine)
    log.append(_orders([0, 10, 20]))
    log.append(_orders([20 * 60]))
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    command = ["backtest", "--config", str(config), "--db", url, "--json"]
    columnar = CliRunner().invoke(app, command, catch_exceptions=False)
    reference = CliRunner().invoke(app, [*command, "--reference"], catch_exceptions=False)
    assert reference.exit_code == 0, reference.output

    def printed(output: str) -> list[str]:  # the progress bar's elapsed time is not an alert
        return [line for line in output.splitlines() if "replayed / rejoués" not in line]

    assert printed(reference.output) == printed(columnar.output)
    assert '"fired":2' in reference.output.replace(" ", "")


def test_reference_engine_replays_the_scenario_to_the_same_alerts() -> None:
    """The shipped catalogue's rules (thresholds, changes, SLAs) on the lunch scenario raise
    the same alerts, at the same times with the same evidence, on either KPI engine."""
    catalogue = load_catalogue()
    events = scenario_events(600)
    columnar = replay(catalogue.metrics, catalogue.rules, events, tick="10s")
    reference = replay(catalogue.metrics, catalogue.rules, events, tick="10s", reference=True)
    assert "checkout-conversion-drop" in {a.rule for a in columnar if a.status == "firing"}
    assert msgspec.json.encode(reference) == msgspec.json.encode(columnar)


def test_backtest_window_selects_event_time(engine: sa.Engine, tmp_path: Path) -> None:
    """--from/--to keep only events inside the range: outside orders raise nothing."""
    SqlEventLog(engine).append(_orders([0, 10, 20]))
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG.split("  - name: site-down")[0], encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    later = (T0 + timedelta(hours=1)).isoformat()
    result = CliRunner().invoke(
        app, ["backtest", "-c", str(config), "--db", url, "--from", later, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"changes": 0, "fired": 0}


def test_csv_series_drives_the_metric_rules(tmp_path: Path) -> None:
    """A CSV of conversion rates fires the drop rule at the row where it falls by half."""
    rows = ["timestamp,value"] + [
        f"{(T0 + timedelta(minutes=m)).isoformat()},{0.6 if m < 10 else 0.2}" for m in range(15)
    ]
    path = tmp_path / "conversion.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    metric = Metric(
        name="conversion",
        kind="ratio",
        numerator=None,
        denominator=None,
        window="5m",
        slide="1m",
    )
    replacement, events = series_events(path, metric)
    rule = Rule(name="drop", kind="change", metric="conversion", drop=0.3)
    changes = replay([replacement], [rule], events)
    fired = [a for a in changes if a.status == "firing"]
    assert [a.fired_at for a in fired] == [T0 + timedelta(minutes=10)]
    assert abs(fired[0].values["change"] + 2 / 3) < 1e-9


def test_csv_with_a_bad_row_names_its_line(tmp_path: Path) -> None:
    """A row that is not `timestamp,value` is refused with its line number."""
    import pytest

    from vigie.rules.backtest import SeriesError

    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2026-11-27T12:00:00Z,1\nyesterday,2\n", encoding="utf-8")
    with pytest.raises(SeriesError, match="line 3"):
        series_events(path, Metric(name="m"))


def test_commands_are_documented_with_an_example() -> None:
    """backtest, bench kpi and bench alerts each have a help text with an `Example:` line."""
    runner = CliRunner()
    for args in (["backtest"], ["bench", "kpi"], ["bench", "alerts"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0
        assert "Example: vigie " + " ".join(args) in result.output


def _series_csv(path: Path) -> None:
    """Ten days of hourly values with a daily pattern, a spike and a lasting shift."""
    import math
    import random

    rng = random.Random(15)
    rows = ["timestamp,value"]
    for h in range(240):
        value = 100 + 20 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 2)
        value += 60 if h == 150 else 0
        value += 40 if h >= 200 else 0
        rows.append(f"{(T0 + timedelta(hours=h)).isoformat()},{value:.3f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_fast_series_replay_fires_as_the_engine_does(tmp_path: Path) -> None:
    """Issue 15, one code path: the sample replay of a CSV (no KPI engine) fires the same
    anomaly incidents at the same times as the full engine replay."""
    from vigie.rules.backtest import read_samples, replay_samples

    path = tmp_path / "load.csv"
    _series_csv(path)
    metric = Metric(name="load", kind="average", value="properties.value", window="1h")
    rule = Rule(name="odd", kind="anomaly", metric="load")
    replacement, events = series_events(path, metric)
    slow = replay([replacement], [rule], events, tick="1h")
    fast = replay_samples(metric, [rule], read_samples(path))

    def fired(changes: list) -> list:  # type: ignore[type-arg]
        return [(a.fired_at, a.values["value"]) for a in changes if a.status == "firing"]

    assert fired(fast) == fired(slow)
    assert any(at == T0 + timedelta(hours=150) for at, _ in fired(fast))


def _load_config(folder: Path) -> Path:
    """A vigie.yaml with an hourly `load` metric and an anomaly rule `odd` on it."""
    config = folder / "vigie.yaml"
    config.write_text(
        "metrics:\n  - {name: load, kind: average, value: properties.value, window: 1h}\n"
        "rules:\n  - {name: odd, kind: anomaly, metric: load}\n",
        encoding="utf-8",
    )
    return config


def test_backtest_scores_a_folder_of_labelled_series(tmp_path: Path) -> None:
    """`--csv FOLDER --labels` prints one JSON line per file with its incidents and score,
    then the total."""
    folder = tmp_path / "series"
    folder.mkdir()
    _series_csv(folder / "a.csv")
    _series_csv(folder / "b.csv")
    spike = (T0 + timedelta(hours=150)).isoformat()
    end = (T0 + timedelta(hours=153)).isoformat()
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"a.csv": [[spike, end]], "b.csv": []}), encoding="utf-8")
    config = _load_config(tmp_path)
    result = CliRunner().invoke(
        app,
        ["backtest", "-c", str(config), "--csv", str(folder), "--metric", "load",
         "--labels", str(labels), "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert "series replayed" in result.stderr
    assert [Path(line["file"]).name for line in lines[:2]] == ["a.csv", "b.csv"]
    assert lines[0]["score"]["detected"] == 1
    assert lines[0]["alerts"][0]["values"]["expected"] < lines[0]["alerts"][0]["values"]["value"]
    assert lines[2]["files"] == 2 and lines[2]["score"]["windows"] == 1


def test_fast_series_replay_holds_a_threshold_to_its_clear_value(tmp_path: Path) -> None:
    """One code path for hysteresis: a threshold rule with `clear_value` fires and resolves
    at the same times in the sample replay of a CSV as in the full engine replay, and holds
    longer than the same rule without it."""
    from vigie.rules.backtest import read_samples, replay_samples

    path = tmp_path / "load.csv"
    _series_csv(path)
    metric = Metric(name="load", kind="average", value="properties.value", window="1h")
    replacement, events = series_events(path, metric)

    def changes(rule: Rule, fast: bool) -> list[tuple[str, datetime | None]]:
        found = (
            replay_samples(metric, [rule], read_samples(path))
            if fast
            else replay([replacement], [rule], events, tick="1h")
        )
        return [(a.status, a.ends_at or a.fired_at) for a in found if a.status != "pending"]

    held = Rule(name="hot", metric="load", op=">", value=130, clear_value=100, resolve_after="0s")
    plain = Rule(name="hot", metric="load", op=">", value=130, resolve_after="0s")
    assert changes(held, fast=True) == changes(held, fast=False)
    assert changes(held, fast=True) != changes(plain, fast=True)
    assert len(changes(held, fast=True)) < len(changes(plain, fast=True))


SHOP_CONFIG = """
analytics:
  timezone: Europe/Paris
metrics:
  - {name: orders, kind: count, where: {event: Order Completed}, window: 1h}
rules:
  - {name: odd, kind: anomaly, metric: orders}
  - {name: rise-in-utc, kind: change, metric: orders, compare: same_slot, rise: 0.5,
     timezone: UTC}
  - {name: rise, kind: change, metric: orders, compare: same_slot, rise: 0.5}
"""


def test_backtest_judges_each_same_slot_rule_on_its_own_clock(tmp_path: Path) -> None:
    """Issue 15: a Paris shop's hourly orders across the spring change of time, backtested
    from a CSV with an anomaly rule and two same_slot rules on the metric: the rule on the
    site's clock (Paris) stays quiet, the one in UTC (where the shop's hours shift) fires
    on the Sunday; the rules no longer share the first one's history."""
    paris = ZoneInfo("Europe/Paris")
    rows = ["timestamp,value"]
    for day in range(21, 30):
        for hour in range(9, 19):
            at = datetime(2026, 3, day, hour, 30, tzinfo=paris).astimezone(UTC)
            rows.append(f"{at.isoformat()},{10 * (hour - 8)}")
    series = tmp_path / "orders.csv"
    series.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "vigie.yaml"
    config.write_text(SHOP_CONFIG, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["backtest", "-c", str(config), "--csv", str(series), "--metric", "orders",
         "--tick", "10m", "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(line) for line in result.stdout.strip().splitlines()]
    fired = [a for a in line["alerts"] if a["rule"].startswith("rise")]
    assert {a["rule"] for a in fired} == {"rise-in-utc"}
    sunday = datetime(2026, 3, 29, tzinfo=paris)
    assert all(datetime.fromisoformat(a["fired_at"]) >= sunday for a in fired)


def _spreadsheet_csv(path: Path) -> list[float]:
    """`_series_csv`'s ten days as a French spreadsheet exports them: semicolons, decimal
    commas, Unix times, a second metric before the load, and an is_anomaly flag on the
    spike's hour and the first three hours of the shift; the load's values."""
    import math
    import random

    rng = random.Random(15)
    rows, loads = ["ts;memory;load;is_anomaly"], []
    for h in range(240):
        value = 100 + 20 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 2)
        value += (60 if h == 150 else 0) + (40 if h >= 200 else 0)
        flag = int(h == 150 or 200 <= h < 203)
        at = int((T0 + timedelta(hours=h)).timestamp())
        rows.append(f"{at};{50 + h % 7},5;{value:.3f}".replace(".", ",") + f";{flag}")
        loads.append(round(value, 3))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return loads


def test_a_spreadsheet_export_is_read_with_its_incident_flags(tmp_path: Path) -> None:
    """A semicolon CSV with decimal commas, Unix times and several columns gives the named
    column's values at their times, and its is_anomaly runs as incident windows that last
    until the next normal row."""
    from vigie.rules.backtest import read_series

    path = tmp_path / "export.csv"
    loads = _spreadsheet_csv(path)
    read = read_series(path, "load")
    assert [v for _, _, v in read.samples] == loads
    assert read.samples[1][0] == int((T0 + timedelta(hours=1)).timestamp() * 1e6)

    def us(h: int) -> int:
        return int((T0 + timedelta(hours=h)).timestamp() * 1e6)

    assert read.flagged == [(us(150), us(151)), (us(200), us(203))]
    assert read_series(path).samples[0][2] == 50.5  # no `value` column: the first one
    assert read_series(tmp_path / "export.csv", "memory").flagged == read.flagged


def test_the_cli_scores_a_csv_on_its_own_flags(tmp_path: Path) -> None:
    """`vigie backtest --csv FILE --column load` with no --labels scores the file on its
    is_anomaly flags: the spike and the shift are both caught."""
    path = tmp_path / "export.csv"
    _spreadsheet_csv(path)
    config = _load_config(tmp_path)
    result = CliRunner().invoke(
        app,
        ["backtest", "-c", str(config), "--csv", str(path), "--metric", "load",
         "--column", "load", "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[0])
    assert line["labels"] == "flags" and line["samples"] == 240
    assert (line["score"]["windows"], line["score"]["detected"]) == (2, 2)


def test_a_csv_column_or_value_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """An unknown --column lists the columns; a value that is no number names its line and
    column; a row number where a time should be is refused, not read as 1970."""
    import pytest

    from vigie.rules.backtest import SeriesError, read_series

    path = tmp_path / "export.csv"
    _spreadsheet_csv(path)
    with pytest.raises(SeriesError, match=r"'cpu' is not a column .*ts, memory, load"):
        read_series(path, "cpu")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,value,note\n1764244800,12.5,ok\n1764248400,12.5 kg,\n", encoding="utf-8")
    with pytest.raises(SeriesError, match=r"line 3: value: '12\.5 kg' is not a number"):
        read_series(bad)
    rows = tmp_path / "rows.csv"
    rows.write_text("time,value\n1,12.5\n", encoding="utf-8")
    with pytest.raises(SeriesError, match="line 2: the time '1' is not"):
        read_series(rows)


def test_a_hostile_or_windows_encoded_csv_is_refused_or_read(tmp_path: Path) -> None:
    """A NUL byte is refused with its line; a Windows-1252 export (an accented header) is
    read; a value of 1e309 (an infinity) is a missing sample, not a crash; a field
    too long for a CSV is refused."""
    import pytest

    from vigie.rules.backtest import SeriesError, read_series

    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"time,value\n1764244800,1\n1764248400,\x002\n")
    with pytest.raises(SeriesError, match="line 3: a NUL byte"):
        read_series(nul)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("date;température\n1764244800;12,5\n1764248400;1e309\n".encode("cp1252"))
    assert [v for _, _, v in read_series(latin, "température").samples] == [12.5]
    huge = tmp_path / "huge.csv"
    huge.write_text('time,value\n1764244800,"' + "9" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(SeriesError, match="field larger than field limit"):
        read_series(huge)


def test_a_csv_needs_no_configuration(tmp_path: Path) -> None:
    """`vigie backtest --csv FILE` with neither a configuration nor a metric replays the file
    through the anomaly rule at its defaults at the file's own sampling interval (hourly
    here), and scores it on its flags."""
    path = tmp_path / "export.csv"
    _spreadsheet_csv(path)
    result = CliRunner().invoke(
        app, ["backtest", "--csv", str(path), "--column", "load", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[0])
    assert line["window"] == "3600s"
    assert (line["score"]["windows"], line["score"]["detected"]) == (2, 2)
    assert {a["rule"] for a in line["alerts"]} == {"anomaly"}
    log = CliRunner().invoke(app, ["backtest", "--json"])
    assert log.exit_code == 2 and "--config is needed" in log.output


def test_a_csv_is_replayed_in_the_sites_time_zone(tmp_path: Path) -> None:
    """`vigie backtest --csv FILE --timezone Europe/Paris` reads the file's days in Paris: a
    lunch peak at 12:30 Paris time every day moves an hour in UTC when summer time ends
    (2026-10-25), which the UTC replay alerts on for days and the Paris one does not. A
    name that is not a time zone is refused, naming the option."""
    import math
    import random

    rng = random.Random(4)
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 10, 5, tzinfo=UTC)
    rows = ["time,value"]
    for i in range(4 * 24 * 35):  # 15-minute values, five weeks
        at = start + timedelta(minutes=15 * i)
        local = at.astimezone(paris)
        hour = local.hour + local.minute / 60
        peak = 800 * math.exp(-((hour - 12.5) ** 2) / (2 * 0.8**2))
        rows.append(f"{at.isoformat()},{200 + peak + rng.gauss(0, 15):.1f}")
    path = tmp_path / "lunch.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    change = datetime(2026, 10, 25, 1, tzinfo=UTC)

    def after_change(zone: str) -> int:
        """Incidents starting within four days after the change, replayed in `zone`."""
        command = ["backtest", "--csv", str(path), "--timezone", zone, "--json"]
        result = CliRunner().invoke(app, command, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        line = json.loads(result.stdout.strip().splitlines()[0])
        assert line["timezone"] == zone
        starts = {int(a["id"].rsplit("-", 1)[1]) for a in line["alerts"]}
        since = int(change.timestamp() * 1e6)
        return sum(since <= at < since + 4 * 86_400_000_000 for at in starts)

    assert after_change("UTC") >= 3
    assert after_change("Europe/Paris") == 0
    bad = CliRunner().invoke(app, ["backtest", "--csv", str(path), "--timezone", "Paris"])
    assert bad.exit_code == 2 and "--timezone 'Paris' is not a time zone" in bad.output


def test_numbers_and_columns_are_read_as_spreadsheets_write_them(tmp_path: Path) -> None:
    """Grouped thousands (spaces, no-break spaces, a comma and a dot), a percent sign, a
    decimal comma in a tab file or in a semicolon file without header (one `;` and one `,`
    per row), Excel's `sep=` line, a blank first line and nanosecond Unix times are read;
    --column may be a number with a header too, but not 0 or past the last column."""
    import pytest

    from vigie.rules.backtest import SeriesError, read_series

    def values(text: str, column: str | None = None) -> list[float]:
        path = tmp_path / "s.csv"
        path.write_text(text, encoding="utf-8")
        return [v for _, _, v in read_series(path, column).samples]

    spaced = "date;valeur\n2026-11-02;1 234,5\n2026-11-03;1\u00a0300\n2026-11-04;1\u202f4,5 %\n"
    assert values(spaced) == [1234.5, 1300.0, 14.5]
    assert values('time,value\n1764244800,"1,234.5"\n1764248400,12.5%\n') == [1234.5, 12.5]
    assert values("time\tvalue\n1764244800\t12,5\n") == [12.5]
    assert values("2026-11-28T12:00:00;12,5\n2026-11-28T13:00:00;13,5\n") == [12.5, 13.5]
    assert values("sep=;\ndate;valeur\n2026-11-02;1,5\n") == [1.5]
    assert values("\ntime,value\n1764244800,2\n") == [2.0]
    nanos = tmp_path / "ns.csv"
    nanos.write_text("time,value\n1764244800000000000,1\n", encoding="utf-8")
    assert read_series(nanos).samples[0][0] == 1764244800 * 1_000_000
    assert values("time,a,b\n1764244800,1,2\n", "3") == [2.0]
    with pytest.raises(SeriesError, match="numbered from 1"):
        values("1764244800,1\n", "0")
    with pytest.raises(SeriesError, match="--column 3: the file has 2 columns"):
        values("1764244800,1\n", "3")


def test_incidents_outside_the_replayed_stretch_are_not_missed(tmp_path: Path) -> None:
    """`vigie backtest --csv FILE --to T` scores only the incidents the stretch before T
    holds: the flagged spike and shift after it are not counted as missed."""
    path = tmp_path / "export.csv"
    _spreadsheet_csv(path)
    to = (T0 + timedelta(hours=140)).isoformat()
    result = CliRunner().invoke(
        app,
        ["backtest", "--csv", str(path), "--column", "load", "--to", to, "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[0])
    assert line["samples"] == 140
    assert (line["score"]["windows"], line["score"]["missed"]) == (0, 0)


def test_a_pandas_or_excel_unicode_export_is_read(tmp_path: Path) -> None:
    """pandas' `to_csv` with its row numbers first gives the named column's values, not the
    row numbers; Excel's UTF-16 "Unicode text" is read."""
    from vigie.rules.backtest import read_series

    pandas = tmp_path / "pandas.csv"
    pandas.write_text(
        ",timestamp,cpu\n0,2026-11-28T12:00,55.5\n1,2026-11-28T12:01,56\n", encoding="utf-8"
    )
    assert [v for _, _, v in read_series(pandas).samples] == [55.5, 56.0]
    unicode = tmp_path / "unicode.csv"
    unicode.write_bytes("time\tvalue\r\n1764244800\t12,5\r\n".encode("utf-16"))
    assert [v for _, _, v in read_series(unicode).samples] == [12.5]
