"""Live KPIs: metric definitions and windowed aggregation on event time, with baselines.

The rest of Vigie reads them through the `KpiEngine` protocol, made by `make_engine`.
"""

from collections.abc import Collection, Mapping, Sequence

from vigie.kpi.baselines import Learning
from vigie.kpi.engine import ColumnarEngine
from vigie.kpi.metrics import Metric, Term
from vigie.kpi.readings import KpiEngine, Reading
from vigie.kpi.reference import ReferenceEngine
from vigie.kpi.sentiment import SentimentScorer

__all__ = ["KpiEngine", "Metric", "Reading", "Term", "make_engine"]


def make_engine(
    metrics: Sequence[Metric],
    *,
    baselines: Mapping[str, Collection[Learning]] | None = None,
    history: int = 2,
    sentiment: SentimentScorer | None = None,
    reference: bool = False,
) -> KpiEngine:
    """A KPI engine over `metrics`, keeping the groups of those in `baselines` however quiet
    and learning the seasonal baselines listed for them (rules agreeing on a calendar share
    one, see `vigie.kpi.baselines`), and `history` windows back: the columnar fast path, or
    with `reference` the readable one-event-at-a-time engine (slower, the same values)."""
    if reference:
        return ReferenceEngine(metrics, baselines=baselines, history=history, sentiment=sentiment)
    return ColumnarEngine(metrics, baselines=baselines, history=history, sentiment=sentiment)
