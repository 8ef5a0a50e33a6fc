"""Streaming statistics, one per module: `update(x)`, `revert(x)`, `get()`, and pane
`merge`/`unmerge` so that sliding windows can add and drop whole slides at once."""

from vigie.kpi.stats.base import Statistic
from vigie.kpi.stats.count import Count
from vigie.kpi.stats.distinct import DistinctCount
from vigie.kpi.stats.mean import Mean
from vigie.kpi.stats.quantile import Quantile
from vigie.kpi.stats.ratio import Ratio
from vigie.kpi.stats.sum import Sum

__all__ = ["Count", "DistinctCount", "Mean", "Quantile", "Ratio", "Statistic", "Sum"]
