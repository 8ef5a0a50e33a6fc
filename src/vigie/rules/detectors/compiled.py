"""The backtest's scorer, compiled when it can be: `score_series` of `batch`, run by the
copy of `batch` and `seasonal` that Cython compiles when Vigie is installed (`setup.py`).

The compiled copy is the same source, so it gives the same records
(tests/rules/test_compiled.py); it replays about a third faster. It is used only while
it was built from the very sources beside it (`digest.source_digest`): an edited detector
in a checkout installed in place is run as written, never shadowed by a stale build, until
it is installed again. Without a C compiler or Cython, the install skips it and the pure
Python scorer runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import cast

from vigie.rules.detectors import batch
from vigie.rules.detectors.digest import source_digest
from vigie.rules.detectors.seasonal import RobustSeasonal

MODULE = "vigie.rules.detectors._batch_c"

Scorer = Callable[[RobustSeasonal, Sequence[int], Sequence[float]], batch.SeriesScores]


@cache
def compiled_scorer() -> Scorer | None:
    """The compiled `score_series`, or None when it is not built or was built from other
    sources than these."""
    try:
        module = importlib.import_module(MODULE)
    except ImportError:
        return None
    try:
        here = source_digest(Path(__file__).parent)
    except OSError:  # an install without the sources: nothing to check the build against
        return None
    if getattr(module, "SOURCE_DIGEST", None) != here:
        return None
    return cast(Scorer, module.score_series)


def score_series(
    detector: RobustSeasonal, times: Sequence[int], values: Sequence[float]
) -> batch.SeriesScores:
    """`batch.score_series`, by the compiled copy when it is current and the values are
    floats: it holds a value as a C double, where Python shows an int (or a NumPy scalar) as
    given, 40 and not 40.0 (the check: some 30 ns a value, scoring it some 8 µs)."""
    scorer = compiled_scorer()
    if scorer is None or not all(type(x) is float for x in values):
        scorer = batch.score_series
    return scorer(detector, times, values)
