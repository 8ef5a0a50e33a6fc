"""Throttling of password guesses, per account and per address, with a growing delay.

After `free` failures in a row, each further attempt on that account (or from that address)
must wait a delay that doubles with every failure, up to `ceiling`; while it waits, the
password is not even checked, so the right one guessed during a lockout does not get in. A
success clears the account's count (not the address's: signing in to one's own account
between guesses must not reset them); a count left alone for `forget_after`
starts over. Time comes from the injected clock; the table is bounded (the oldest entries go
first), so a flood of made-up names cannot grow it without limit.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigie.clock import Clock


class Throttled(Exception):
    """Too many failed sign-ins: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Failures:
    count: int
    last: datetime


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how the delay grows after them."""

    free: int
    base: timedelta = timedelta(seconds=1)
    ceiling: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> timedelta:
        """The wait after `failures` failures in a row: none while free, then doubling."""
        if failures < self.free:
            return timedelta(0)
        exponent = min(failures - self.free, 30)
        grown: timedelta = self.base * 2**exponent
        return min(grown, self.ceiling)


ACCOUNT_POLICY = ThrottlePolicy(free=5)
"""Per username: five guesses, then 1 s, 2 s, 4 s … up to 15 minutes between guesses."""
ADDRESS_POLICY = ThrottlePolicy(free=20)
"""Per client address: more room, as an office shares one address behind its NAT."""
MAX_ENTRIES = 100_000


class LoginThrottle:
    """Failed sign-ins counted per account and per address (thread-safe, in memory)."""

    def __init__(
        self,
        *,
        clock: Clock,
        account: ThrottlePolicy = ACCOUNT_POLICY,
        address: ThrottlePolicy = ADDRESS_POLICY,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._policies = {"account": account, "address": address}
        self._max = max_entries
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("account", username.casefold())]
        if address:
            keys.append(("address", address))
        return keys

    def check(self, *, username: str, address: str | None) -> None:
        """Raise `Throttled` while the account or the address has to wait."""
        now = self._clock.now()
        wait = timedelta(0)
        with self._lock:
            for key in self._keys(username, address):
                entry = self._failures.get(key)
                if entry is None:
                    continue
                policy = self._policies[key[0]]
                if now - entry.last >= policy.forget_after:
                    del self._failures[key]
                    continue
                wait = max(wait, entry.last + policy.delay(entry.count) - now)
        if wait > timedelta(0):
            raise Throttled(max(1, math.ceil(wait.total_seconds())))

    def failed(self, *, username: str, address: str | None) -> None:
        """Count one failed attempt against the account and the address."""
        now = self._clock.now()
        with self._lock:
            for key in self._keys(username, address):
                entry = self._failures.pop(key, None)
                count = entry.count + 1 if entry is not None else 1
                self._failures[key] = _Failures(count=count, last=now)
            while len(self._failures) > self._max:
                self._failures.popitem(last=False)

    def succeeded(self, *, username: str) -> None:
        """Forget the account's failures after a good password."""
        with self._lock:
            self._failures.pop(("account", username.casefold()), None)
