"""Salespeople as the AI sees them: a name, a daily capacity and simple working hours.

The full schedule (holidays, the right to disconnect) belongs to the schedule part; this
module only needs "when does this rep next work?" to date the tasks it proposes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec


class Rep(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A salesperson who receives leads (the `ai.reps` entries of vigie.yaml)."""

    name: str
    """The salesperson's name, as in the CRM deal history the model learns from."""
    capacity: int = 25
    """The most leads they are handed per run, their tasks spread over a working day."""
    timezone: str = "Europe/Brussels"
    """The IANA time zone of `start` and `end`."""
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Weekdays they work, 0 for Monday to 6 for Sunday."""
    start: str = "09:00"
    """Local time (`HH:MM`) their working day starts."""
    end: str = "17:30"
    """Local time (`HH:MM`) their working day ends."""

    def next_working_time(self, now: datetime) -> datetime:
        """`now` if the rep is at work, else the start of their next working period (UTC)."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        begin = time.fromisoformat(self.start)
        finish = time.fromisoformat(self.end)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, begin, tzinfo=zone)
            closes = datetime.combine(day, finish, tzinfo=zone)
            if local < opens:
                return opens.astimezone(now.tzinfo)
            if local < closes:
                return now
        raise ValueError(f"rep {self.name!r} has no working day in {self.days}")

    def task_times(self, now: datetime, count: int) -> list[datetime]:
        """When each of `count` tasks falls due: spread over working time, `capacity` a day.

        The first is due at the next working time; the next ones follow every
        (working day / capacity), continuing on the next working day after hours.
        """
        begin = time.fromisoformat(self.start)
        finish = time.fromisoformat(self.end)
        span = datetime.combine(datetime.min, finish) - datetime.combine(datetime.min, begin)
        step = span / max(self.capacity, 1)
        times: list[datetime] = []
        moment = self.next_working_time(now)
        while len(times) < count:
            times.append(moment)
            moment = self.next_working_time(moment + step)
        return times


def default_reps(names: list[str], *, capacity: int) -> list[Rep]:
    """Reps with the default schedule (Monday to Friday, 09:00-17:30 Brussels)."""
    return [Rep(name=name, capacity=capacity) for name in names]
