"""How well each salesperson sells to each kind of customer, without trusting luck.

A rep's win rate in a segment (sector x size x region) is smoothed with a Beta prior
(empirical Bayes): the prior is centred on what the rep does in the whole sector, itself
shrunk towards the sector's rate over all reps, so three lucky deals do not make an expert.
Each estimate carries its 90% credible interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import beta as beta_dist

SEGMENT = ("nace", "size_band", "region")
CREDIBLE = 0.90


def prior_strength(wins: np.ndarray, deals: np.ndarray, mean: np.ndarray) -> float:
    """The Beta prior's weight (alpha + beta) by the method of moments across cells.

    Between-cell variance beyond binomial noise says how much cells really differ; little
    real variance means a strong prior. Clipped to [2, 200] deals' worth.
    """
    mask = deals > 0
    if mask.sum() < 3:
        return 20.0
    rate = wins[mask] / deals[mask]
    m = mean[mask]
    n = deals[mask]
    observed = float(np.average((rate - m) ** 2, weights=n))
    noise = float(np.average(m * (1 - m) / n, weights=n))
    real = observed - noise
    spread = float(np.average(m * (1 - m), weights=n))
    if real <= 0:
        return 200.0
    return float(np.clip(spread / real - 1, 2.0, 200.0))


def _posterior(frame: pl.DataFrame, prior_col: str, strength: float) -> pl.DataFrame:
    a = pl.col(prior_col) * strength + pl.col("wins")
    b = (1 - pl.col(prior_col)) * strength + (pl.col("deals") - pl.col("wins"))
    frame = frame.with_columns(alpha=a, beta=b).with_columns(
        rate=pl.col("alpha") / (pl.col("alpha") + pl.col("beta"))
    )
    lo, hi = (1 - CREDIBLE) / 2, 1 - (1 - CREDIBLE) / 2
    alpha, beta = frame["alpha"].to_numpy(), frame["beta"].to_numpy()
    low = np.asarray(beta_dist.ppf(lo, alpha, beta), dtype=np.float64)
    high = np.asarray(beta_dist.ppf(hi, alpha, beta), dtype=np.float64)
    return frame.with_columns(low=pl.Series(low), high=pl.Series(high))


@dataclass(frozen=True)
class Affinity:
    """Smoothed win rates per rep and segment, with fall-backs for unseen segments."""

    global_rate: float
    sectors: pl.DataFrame
    rep_sectors: pl.DataFrame
    cells: pl.DataFrame
    strength_sector: float
    strength_cell: float

    def table(self) -> pl.DataFrame:
        """Every (rep, segment) estimate: deals, wins, smoothed rate and credible interval."""
        return self.cells.select(
            "rep", *SEGMENT, "deals", "wins", "rate", "low", "high", "segment_rate"
        ).sort("rep", *SEGMENT)

    def rates(self, reps: list[str], leads: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(rate, segment rate) matrices of shape (leads, reps), fall-backs included.

        A rep's rate for a lead is the rep's smoothed rate in the lead's segment; for a
        segment the rep never worked, the rep's smoothed sector rate; then the sector's.
        """
        keys = leads.select([pl.col(c).cast(pl.String) for c in SEGMENT]).with_row_index("i")
        rate = np.empty((leads.height, len(reps)))
        segment = np.empty((leads.height, len(reps)))
        sector_rate = (
            keys.join(self.sectors.select("nace", "sector_rate"), on="nace", how="left")
            .sort("i")["sector_rate"]
            .fill_null(self.global_rate)
            .to_numpy()
        )
        for j, rep in enumerate(reps):
            by_sector = (
                keys.join(
                    self.rep_sectors.filter(pl.col("rep") == rep).select("nace", "rate"),
                    on="nace",
                    how="left",
                )
                .sort("i")["rate"]
                .to_numpy()
            )
            by_sector = np.where(np.isnan(by_sector), sector_rate, by_sector)
            cell = (
                keys.join(
                    self.cells.filter(pl.col("rep") == rep).select(*SEGMENT, "rate"),
                    on=list(SEGMENT),
                    how="left",
                )
                .sort("i")["rate"]
                .to_numpy()
            )
            rate[:, j] = np.where(np.isnan(cell), by_sector, cell)
            segment[:, j] = sector_rate
        return rate, segment

    def evidence(self, reps: list[str], leads: pl.DataFrame) -> np.ndarray:
        """(leads, reps) deals behind each rate of `rates`: the rep's deals in the lead's
        segment, else in its sector, else none (the sector's own rate)."""
        keys = leads.select([pl.col(c).cast(pl.String) for c in SEGMENT]).with_row_index("i")
        deals = np.zeros((leads.height, len(reps)))
        for j, rep in enumerate(reps):
            cell = (
                keys.join(
                    self.cells.filter(pl.col("rep") == rep).select(*SEGMENT, "deals"),
                    on=list(SEGMENT),
                    how="left",
                )
                .sort("i")["deals"]
                .cast(pl.Float64)
                .to_numpy()
            )
            sector = (
                keys.join(
                    self.rep_sectors.filter(pl.col("rep") == rep).select("nace", "deals"),
                    on="nace",
                    how="left",
                )
                .sort("i")["deals"]
                .cast(pl.Float64)
                .fill_null(0.0)
                .to_numpy()
            )
            deals[:, j] = np.where(np.isnan(cell), sector, cell)
        return deals


def estimate(deals: pl.DataFrame, *, won: str = "won") -> Affinity:
    """Fit the two-level Beta smoothing on closed deals (`rep`, segment columns, `won`)."""
    missing = [c for c in ("rep", *SEGMENT, won) if c not in deals.columns]
    if missing:
        raise ValueError(f"deal history lacks column(s) {missing} needed for rep affinity")
    data = deals.select(
        pl.col("rep").cast(pl.String),
        *[pl.col(c).cast(pl.String) for c in SEGMENT],
        pl.col(won).cast(pl.Int64).alias("won"),
    )
    # Laplace's rule keeps every prior strictly between 0 and 1, even with no win at all.
    global_rate = (float(data["won"].sum()) + 1.0) / (data.height + 2.0)
    sectors = data.group_by("nace").agg(deals=pl.len(), wins=pl.col("won").sum())
    s_strength = prior_strength(
        sectors["wins"].to_numpy(),
        sectors["deals"].to_numpy(),
        np.full(sectors.height, global_rate),
    )
    sectors = sectors.with_columns(
        sector_rate=(pl.col("wins") + global_rate * s_strength) / (pl.col("deals") + s_strength)
    )
    rep_sectors = (
        data.group_by("rep", "nace")
        .agg(deals=pl.len(), wins=pl.col("won").sum())
        .join(sectors.select("nace", "sector_rate"), on="nace")
    )
    rs_strength = prior_strength(
        rep_sectors["wins"].to_numpy(),
        rep_sectors["deals"].to_numpy(),
        rep_sectors["sector_rate"].to_numpy(),
    )
    rep_sectors = _posterior(rep_sectors, "sector_rate", rs_strength)
    cells = (
        data.group_by("rep", *SEGMENT)
        .agg(deals=pl.len(), wins=pl.col("won").sum())
        .join(
            rep_sectors.select("rep", "nace", pl.col("rate").alias("rep_sector_rate")),
            on=["rep", "nace"],
        )
        .join(sectors.select("nace", pl.col("sector_rate").alias("segment_rate")), on="nace")
    )
    cell_strength = 2.0 * rs_strength
    cells = _posterior(cells, "rep_sector_rate", cell_strength)
    return Affinity(
        global_rate=global_rate,
        sectors=sectors,
        rep_sectors=rep_sectors,
        cells=cells,
        strength_sector=rs_strength,
        strength_cell=cell_strength,
    )
