"""Giving the best leads to the reps most likely to convert them, within each one's capacity.

The value of giving lead i to rep j is the expected conversion, one formula shown to the
rep with its terms:

    expected_ij = clip(p_i + w_ij * (a_ij - s_i), low, high),   w_ij = n_ij / (n_ij + m)

p_i is the lead's calibrated probability, a_ij the rep's smoothed win rate in the lead's
segment, s_i the segment's rate over all reps, n_ij the rep's deals behind a_ij and m the
prior's strength (deals' worth); [low, high] is the range the model's calibration maps to.
An average rep (a = s) leaves p unchanged, a rep adds at most their measured advantage in
percentage points, and nothing leaves the calibrated range: a rep who converts 26 % is never
shown an expected 77 % on a lead the model scores 50 % (issue 22).
Maximising the total under capacities is a transportation problem, solved exactly as a
min-cost flow; it reaches the same optimum as `linear_sum_assignment` on one column per
capacity slot (kept for checks), at a fraction of the size (values are rounded to 1e-6).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from vigie.ai.affinity import Affinity
from vigie.ai.labels import value_name
from vigie.ai.reps import Rep

VALUE_SCALE = 1e6


def optimal(values: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """For each row (lead), the column (rep) it goes to, or -1; maximises the total value.

    Solved as a min-cost flow (OR-Tools): source -> lead (1) -> rep (1, cost -value) ->
    sink (capacity). Values are positive, so the maximum flow of least cost is the optimum.
    """
    leads, reps = values.shape
    if leads == 0 or reps == 0 or capacities.sum() == 0:
        return np.full(leads, -1, dtype=np.int64)
    from ortools.graph.python import min_cost_flow

    flow = min_cost_flow.SimpleMinCostFlow()
    source, sink = leads + reps, leads + reps + 1
    lead_nodes = np.arange(leads)
    rep_nodes = leads + np.arange(reps)
    tails = np.concatenate([np.full(leads, source), np.repeat(lead_nodes, reps), rep_nodes])
    heads = np.concatenate([lead_nodes, np.tile(rep_nodes, leads), np.full(reps, sink)])
    caps = np.concatenate([np.ones(leads + leads * reps), capacities]).astype(np.int64)
    scaled = -np.rint(np.clip(values, 0, None).ravel() * VALUE_SCALE)
    costs = np.concatenate([np.zeros(leads), scaled, np.zeros(reps)]).astype(np.int64)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_node_supply(source, leads)
    flow.set_node_supply(sink, -leads)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # pragma: no cover - the network is always feasible
        raise RuntimeError(f"assignment solver failed with status {status}")
    taken = np.asarray(flow.flows(arcs[leads : leads + leads * reps])).reshape(leads, reps)
    return np.where(taken.max(axis=1) > 0, taken.argmax(axis=1), -1).astype(np.int64)


def evidence_weight(deals: np.ndarray, strength: float) -> np.ndarray:
    """w = n / (n + m): how far a rep's measured advantage is trusted, from their deals."""
    weight: np.ndarray = deals / (deals + max(strength, 1e-9))
    return weight


def expected_conversion(
    probability: np.ndarray,
    rep_rate: np.ndarray,
    segment_rate: np.ndarray,
    weight: np.ndarray | float = 1.0,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """(leads, reps) expected conversions: p + w * (rep rate - segment rate), kept in `bounds`
    (the calibrated range)."""
    moved = probability[:, None] + weight * (rep_rate - segment_rate)
    expected: np.ndarray = np.clip(moved, bounds[0], bounds[1])
    return expected


def optimal_by_slots(values: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """The same optimum by `linear_sum_assignment` over capacity slots (small problems)."""
    slots = np.repeat(np.arange(values.shape[1]), capacities)
    if len(slots) == 0:
        return np.full(values.shape[0], -1, dtype=np.int64)
    rows, cols = linear_sum_assignment(values[:, slots], maximize=True)
    chosen = np.full(values.shape[0], -1, dtype=np.int64)
    chosen[rows] = slots[cols]
    return chosen


def assign(
    leads: pl.DataFrame,
    reps: list[Rep],
    affinity: Affinity,
    *,
    now: datetime,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> pl.DataFrame:
    """`leads` (with `probability` and segment columns) with the rep each one goes to.

    Adds `rep`, `expected` (expected conversion), `rep_rate`, `rep_low`, `rep_high`,
    `segment_rate`, `due_at` (the rep's next working time) and the reason in English and
    French. A rep's leads fall due through their working hours, best first
    (`Rep.task_times`). Leads beyond the reps' total capacity get no rep and say so.
    """
    names = [r.name for r in reps]
    rate, segment = affinity.rates(names, leads)
    weight = evidence_weight(affinity.evidence(names, leads), affinity.strength_cell)
    probability = leads["probability"].to_numpy()
    values = expected_conversion(probability, rate, segment, weight, bounds=bounds)
    chosen = optimal(values, np.array([r.capacity for r in reps]))
    rows = np.arange(leads.height)
    picked = np.where(chosen >= 0, chosen, 0)
    rep_rate = np.where(chosen >= 0, rate[rows, picked], np.nan)
    seg_rate = segment[rows, 0]
    expected = np.where(chosen >= 0, values[rows, picked], np.nan)
    rep_weight = np.where(chosen >= 0, weight[rows, picked], np.nan)
    rep_col = [names[c] if c >= 0 else None for c in chosen]
    due: list[datetime | None] = [None] * leads.height
    for j, person in enumerate(reps):
        mine = np.flatnonzero(chosen == j)
        mine = mine[np.argsort(-values[mine, j], kind="stable")]
        for lead, moment in zip(mine, person.task_times(now, len(mine)), strict=True):
            due[int(lead)] = moment
    reasons_en, reasons_fr = [], []
    sectors = leads["nace"].cast(pl.String).to_list()
    sizes = leads["size_band"].cast(pl.String).to_list()
    regions = leads["region"].cast(pl.String).to_list()
    scores = leads["score"].to_list()
    for i, rep in enumerate(rep_col):
        seg_en = (
            f"{value_name('nace', sectors[i], 'en')}, {sizes[i]}, "
            f"{value_name('region', regions[i], 'en')}"
        )
        seg_fr = (
            f"{value_name('nace', sectors[i], 'fr')}, {sizes[i]}, "
            f"{value_name('region', regions[i], 'fr')}"
        )
        if rep is None:
            reasons_en.append(f"score {scores[i]}: no rep has capacity left today")
            reasons_fr.append(f"score {scores[i]} : aucun commercial n'a de capacité aujourd'hui")
            continue
        terms = (
            f"{probability[i]:.0%} + {rep_weight[i]:.2f} x ({rep_rate[i]:.0%} - {seg_rate[i]:.0%})"
        )
        reasons_en.append(
            f"score {scores[i]}; {rep} converts {rep_rate[i]:.0%} in {seg_en} "
            f"vs {seg_rate[i]:.0%} for the sector; expected conversion {expected[i]:.0%} "
            f"= {terms}"
        )
        reasons_fr.append(
            f"score {scores[i]} ; {rep} convertit {rep_rate[i]:.0%} en {seg_fr} "
            f"contre {seg_rate[i]:.0%} pour le secteur ; conversion attendue "
            f"{expected[i]:.0%} = {terms}"
        )
    cell = affinity.cells.select("rep", "nace", "size_band", "region", "low", "high")
    out = leads.with_columns(
        rep=pl.Series(rep_col, dtype=pl.String),
        expected=pl.Series(expected),
        rep_rate=pl.Series(rep_rate),
        segment_rate=pl.Series(seg_rate),
        due_at=pl.Series(due, dtype=pl.Datetime("us", "UTC")),
        reason_en=pl.Series(reasons_en),
        reason_fr=pl.Series(reasons_fr),
    )
    keyed = out.with_columns(
        _nace=pl.col("nace").cast(pl.String),
        _size=pl.col("size_band").cast(pl.String),
        _region=pl.col("region").cast(pl.String),
    ).join(
        cell.rename({"nace": "_nace", "size_band": "_size", "region": "_region"}),
        on=["rep", "_nace", "_size", "_region"],
        how="left",
        maintain_order="left",
    )
    return keyed.drop("_nace", "_size", "_region").rename({"low": "rep_low", "high": "rep_high"})
