"""Selection rates and the four-fifths rule."""

from __future__ import annotations

from vigie.ai.fairness import selection_rates


def test_four_fifths_flags_the_underselected() -> None:
    """A group selected at under 80% of the best group's rate is flagged, others not."""
    rates = {
        r.group: r
        for r in selection_rates({"a": 1000, "b": 1000, "c": 1000}, {"a": 100, "b": 85, "c": 70})
    }
    assert not rates["a"].flagged and not rates["b"].flagged
    assert rates["c"].flagged
    assert abs(rates["c"].ratio_to_best - 0.7) < 1e-9


def test_small_groups_are_not_judged() -> None:
    """A tiny group is reported but neither flagged nor taken as the best."""
    rates = {r.group: r for r in selection_rates({"big": 1000, "tiny": 5}, {"big": 100, "tiny": 5})}
    assert rates["big"].ratio_to_best == 1.0
    assert not rates["tiny"].flagged


def test_shares_include_past_conversions() -> None:
    """Each group's share of past conversions is reported beside its share of the base."""
    rates = {
        r.group: r
        for r in selection_rates({"a": 300, "b": 100}, {"a": 30}, converted={"a": 1, "b": 3})
    }
    assert rates["a"].base_share == 0.75
    assert rates["b"].converted_share == 0.75
    assert rates["b"].selected == 0
