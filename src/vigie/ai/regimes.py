"""A generated, time-ordered marketing history with a change of economic regime.

One row per call over two years: customer traits (age, job, balance, calls, channel, an
earlier success), the context of the call (an interest rate, a consumer-confidence index,
the month) and the outcome. In the `shifted` history the economy breaks at 70 % of the
period: the rate falls below anything seen before, confidence rises, and conversions become
more frequent (through the rate, and a base-rate drift no column explains); the `stationary`
control keeps the same economy throughout. The outcome's law is known, so a model's ranking
and calibration on the most recent period can be judged against the truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

JOBS = ("admin", "blue-collar", "technician", "services", "management", "retired", "student",
        "self-employed")  # fmt: skip
JOB_EFFECT = (0.0, -0.4, -0.1, -0.3, 0.2, 0.6, 0.7, 0.0)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CONTEXT = ("rate", "confidence", "month")
BREAK = 0.7
START = datetime(2024, 1, 1, tzinfo=UTC)


def history(rows: int, *, seed: int = 0, shifted: bool = True) -> pl.DataFrame:
    """`rows` calls in time order, with `converted` (yes/no) and the true probability."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(rows))
    at = [START + timedelta(days=float(v) * 730) for v in t]
    month = np.array([MONTHS[d.month - 1] for d in at])
    age = np.clip(rng.normal(42, 12, rows), 18, 90).round()
    job = rng.integers(0, len(JOBS), rows)
    balance = np.round(rng.lognormal(7, 1.2, rows) - 400)
    calls = rng.geometric(0.4, rows)
    channel = np.where(rng.random(rows) < 0.65, "cellular", "telephone")
    earlier = rng.random(rows) < 0.08
    season = np.sin(2 * np.pi * t * 24)
    wave = np.cos(2 * np.pi * t * 36)
    if shifted:
        after = t >= BREAK
        progress = np.clip((t - BREAK) / (1 - BREAK), 0, 1)
        rate = np.where(after, 2.4 - 2.0 * progress, 4.1 + 0.5 * season)
        confidence = np.where(after, -36 + 2 * progress, -42 + 2 * wave)
        drift = np.where(after, 0.25, 0.0)
    else:
        rate = 4.1 + 0.5 * season
        confidence = -42 + 2 * wave
        drift = np.zeros(rows)
    rate = rate + rng.normal(0, 0.3, rows)
    confidence = confidence + rng.normal(0, 1.5, rows)
    logit = (
        -2.8
        + 0.0012 * (age - 45) ** 2
        + np.asarray(JOB_EFFECT)[job]
        + 0.35 * np.log1p(np.maximum(balance, 0)) / 3
        - 0.25 * np.minimum(calls, 6)
        + np.where(channel == "cellular", 0.5, 0.0)
        + 1.6 * earlier
        + np.where((job == 4) & (age < 40), 0.7, 0.0)
        - 0.3 * (rate - 4.1)
        + 0.04 * (confidence + 42)
        + drift
    )
    p = 1 / (1 + np.exp(-logit))
    converted = rng.random(rows) < p
    return pl.DataFrame(
        {
            "called_at": at,
            "age": age.astype(np.int64),
            "job": np.asarray(JOBS)[job],
            "balance": balance.astype(np.int64),
            "calls": calls.astype(np.int64),
            "channel": channel,
            "earlier_success": earlier,
            "rate": rate.round(3),
            "confidence": confidence.round(1),
            "month": month,
            "converted": np.where(converted, "yes", "no"),
            "true_probability": p,
        }
    )
