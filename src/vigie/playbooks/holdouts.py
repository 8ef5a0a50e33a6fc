"""Control groups built into actions: a step with `holdout:` leaves a random share of the
units it would act on alone, records who was treated and who was held out, and measures the
step's outcome metric in both groups over the declared horizon.

Assignment is deterministic (the experiments' rule: SHA-256 of `seed:unit`, the seed being
`playbook/step` unless given), so a re-run, a restart or a replay puts every unit in the same
group. The verdict is the experiments' one (`vigie.experiments.verdicts`): no p-value before
the planned sample, a confidence interval after.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from vigie.experiments.assignment import bucket
from vigie.experiments.config import Experiment, Variant
from vigie.experiments.verdicts import Arm, Verdict, verdict
from vigie.kpi.durations import parse_duration
from vigie.store.schema import Offset, events, metadata

Group = Literal["treated", "held_out"]

holdout_units = sa.Table(
    "holdout_units",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("playbook", sa.String(200), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("unit", sa.String(200), nullable=False),
    sa.Column("grp", sa.String(20), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.UniqueConstraint("playbook", "step", "unit", name="uq_holdout_units_unit"),
)


class Holdout(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """`holdout:` of a playbook step: leave `share` of the units alone, and compare `metric`
    (an event the units send, e.g. `Order Completed`) within `horizon` between the treated
    and the held out; `baseline` and `mde` size the comparison as an experiment's."""

    share: float = 0.1
    """The share (between 0 and 1) of the units left alone as the control group (0.1: one in
    ten)."""
    metric: str
    """The event whose arrival from a unit counts as the outcome (e.g. `Order Completed`)."""
    horizon: str = "1d"
    """A duration: how long after the step a unit's `metric` event still counts."""
    baseline: float = 0.1
    """The outcome's expected rate without the action (0.1: one unit in ten), to size the
    comparison."""
    mde: float = 0.05
    """The smallest absolute change of that rate worth detecting (0.05: five points); smaller needs
    more units."""
    seed: str | None = None
    """The seed of the random split; none: `playbook/step`. Change it to draw a new control
    group."""

    def group(self, seed: str, unit: str) -> Group:
        """The group of `unit` under `seed` (the step's, unless this holdout sets one)."""
        return "held_out" if bucket(self.seed or seed, unit) < self.share else "treated"


def check(holdout: Holdout) -> list[tuple[list[str], str]]:
    """Problems of a step's `holdout:` as (key path, message) pairs."""
    problems: list[tuple[list[str], str]] = []
    if not 0 < holdout.share < 1:
        problems.append((["holdout", "share"], "a share between 0 and 1, e.g. 0.1 for 10 %"))
    try:
        parse_duration(holdout.horizon)
    except ValueError as exc:
        problems.append((["holdout", "horizon"], str(exc)))
    if not 0 < holdout.baseline < 1 or not 0 < holdout.baseline + holdout.mde < 1:
        problems.append((["holdout", "mde"], "baseline and baseline + mde must lie in (0, 1)"))
    return problems


def split(
    conn: sa.Connection,
    holdout: Holdout,
    *,
    playbook: str,
    step: str,
    units: Sequence[str],
    run_id: str,
    at: datetime,
) -> list[str]:
    """The units to act on; every unit's group is recorded once (the first time it is met)."""
    seed = f"{playbook}/{step}"
    groups = {unit: holdout.group(seed, unit) for unit in dict.fromkeys(units)}
    known = set(
        conn.execute(
            sa.select(holdout_units.c.unit).where(
                holdout_units.c.playbook == playbook,
                holdout_units.c.step == step,
                holdout_units.c.unit.in_(list(groups)),
            )
        ).scalars()
    )
    fresh = [u for u in groups if u not in known]
    if fresh:
        at_us = int(at.timestamp() * 1_000_000)
        conn.execute(
            holdout_units.insert(),
            [
                {
                    "playbook": playbook,
                    "step": step,
                    "unit": u,
                    "grp": groups[u],
                    "at_us": at_us,
                    "run_id": run_id,
                }
                for u in fresh
            ],
        )
    return [u for u, g in groups.items() if g == "treated"]


class HoldoutReport(msgspec.Struct, kw_only=True):
    """One step's control group: its design and the measured effect of the action."""

    playbook: str
    step: str
    holdout: Holdout
    verdict: Verdict


def measure(
    conn: sa.Connection,
    holdout: Holdout,
    *,
    playbook: str,
    step: str,
    run_id: str | None = None,
) -> HoldoutReport:
    """Treated and held-out units of a step (of its run `run_id` only, when given), and how
    many sent `metric` within the horizon after they were assigned (read from the SQL event
    log)."""
    horizon_us = parse_duration(holdout.horizon)
    hu = holdout_units
    converted = (
        sa.select(events.c.log_offset)
        .where(
            events.c.anonymous_id == hu.c.unit,
            events.c.event == holdout.metric,
            events.c.timestamp_us >= hu.c.at_us,
            events.c.timestamp_us <= hu.c.at_us + horizon_us,
        )
        .exists()
    )
    rows = conn.execute(
        sa.select(hu.c.grp, sa.func.count(), sa.func.count().filter(converted))
        .where(
            hu.c.playbook == playbook,
            hu.c.step == step,
            *([hu.c.run_id == run_id] if run_id is not None else []),
        )
        .group_by(hu.c.grp)
    ).all()
    counts = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    experiment = Experiment(
        name=f"{playbook}/{step}",
        variants=[
            Variant(name="held_out", weight=holdout.share),
            Variant(name="treated", weight=1 - holdout.share),
        ],
        metric=holdout.metric,
        horizon=holdout.horizon,
        baseline=holdout.baseline,
        mde=holdout.mde,
    )
    arms = [
        Arm(variant=g, exposed=counts.get(g, (0, 0))[0], converted=counts.get(g, (0, 0))[1])
        for g in ("held_out", "treated")
    ]
    return HoldoutReport(
        playbook=playbook, step=step, holdout=holdout, verdict=verdict(experiment, arms)
    )


class HoldoutBook:
    """The control groups of every playbook step that declares one, measured on demand."""

    def __init__(self, *, engine: sa.Engine, designs: Sequence[tuple[str, str, Holdout]]) -> None:
        self._engine = engine
        self._designs = list(designs)

    def design(self, playbook: str, step: str) -> Holdout | None:
        """The control group step `step` of `playbook` declares, if any."""
        return next((h for p, s, h in self._designs if (p, s) == (playbook, step)), None)

    def report(
        self, playbook: str, step: str, *, run_id: str | None = None
    ) -> HoldoutReport | None:
        """The measured effect of one step (of one of its runs, when `run_id` is given), or
        None when the step declares no control group."""
        design = self.design(playbook, step)
        if design is None:
            return None
        with self._engine.connect() as conn:
            return measure(conn, design, playbook=playbook, step=step, run_id=run_id)

    def reports(self) -> list[HoldoutReport]:
        """Each step's treated and held-out groups and the verdict on its effect."""
        with self._engine.connect() as conn:
            return [
                measure(conn, design, playbook=playbook, step=step)
                for playbook, step, design in self._designs
            ]
