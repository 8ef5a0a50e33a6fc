"""The compiled scorer (`detectors.compiled`: batch.py and seasonal.py built by Cython at
install) gives what the pure Python one gives, and is never used once its sources changed."""

from __future__ import annotations

import importlib
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.rules.test_batch import MINUTE, SHAPES, T0, _series
from vigie.bench.anomalies import _family
from vigie.rules.detectors import batch, compiled
from vigie.rules.detectors.digest import SOURCES, source_digest
from vigie.rules.detectors.seasonal import RobustSeasonal

FOLDER = Path(batch.__file__).parent


def _scorer() -> compiled.Scorer:
    scorer = compiled.compiled_scorer()
    if scorer is None:
        require_service(
            "the compiled scorer", "not built from these sources: run `make install` with gcc"
        )
        raise AssertionError("unreachable")
    return scorer


def _same(
    scorer: compiled.Scorer, detector: dict[str, Any], times: list[int], values: list[float]
) -> None:
    pure = batch.score_series(RobustSeasonal(**detector), times, values)
    built = scorer(RobustSeasonal(**detector), times, values)
    assert type(built).__module__ == compiled.MODULE  # the compiled one, not the pure one
    # repr: a NaN in a record equals itself, and a float is compared to the last bit.
    assert repr(built.records) == repr(pure.records)
    assert built.p_values == pure.p_values
    assert built.ready == pure.ready
    shown = range(0, len(values), 97)
    assert [built.verdict(i) for i in shown] == [pure.verdict(i) for i in shown]


@pytest.mark.parametrize("family", ["default", "holdout"])
def test_the_compiled_scorer_scores_the_bench_series_as_python_does(family: str) -> None:
    """Issue 15: every kind of both bench families, shops and irregular series included,
    gets the same records, to the last bit, from the compiled scorer as from batch.py."""
    scorer = _scorer()
    for series in _family(family, series=1, days=10, seed=5, timezone="UTC"):
        step = series.step_us or int(series.times[1] - series.times[0])
        kept = [
            (int(t), float(x)) for t, x in zip(series.times, series.values, strict=True) if x == x
        ]
        _same(scorer, {"step_us": step}, [t for t, _ in kept], [x for _, x in kept])


@pytest.mark.parametrize("seed", [2437, 2942])
def test_the_compiled_scorer_widens_the_evidence_as_python_does(seed: int) -> None:
    """A level that triples with a wider noise widens what the detector learned by a factor
    (`RobustSeasonal._widen`), its evidence's moments by that factor squared: computed as
    `x * x` by a C compiler, against Python's `pow`, a p-value differed in the last bit for
    these series (a factor in a thousand differs so)."""
    scorer = _scorer()
    rng = random.Random(seed)
    cut = rng.randint(300, 500)
    values = []
    for i in range(900):
        if i < cut:
            x = 100 + rng.gauss(0, 1)
        else:
            x = 300 + rng.gauss(0, rng.uniform(3, 8)) + (40 if rng.random() < 0.02 else 0)
        values.append(round(x, 3))
    step = 10 * MINUTE
    times = [1_700_000_000_000_000 + i * step for i in range(len(values))]
    _same(scorer, {"step_us": step, "seasonality": "none"}, times, values)


@pytest.mark.parametrize("seed", range(3))
def test_the_compiled_scorer_follows_every_setting_as_python_does(seed: int) -> None:
    """Random series of every shape, each seasonality, direction, warm-up and time zone."""
    scorer = _scorer()
    rng = random.Random(seed)
    for shape in SHAPES:
        step = rng.choice((1, 5, 15, 60)) * MINUTE
        values = _series(rng, shape, rng.randint(5, 3000), step)
        detector = {
            "step_us": step,
            "seasonality": rng.choice(("auto", "none", "daily", "weekly", "both")),
            "direction": rng.choice(("both", "up", "down")),
            "warmup": rng.choice((3, 12, 30)),
            "timezone": rng.choice(("UTC", "Europe/Paris")),
        }
        _same(scorer, detector, [T0 + i * step for i in range(len(values))], values)


def test_a_build_from_other_sources_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detector edited after the build runs as written: the compiled copy carries the
    digest of the sources it was built from, and a different one sends the replay back to
    Python, with the same records."""
    module = importlib.import_module(compiled.MODULE)
    assert _scorer() is module.score_series  # built from these very sources: used
    for name in SOURCES:
        shutil.copy(FOLDER / name, tmp_path / name)
    before = source_digest(tmp_path)
    assert before == source_digest(FOLDER)
    with (tmp_path / "seasonal.py").open("a") as edited:
        edited.write("# an edit\n")
    assert source_digest(tmp_path) != before

    compiled.compiled_scorer.cache_clear()
    monkeypatch.setattr(compiled, "source_digest", lambda folder: source_digest(tmp_path))
    try:
        assert compiled.compiled_scorer() is None
        values = _series(random.Random(1), "seasonal", 600, 10 * MINUTE)
        times = [T0 + i * 10 * MINUTE for i in range(len(values))]
        replayed = compiled.score_series(RobustSeasonal(step_us=10 * MINUTE), times, values)
        assert type(replayed) is batch.SeriesScores
        pure = batch.score_series(RobustSeasonal(step_us=10 * MINUTE), times, values)
        assert replayed.records == pure.records
    finally:
        compiled.compiled_scorer.cache_clear()
    monkeypatch.undo()  # and the build from these very sources is used again
    assert compiled.compiled_scorer() is module.score_series


def test_integer_values_are_replayed_as_python_keeps_them() -> None:
    """A series of ints (a `Sequence[float]` may hold them) shows each value as given: the
    compiled copy holds a value as a C double, and showed 40.0 where Python shows 40."""
    _scorer()
    values = [5, 7, 6, 5, 8, 6, 7, 5, 6, 7, 40, 6] * 3
    times = [T0 + i * 10 * MINUTE for i in range(len(values))]
    replayed = compiled.score_series(RobustSeasonal(step_us=10 * MINUTE), times, values)
    pure = batch.score_series(RobustSeasonal(step_us=10 * MINUTE), times, values)
    assert repr(replayed.records) == repr(pure.records)
    assert replayed.verdict(10).observed == 40 and type(replayed.verdict(10).observed) is int
    floats = [float(x) for x in values]  # and a series of floats is replayed compiled
    replayed = compiled.score_series(RobustSeasonal(step_us=10 * MINUTE), times, floats)
    assert type(replayed).__module__ == compiled.MODULE
