"""REST API of experiments: each A/B/n test with its arms and verdict, and the variant a
unit is assigned to (deterministic: the same answer on every server, every time)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from vigie.experiments import assign
from vigie.experiments.blocks import block_at
from vigie.experiments.processor import ExperimentsProcessor
from vigie.web.deps import NO_NUL, ClockDep, ExperimentsDep, HoldoutsDep, require
from vigie.web.problems import AUTH_ERRORS, NOT_FOUND

router = APIRouter(
    prefix="/api/experiments",
    tags=["experiments"],
    dependencies=[Depends(require("analytics", "read"))],
    responses=AUTH_ERRORS,
)
Name = Annotated[str, Path(max_length=200, pattern=NO_NUL)]


def _json(body: Any) -> Response:
    return Response(content=msgspec.json.encode(body), media_type="application/json")


@router.get("", response_class=Response)
def list_experiments(experiments: ExperimentsDep) -> Response:
    """Every experiment of vigie.yaml with its design and where it stands."""
    return _json({"experiments": [_report(experiments, n) for n in experiments.experiments]})


def _report(experiments: ExperimentsProcessor, name: str) -> dict[str, Any]:
    return {
        "experiment": experiments.experiments[name],
        "verdict": experiments.verdict(name),
        "mismatched": experiments.mismatched(name),
    }


@router.get("/{name}", response_class=Response, responses=NOT_FOUND)
def get_experiment(experiments: ExperimentsDep, name: Name) -> Response:
    """One experiment: its arms (exposed, converted), and once the planned sample is reached
    the effect of each variant with its confidence interval, p-value and sentence."""
    if name not in experiments.experiments:
        raise HTTPException(404, f"no experiment {name!r} in vigie.yaml")
    return _json(_report(experiments, name))


@router.get(
    "/{name}/assignment",
    responses={**NOT_FOUND, 409: {"description": "a time-block experiment not started yet"}},
)
def assignment(
    experiments: ExperimentsDep,
    clock: ClockDep,
    name: Name,
    unit: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)],
) -> dict[str, str]:
    """The variant `unit` is assigned to; show it, then send `Experiment Viewed` with
    `experiment_name` and `variation_name` so that the exposure counts. For an experiment
    that alternates by time block (a display, a street), the variant the whole place shows
    now, whatever the unit, and when its block ends."""
    exp = experiments.experiments.get(name)
    if exp is None:
        raise HTTPException(404, f"no experiment {name!r} in vigie.yaml")
    if exp.blocks is None:
        return {"experiment": name, "unit": unit, "variant": assign(exp, unit)}
    block = block_at(exp, clock.now())
    if block is None:
        raise HTTPException(
            409, f"experiment {name!r} starts at {exp.blocks.starts_at.isoformat()} (blocks)"
        )
    return {
        "experiment": name,
        "unit": unit,
        "variant": block.variant,
        "block_starts_at": block.starts_at.isoformat(),
        "block_ends_at": block.ends_at.isoformat(),
    }


holdouts_router = APIRouter(
    prefix="/api/holdouts",
    tags=["experiments"],
    dependencies=[Depends(require("playbooks", "read"))],
    responses=AUTH_ERRORS,
)


@holdouts_router.get("", response_class=Response)
def list_holdouts(holdouts: HoldoutsDep) -> Response:
    """The control groups of playbook steps (`holdout:`): treated and held-out units, how
    many converted within the horizon, and the verdict on the step's effect."""
    return _json({"holdouts": holdouts.reports()})
