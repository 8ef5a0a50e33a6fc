"""Windowed scoring of alerts against labelled incident windows, and the labels files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.rules.scorecard import LabelsError, load_labels, score

DAY = 86_400_000_000


def test_first_alert_in_a_window_detects_it_and_others_outside_are_false() -> None:
    """An early alert inside a window counts near 1, a second one nothing, one outside is a
    false alert, and a window without an alert is missed."""
    card = score([10, 12, 500], [(10, 20), (100, 200)], start_us=0, end_us=DAY)
    assert (card.detected, card.missed, card.false_alerts, card.alerts) == (1, 1, 1, 3)
    assert card.score == pytest.approx(1.0 - 1.0 - 0.11)
    assert card.detect_delays_s == [0.0]


def test_no_alert_scores_zero_normalized() -> None:
    """Raising nothing is the baseline: 0; a perfect detector is 100."""
    assert score([], [(10, 20)], start_us=0, end_us=DAY).normalized == 0
    assert score([10], [(10, 20)], start_us=0, end_us=DAY).normalized == 100


def test_labels_from_json_and_csv(tmp_path: Path) -> None:
    """Both label formats give the windows of each file, by file name."""
    (tmp_path / "l.json").write_text(
        '{"a/cpu.csv": [["2026-01-01T00:00", "2026-01-01T01:00"]]}', encoding="utf-8"
    )
    (tmp_path / "l.csv").write_text(
        "series,start,end\ncpu.csv,2026-01-01T00:00Z,2026-01-01T01:00Z\n", encoding="utf-8"
    )
    assert load_labels(tmp_path / "l.json") == load_labels(tmp_path / "l.csv")
    assert list(load_labels(tmp_path / "l.json")) == ["cpu.csv"]


def test_a_bad_label_names_the_file_and_entry(tmp_path: Path) -> None:
    """A window that is not two ISO times is refused with its series named."""
    (tmp_path / "l.json").write_text('{"cpu.csv": [["soon", "later"]]}', encoding="utf-8")
    with pytest.raises(LabelsError, match=r"cpu\.csv"):
        load_labels(tmp_path / "l.json")
