"""Live score drift: a run compared with its model's baseline, as an event for rules."""

from __future__ import annotations

from datetime import UTC, datetime

from vigie.ai import monitoring
from vigie.ai.drift import psi

from .conftest import World

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _summary(scores: list[int]) -> dict[str, object]:
    return {"groups": {"country": {"BE": scores[:], "FR": [0] * len(scores)}}, "drift": {}}


def test_the_first_run_is_the_baseline_and_a_shift_is_flagged(world: World) -> None:
    """The first run of a version becomes its baseline (PSI 0); a run whose scores moved
    gets the PSI of its histogram against it, a major level, and an event carrying it."""
    model = world.model
    model.path = world.models_dir / "v0001"
    (model.path / monitoring.LIVE_FILE).unlink(missing_ok=True)
    calm = [100] * 10 + [0] * 10
    assert monitoring.check(model, _summary(calm), at=NOW)["psi"] == 0.0
    again = monitoring.check(model, _summary(calm), at=NOW)
    assert again["psi"] == 0.0 and again["level"] == "stable"
    moved = [0] * 10 + [100] * 10
    shifted = monitoring.check(model, _summary(moved), at=NOW)
    assert shifted["psi"] == round(psi(calm, moved), 4) and shifted["level"] == "major"
    event = monitoring.drift_event(shifted, at=NOW)
    assert event.event == monitoring.EVENT and event.properties["psi"] == shifted["psi"]
    (model.path / monitoring.LIVE_FILE).unlink()


def test_the_catalogue_rule_alerts_when_scores_drift() -> None:
    """The shipped `lead-score-drift` rule fires on a drift check of PSI 0.4, not on 0.05."""
    from datetime import timedelta

    from vigie.catalogue import load_catalogue
    from vigie.rules.backtest import replay

    catalogue = load_catalogue()
    metrics = [m for m in catalogue.metrics if m.name == "lead_score_drift"]
    rules = [r for r in catalogue.rules if r.name == "lead-score-drift"]
    calm = {"psi": 0.05, "level": "stable", "model": "v0001", "features": {}, "shifted": []}
    moved = {**calm, "psi": 0.4, "level": "major"}
    events = [
        monitoring.drift_event(calm, at=NOW),
        monitoring.drift_event(moved, at=NOW + timedelta(days=2)),
    ]
    alerts = replay(metrics, rules, events, tick="10m",
                    until=NOW + timedelta(days=2, hours=2))  # fmt: skip
    firing = [a for a in alerts if a.status == "firing"]
    assert len(firing) == 1 and firing[0].rule == "lead-score-drift"
    assert firing[0].starts_at >= NOW + timedelta(days=2)
