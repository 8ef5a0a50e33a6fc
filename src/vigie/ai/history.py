"""A synthetic CRM history: won and lost deals of past accounts, with the rep who worked them.

This is the documented tabular input the model learns from (the CRM part exports the same
shape from its tables). One row per closed deal:

- `deal_id`, `company_id`, `rep`, `closed_at` (date), `won` (bool), `amount_eur`;
- the account's prospect attributes (`vigie.ai.prospects.FEATURES`);
- what the CRM knows beyond the prospect base: `interactions` (count), `email_reply_rate`
  (0-1), `support_tickets` (count), `avg_days_late` (payment delay in days).

The outcome depends on the account's attributes through `prospects.Truth` plus noise and on
the rep's own strengths (some reps sell best to some sectors), so that a model and the
affinity estimates have something real, and imperfect, to find.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import polars as pl

from vigie.ai.prospects import SECTORS, Truth

REP_NAMES = [
    "Alice Dubois", "Bruno Peeters", "Chloé Martin", "David Janssens", "Emma Leroy",
    "François Maes", "Gaëlle Simon", "Hugo Claes", "Inès Moreau", "Jan Willems",
    "Karim Benali", "Laura Mertens", "Marc Lambert", "Nina Goossens", "Olivier Roux",
    "Pauline Girard", "Quentin Wouters", "Rania Bonnet", "Sophie Jacobs", "Thomas Hermans",
]  # fmt: skip

CRM_COLUMNS = ["interactions", "email_reply_rate", "support_tickets", "avg_days_late"]


def rep_strengths(reps: int, *, seed: int) -> np.ndarray:
    """Log-odds bonus of each rep (rows) in each sector (columns): two or three specialities."""
    rng = np.random.default_rng(seed + 77)
    strength = rng.normal(-0.1, 0.15, (reps, len(SECTORS))) + rng.normal(0, 0.2, (reps, 1))
    for r in range(reps):
        best = rng.choice(len(SECTORS), int(rng.integers(2, 4)), replace=False)
        strength[r, best] += rng.uniform(0.6, 1.1, len(best))
    return strength


def simulate_deals(
    coded: Mapping[str, np.ndarray],
    accounts: pl.DataFrame,
    *,
    deals: int,
    end: date,
    months: int = 24,
    reps: int = 12,
    seed: int = 7,
) -> pl.DataFrame:
    """Closed deals over `months` months up to `end` for accounts drawn from `accounts`.

    `coded` holds the same accounts' attributes as codes (`prospects.generate_coded`), row
    for row with `accounts` (`prospects.decode`).
    """
    rng = np.random.default_rng(seed + 31)
    truth = Truth.make(seed)
    pick = rng.choice(accounts.height, min(deals, accounts.height), replace=False)
    chosen = {key: value[pick] for key, value in coded.items()}
    n = len(pick)
    rep = rng.integers(0, reps, n)
    strengths = rep_strengths(reps, seed=seed)
    days = months * 30
    age_days = rng.integers(0, days, n)
    drift = 0.25 * (1 - age_days / days)
    latent = truth.logit(chosen, rng) + strengths[rep, chosen["nace"]] + drift
    won = rng.random(n) < 1 / (1 + np.exp(-latent))
    engaged = 1 / (1 + np.exp(-(latent + 1.0)))
    interactions = rng.poisson(2 + 4 * engaged + 2 * won)
    reply = np.clip(
        rng.beta(1 + 4 * engaged, 3, n) * chosen["email_ok"] + 0.05 * rng.random(n), 0, 1
    )
    tickets = rng.poisson(0.5 + 1.5 * won * rng.random(n))
    late = np.round(rng.exponential(3 + 20 * (1 - engaged)), 1)
    closed = [end - timedelta(days=int(d)) for d in age_days]
    amount = np.round(
        (chosen["employees"].astype(np.float64) + 5) ** 0.6 * rng.lognormal(7.0, 0.5, n), -1
    )
    frame = accounts[pick].with_columns(
        deal_id=pl.Series([f"D{seed:02d}-{i:06d}" for i in range(n)]),
        rep=pl.Series([REP_NAMES[r % len(REP_NAMES)] for r in rep]),
        closed_at=pl.Series(closed, dtype=pl.Date),
        won=pl.Series(won),
        amount_eur=pl.Series(amount),
        interactions=pl.Series(interactions.astype(np.int32)),
        email_reply_rate=pl.Series(np.round(reply, 3)),
        support_tickets=pl.Series(tickets.astype(np.int32)),
        avg_days_late=pl.Series(late),
    )
    first = ["deal_id", "company_id", "rep", "closed_at", "won", "amount_eur"]
    return frame.select(first + [c for c in frame.columns if c not in first]).sort("closed_at")


def history_for_base(
    *,
    first_partition_rows: int,
    seed: int,
    deals: int,
    end: date,
    reps: int = 12,
) -> pl.DataFrame:
    """The deal history of a base made by `prospects.generate_base` with the same seed.

    Its accounts are companies of the base's first partition, so that won accounts are
    recognised as existing customers when the base is scored.
    """
    from vigie.ai.prospects import decode, generate_coded

    coded = generate_coded(first_partition_rows, seed=seed * 100_003)
    accounts = decode(coded, first_id=1)
    return simulate_deals(coded, accounts, deals=deals, end=end, reps=reps, seed=seed)
