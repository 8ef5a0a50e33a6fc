"""Live KPIs: metric definitions and windowed aggregation on event time, with baselines."""

from vigie.kpi.engine import KpiEngine
from vigie.kpi.metrics import Metric, Term
from vigie.kpi.windows import Window

__all__ = ["KpiEngine", "Metric", "Term", "Window"]
