"""Working hours, time zones and the right to disconnect: a notification for someone off
duty waits for their next working period, or goes to someone on duty when urgent."""

from vigie.schedule.dispatcher import Dispatcher, NotificationRequest
from vigie.schedule.intervals import NamedInterval, TimeInterval, TimeRange
from vigie.schedule.routing import Decision, decide
from vigie.schedule.schedules import (
    Channel,
    OnCallShift,
    Person,
    Policy,
    ScheduleConfig,
    Team,
    after_working_time,
    is_on_duty,
    is_working,
    next_working_instant,
)

__all__ = [
    "Channel",
    "Decision",
    "Dispatcher",
    "NamedInterval",
    "NotificationRequest",
    "OnCallShift",
    "Person",
    "Policy",
    "ScheduleConfig",
    "Team",
    "TimeInterval",
    "TimeRange",
    "after_working_time",
    "decide",
    "is_on_duty",
    "is_working",
    "next_working_instant",
]
