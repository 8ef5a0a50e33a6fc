"""`vigie rules explain`: a rule's thresholds and expected time to detect, from Vigie's code."""

from __future__ import annotations

import math
from pathlib import Path

from typer.testing import CliRunner

from vigie.cli import app

CONFIG = """
rules:
  - name: checkout_orders
    kind: sequential
    where: {event: Order Completed}
    expected_rate: 20
    direction: down
    min_effect: 0.5
    false_alarms: 1/month
  - name: checkout_conversion
    kind: sequential
    where: {event: Checkout Started}
    then: {event: Order Completed}
    expected_conversion: 0.3
    direction: down
  - name: too_many
    kind: threshold
    metric: orders
    value: 3
metrics:
  - name: orders
    where: {event: Order Completed}
    window: 1m
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG)
    return path


def test_explain_prints_the_thresholds_and_a_table_of_times_to_detect(tmp_path: Path) -> None:
    """At 20 events/s a drop to 0 is expected in log(2 x events per month) / 20 s (923 ms)."""
    result = CliRunner().invoke(
        app,
        ["rules", "explain", "checkout_orders", "-c", str(_config(tmp_path)), "--rates", "20,1"],
    )
    assert result.exit_code == 0, result.output
    expected_ms = math.log(2 * 20 * 30 * 86_400) / 20 * 1000
    assert f"{expected_ms:.0f} ms" in result.output
    assert "drop CUSUM h =" in result.output
    assert "Expected time to detect" in result.output


def test_explain_names_the_rules_when_one_is_unknown(tmp_path: Path) -> None:
    """An unknown rule exits 2 listing the rules defined; a non-rate rule is refused."""
    runner = CliRunner()
    unknown = runner.invoke(app, ["rules", "explain", "nope", "-c", str(_config(tmp_path))])
    assert unknown.exit_code == 2
    assert "checkout_orders" in unknown.output
    threshold = runner.invoke(app, ["rules", "explain", "too_many", "-c", str(_config(tmp_path))])
    assert threshold.exit_code == 2
    assert "threshold rule" in threshold.output


def test_explain_covers_conversion_rules(tmp_path: Path) -> None:
    """For a conversion, the table counts entries: with no order at all, a run of entries
    without one as long as log(trials per month) / -log(1 - share) is the minimum."""
    config = str(_config(tmp_path))
    result = CliRunner().invoke(
        app, ["rules", "explain", "checkout_conversion", "-c", config, "--rates", "10"]
    )
    assert result.exit_code == 0, result.output
    share = 0.3 / 1.3
    minimum_s = math.log(10 * 1.3 * 30 * 86_400) / -math.log(1 - share) / 10
    assert f"{minimum_s:.1f} s" in result.output
    assert "conversion" in result.output
