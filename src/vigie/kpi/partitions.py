"""Which partition of the log an event, a KPI group or an alert belongs to.

With the log on NATS JetStream cut into `count` partitions, every event is published on the
subject of the partition its key (`key`, a field path such as `campaign`, `site` or
`contact`) hashes to; each worker then follows the partitions it holds. A metric grouped by
that key (`by` names it) keeps each group's whole state in one partition, so the groups are
shared out without any merging. An event without the key, and a group labelled `(none)`,
belong to partition 0.

The hash is CRC-32 of the value's text: stable across processes and machines (Python's
`hash` of a string is not), and the same on the ingest node that publishes and on the
worker that reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import msgspec

from vigie.events import Event
from vigie.kpi.metrics import MISSING, Metric, accessor


class Partitioning(msgspec.Struct, kw_only=True, frozen=True):
    """`count` partitions of the log by the value of field `key` (1: not partitioned)."""

    count: int = 1
    key: str = "contact"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"partitions: {self.count} is not a number of partitions (>= 1)")
        accessor(self.key)  # raises ValueError naming the path when it cannot be read

    @property
    def partitioned(self) -> bool:
        return self.count > 1

    def of_value(self, value: object) -> int:
        """The partition of a key's value (as a KPI group labels it)."""
        if value is None or self.count == 1:
            return 0
        text = str(value)
        if text == MISSING:
            return 0
        return zlib.crc32(text.encode()) % self.count

    def reader(self) -> PartitionOf:
        """A function giving an event's partition (built once: it reads the key's field)."""
        return PartitionOf(self)

    def of_labels(self, labels: Mapping[str, str]) -> int:
        """The partition of a KPI group or alert from its labels (0 without the key)."""
        return self.of_value(labels.get(self.key))

    def splits(self, metric: Metric) -> bool:
        """Whether `metric`'s groups each fall in one partition: it is grouped by the key."""
        return self.partitioned and self.key in metric.by


class PartitionOf:
    """An event's partition under a `Partitioning` (the field read once per event)."""

    def __init__(self, partitioning: Partitioning) -> None:
        self.partitioning = partitioning
        self.read = accessor(partitioning.key)

    def __call__(self, event: Event) -> int:
        return self.partitioning.of_value(self.read(event))
