"""The holdout family of the anomaly bench (issue 15)."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from vigie.bench import holdout
from vigie.bench.anomalies import run_anomalies_bench


def test_the_holdout_series_are_the_same_for_a_seed_and_differ_between_seeds() -> None:
    """A seed names one set of series: generating it twice gives the same times, values and
    labels, another seed other values."""
    first = [holdout.generate(k, holdout.stream(3))[0] for k in holdout.KINDS]
    again = [holdout.generate(k, holdout.stream(3))[0] for k in holdout.KINDS]
    other = [holdout.generate(k, holdout.stream(4))[0] for k in holdout.KINDS]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.times, b.times)
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert a.windows == b.windows
    assert any(len(a.values) != len(c.values) for a, c in zip(first, other, strict=True))


def test_each_incident_is_labelled_inside_its_series_and_free_series_have_none() -> None:
    """A series with an incident has one labelled window holding some of its samples,
    after its first sample, and starting at a sample (the incident's first, where jitter
    put it); an incident-free series has none; times only increase."""
    rng = holdout.stream(5)
    for kind in holdout.KINDS:
        for _ in range(3):
            series, _host = holdout.generate(kind, rng)
            assert np.all(np.diff(series.times) > 0)
            if kind in holdout.INCIDENTS:
                [(start, end)] = series.windows
                assert series.times[0] < start < end
                assert start in series.times  # the incident's first sample, jittered or not
                inside = (series.times >= start) & (series.times <= end)
                assert inside.any()
            else:
                assert series.windows == []


def test_the_bench_scores_every_kind_of_the_holdout_family() -> None:
    """`--family holdout` scores every holdout kind, with the default family's figures."""
    figures = run_anomalies_bench(
        series=1, days=14, seed=1, console=Console(quiet=True), family="holdout"
    )
    assert {"detection_rate", "false_alerts_per_series_week_incident_free", "per_kind"} <= set(
        figures
    )
    assert set(figures["per_kind"]) == set(holdout.KINDS)
    assert figures["per_kind"]["spike"]["windows"] == 1
    assert 0 <= figures["detection_rate"] <= 1
