"""The event log: append-only, ordered, durable; the source of truth for every projection."""

from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendJob, AppendResult, EventLog, RejectedRecord, ServedLog
from vigie.log.runner import Processor, ProcessorRunner
from vigie.log.sql import SqlEventLog

__all__ = [
    "AppendJob",
    "AppendResult",
    "EventLog",
    "GroupCommitter",
    "Processor",
    "ProcessorRunner",
    "RejectedRecord",
    "ServedLog",
    "SqlEventLog",
]
