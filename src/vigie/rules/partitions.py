"""The rules shared out by partition of the log, so that several workers run them at once.

Which rules are partitionable: a `threshold`, `change` or `anomaly` rule on a metric grouped
by the log's partition key (`by` names it, `vigie.kpi.partitions`). Each of its groups, its
window and its alert live in one partition, and the worker holding that partition's lease
counts and evaluates them alone: nothing to merge, nothing counted twice.

Which stay on one holder (the rules' share, `processors`): every other rule: those on a
metric over all keys (a global rate: its value is over every partition's events), `sla`,
`absence` and `sequential` rules, and `all`/`any` rules with the rules they combine. They
run on the whole log, as without partitions.

A partition's engine is built afresh each time this process takes the partition: its windows
are rebuilt from the log (the alerting lookback up to the partition's checkpoint) and its
active alerts are those of the store in its groups, so a partition that moves from a dead
worker to a live one carries on from its acknowledged position, every event counted once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from vigie.events import Event
from vigie.kpi.metrics import Metric
from vigie.kpi.partitions import Partitioning
from vigie.log.eventlog import EventLog
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import COMPOSITE, ON_METRICS, AlertingEngine

PARTITION_PREFIX = "rules:p"


class RuleSplit:
    """The rules and metrics of the whole log, and those run per partition."""

    def __init__(
        self, metrics: Sequence[Metric], rules: Sequence[Rule], partitioning: Partitioning
    ) -> None:
        self.partitioning = partitioning
        split = {m.name for m in metrics if partitioning.splits(m)}
        combined = {name for rule in rules if rule.kind in COMPOSITE for name in rule.rules}
        self.partitioned: list[Rule] = [
            r
            for r in rules
            if r.kind in ON_METRICS and r.metric in split and r.name not in combined
        ]
        names = {r.name for r in self.partitioned}
        self.whole: list[Rule] = [r for r in rules if r.name not in names]
        """The rules run on the whole log, by the rules' share."""
        self._tuning = threading.Lock()
        self.partition_metrics: list[Metric] = [m for m in metrics if m.name in split]
        needed = {r.metric for r in self.whole}
        self.whole_metrics: list[Metric] = [
            m for m in metrics if m.name not in split or m.name in needed
        ]
        """The metrics the whole log's rules need, and those no partition keeps."""

    @property
    def partitioned_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.partitioned)

    def tune(self, rule: Rule) -> None:
        """Make a tuned version of a partitioned rule the one each partition is built with
        from now on (`RulesPartition.take`); its kind and metric stay."""
        with self._tuning:
            index = next(i for i, r in enumerate(self.partitioned) if r.name == rule.name)
            old = self.partitioned[index]
            if (rule.kind, rule.metric) != (old.kind, old.metric):
                raise ValueError(
                    f"rule {rule.name!r}: only a threshold or change rule's parameters change "
                    "live; its kind and metric stay"
                )
            self.partitioned = [*self.partitioned[:index], rule, *self.partitioned[index + 1 :]]

    def owned_by_whole(self, alert: Alert) -> bool:
        """Whether a stored alert is the whole log's engine's (not a partition's)."""
        return alert.rule not in self.partitioned_names


class RulesPartition:
    """The partitionable rules over one partition of the log: a processor named
    `rules:p<index>` whose durable consumer follows that partition's subjects only."""

    def __init__(
        self, index: int, *, split: RuleSplit, build: Callable[..., AlertingEngine]
    ) -> None:
        self.partition = index
        self.name = f"{PARTITION_PREFIX}{index}"
        self.split = split
        self._build = build
        self._in = split.partitioning.reader()
        self._names = split.partitioned_names
        self._lock = threading.Lock()
        self.engine: AlertingEngine | None = None

    def keeps(self, event: Event) -> bool:
        """Whether `event` is of this partition (all of them are, read through NATS)."""
        return self._in(event) == self.partition

    def owns(self, alert: Alert) -> bool:
        """Whether a stored alert is of a partitionable rule and a group of this partition."""
        partitioning = self.split.partitioning
        return alert.rule in self._names and partitioning.of_labels(alert.labels) == self.partition

    def take(self, log: EventLog, *, lookback_us: int) -> None:
        """Start holding the partition: a fresh engine with the rules as tuned now, its
        windows rebuilt from the log up to the partition's checkpoint and its active alerts
        loaded from the store."""
        built = self.split.partitioned
        engine = self._build(
            self.split.partition_metrics,
            list(built),
            name=self.name,
            keeps=self.keeps,
            owns=self.owns,
        )
        engine.restore(log, lookback_us=lookback_us)
        with self._lock:
            # A version tuned while the engine was being rebuilt found no engine here.
            for rule in self.split.partitioned:
                if rule not in built:
                    engine.replace_rule(rule)
            self.engine = engine

    def tune(self, rule: Rule) -> None:
        """Put a tuned version of one of the partition's rules in place, when it is held
        here (`RuleSplit.tune` first, for when it is taken)."""
        with self._lock:
            if self.engine is not None:
                self.engine.replace_rule(rule)

    def give_up(self) -> None:
        """Stop holding the partition: its state goes with it (the next holder rebuilds it)."""
        with self._lock:
            self.engine = None

    def _held(self) -> AlertingEngine:
        engine = self.engine
        if engine is None:
            raise RuntimeError(f"partition {self.partition} of the rules is not held here")
        return engine

    @property
    def checkpoint_due(self) -> bool:
        engine = self.engine
        return engine is not None and engine.checkpoint_due

    @checkpoint_due.setter
    def checkpoint_due(self, value: bool) -> None:
        engine = self.engine
        if engine is not None:
            engine.checkpoint_due = value

    def process(self, events: Sequence[Event]) -> None:
        """Count the partition's events and evaluate its rules on the groups they touched."""
        self._held().process(events)

    def tick(self) -> None:
        """Let time pass in the partition's windows, when it is held here (not in an engine
        just given up: its alerts are its next holder's)."""
        with self._lock:
            if self.engine is not None:
                self.engine.tick()
