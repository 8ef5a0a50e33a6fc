"""Experiments: A/B/n tests with deterministic assignment, exposures and conversions read
from the event log, and verdicts with confidence intervals that a fixed horizon protects
from peeking."""

from vigie.experiments.assignment import assign
from vigie.experiments.config import Experiment, Variant
from vigie.experiments.verdicts import Arm, Verdict, planned_size, verdict

__all__ = ["Arm", "Experiment", "Variant", "Verdict", "assign", "planned_size", "verdict"]
