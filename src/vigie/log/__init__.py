"""The event log: append-only, ordered, durable; the source of truth for every projection."""

from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendResult, EventLog, RejectedRecord
from vigie.log.runner import Processor, ProcessorRunner
from vigie.log.sql import SqlEventLog

__all__ = [
    "AppendResult",
    "EventLog",
    "GroupCommitter",
    "Processor",
    "ProcessorRunner",
    "RejectedRecord",
    "SqlEventLog",
]
