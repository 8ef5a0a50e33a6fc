"""The experiments processor: exposures and conversions of every configured experiment,
kept live from the event log.

Like the analytics counters, the state lives in memory and is rebuilt from the start of the
log when the server starts; events at or below the highest offset seen are skipped, so a
redelivered event never counts twice. A unit counts from its first exposure; it converts
when it sends the metric's event within the horizon after that exposure.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie.clock import Clock, SystemClock
from vigie.events import Event
from vigie.experiments.assignment import assign
from vigie.experiments.blocks import block_at, block_index, block_verdict, variant_of_block
from vigie.experiments.config import EXPOSURE_EVENT, Experiment
from vigie.experiments.verdicts import Arm, Verdict, verdict
from vigie.types import to_us


@dataclass
class _State:
    """What one experiment has seen."""

    exposed: dict[str, tuple[str, int]] = field(default_factory=dict)
    converted: set[str] = field(default_factory=set)
    guardrails: dict[str, set[str]] = field(default_factory=dict)
    mismatched: int = 0
    block_totals: dict[str, dict[int, float]] = field(default_factory=dict)
    """Time blocks: the total of each watched event per block index."""


class ExperimentsProcessor:
    """A `vigie.log.Processor` counting exposures and conversions per variant."""

    name = "experiments"

    def __init__(self, experiments: Sequence[Experiment], clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        """Says which time blocks are over (only complete blocks count)."""
        self.experiments = {e.name: e for e in experiments}
        self._state = {e.name: _State() for e in experiments}
        self._watching: dict[str, list[str]] = {}
        for exp in experiments:
            for name in (exp.metric, *exp.guardrails):
                self._watching.setdefault(name, []).append(exp.name)
        self.last_offset = 0
        self._lock = threading.Lock()

    def process(self, events: Sequence[Event]) -> None:
        """Fold a batch of events into every experiment (idempotent by offset)."""
        with self._lock:
            for event in events:
                offset = event.offset or 0
                if offset and offset <= self.last_offset:
                    continue
                self._observe(event)
                if offset:
                    self.last_offset = offset

    def _observe(self, event: Event) -> None:
        if event.event == EXPOSURE_EVENT:
            props = event.properties
            exp = self.experiments.get(str(props.get("experiment_name") or ""))
            unit = _unit_of(exp, event) if exp is not None else None
            if exp is None or unit is None:
                return
            state = self._state[exp.name]
            if unit in state.exposed:
                return
            reported = str(props.get("variation_name") or "")
            assigned = assign(exp, unit)
            if reported and reported != assigned:
                state.mismatched += 1
            shown = reported if reported in {v.name for v in exp.variants} else assigned
            state.exposed[unit] = (shown, to_us(event.timestamp))
            return
        for name in self._watching.get(event.event or "", ()):
            exp = self.experiments[name]
            if exp.blocks is not None:
                self._observe_block(exp, event)
                continue
            unit = _unit_of(exp, event)
            state = self._state[name]
            seen = state.exposed.get(unit or "")
            if unit is None or seen is None:
                continue
            delay = to_us(event.timestamp) - seen[1]
            if not 0 <= delay <= exp.horizon_us:
                continue
            if event.event == exp.metric:
                state.converted.add(unit)
            if event.event in exp.guardrails:
                state.guardrails.setdefault(event.event or "", set()).add(unit)

    def _observe_block(self, exp: Experiment, event: Event) -> None:
        """Add a watched event of the place under test to its time block's total."""
        design = exp.blocks
        assert design is not None
        if any(_field(event, k) != v for k, v in design.where.items()):
            return
        index = block_index(exp, to_us(event.timestamp), to_us(design.starts_at))
        if index is None:
            return
        amount: Any = 1 if design.value is None else _raw(event, design.value)
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            return
        totals = self._state[exp.name].block_totals.setdefault(event.event or "", {})
        totals[index] = totals.get(index, 0.0) + float(amount)

    def _block_verdict(self, exp: Experiment) -> Verdict:
        """The verdict of a time-block experiment from its complete blocks."""
        current = block_at(exp, self.clock.now())
        done = range(current.index if current is not None else 0)
        with self._lock:
            totals = {k: dict(v) for k, v in self._state[exp.name].block_totals.items()}

        def per_variant(event: str) -> dict[str, list[float]]:
            found: dict[str, list[float]] = {v.name: [] for v in exp.variants}
            counted = totals.get(event, {})
            for index in done:
                found[variant_of_block(exp, index)].append(counted.get(index, 0.0))
            return found

        guardrails = {g: per_variant(g) for g in exp.guardrails}
        return block_verdict(exp, per_variant(exp.metric), guardrails)

    def arms(self, name: str) -> list[Arm]:
        """Exposed and converted units per variant of experiment `name` (KeyError if none);
        for a time-block experiment, complete blocks and the metric's total per variant."""
        exp = self.experiments[name]
        if exp.blocks is not None:
            return self._block_verdict(exp).arms
        with self._lock:
            state = self._state[name]
            arms = []
            for variant in exp.variants:
                units = {u for u, (v, _at) in state.exposed.items() if v == variant.name}
                arms.append(
                    Arm(
                        variant=variant.name,
                        exposed=len(units),
                        converted=len(units & state.converted),
                        guardrails={g: len(units & us) for g, us in state.guardrails.items()},
                    )
                )
        return arms

    def mismatched(self, name: str) -> int:
        """Exposures whose reported variant differed from Vigie's assignment."""
        with self._lock:
            return self._state[name].mismatched

    def verdict(self, name: str) -> Verdict:
        """Where experiment `name` stands (KeyError if there is no such experiment)."""
        exp = self.experiments[name]
        if exp.blocks is not None:
            return self._block_verdict(exp)
        return verdict(exp, self.arms(name))


_TOP_LEVEL = frozenset({"site", "zone", "aisle", "source", "anonymous_id", "user_id", "count"})


def _raw(event: Event, name: str) -> Any:
    """Field `name` of the event: a sensor field, else a property."""
    if name in _TOP_LEVEL and getattr(event, name) is not None:
        return getattr(event, name)
    return event.properties.get(name)


def _field(event: Event, name: str) -> str | None:
    value = _raw(event, name)
    return None if value is None else str(value)


def _unit_of(experiment: Experiment, event: Event) -> str | None:
    return event.anonymous_id if experiment.unit == "anonymous_id" else event.user_id
