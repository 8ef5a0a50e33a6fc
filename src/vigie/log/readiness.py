"""Readiness (`/readyz`): may this server take traffic? The store answers, the log answers,
and every processor (by its saved checkpoint when it runs in a worker process) is less than
`max_lag` behind the log; otherwise the reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from vigie.clock import Clock
from vigie.log.pressure import StoredPositions
from vigie.log.progress import lags, lags_at
from vigie.log.runner import ProcessorRunner


class Readiness(msgspec.Struct, kw_only=True):
    """The answer: `ready`, the reasons it is not, and what each check found."""

    ready: bool
    reasons: list[str]
    checks: dict[str, Any]


class ReadinessProbe:
    """Runs the checks of `/readyz` on a built system's parts."""

    def __init__(
        self,
        *,
        ping_store: Callable[[], object],
        runner: ProcessorRunner,
        clock: Clock,
        max_lag_seconds: float,
        stored: StoredPositions | None = None,
    ) -> None:
        self.ping_store = ping_store
        self.runner = runner
        self.stored = stored
        self.clock = clock
        self.max_lag_seconds = max_lag_seconds

    def check(self) -> Readiness:
        """Every check, each one failing on its own (a store away does not hide the log)."""
        reasons: list[str] = []
        checks: dict[str, Any] = {}
        try:
            self.ping_store()
            checks["store"] = {"ok": True}
        except Exception as exc:
            checks["store"] = {"ok": False}
            reasons.append(f"store: {_first_line(exc)}")
        try:
            found = (
                lags(self.runner, self.clock)
                if self.stored is None
                else lags_at(self.runner.log, self.stored.positions, self.clock)
            )
            checks["log"] = {"ok": True, "last_offset": self.runner.log.last_offset()}
        except Exception as exc:
            checks["log"] = {"ok": False}
            reasons.append(f"log: {_first_line(exc)}")
            found = {}
        late = {name: lag for name, lag in found.items() if lag.seconds > self.max_lag_seconds}
        for name, lag in late.items():
            reasons.append(
                f"processor {name}: {lag.events} events behind, the oldest waiting "
                f"{lag.seconds:.0f} s (more than {self.max_lag_seconds:.0f} s)"
            )
        checks["processors"] = {
            "ok": checks["log"]["ok"] and not late,
            "max_lag_seconds": self.max_lag_seconds,
            "lag": {name: msgspec.to_builtins(lag) for name, lag in found.items()},
        }
        return Readiness(ready=not reasons, reasons=reasons, checks=checks)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
