"""The server process's tuning: timed full collections and a short switch interval, undone
when the server stops."""

from __future__ import annotations

import asyncio
import gc
import sys

from vigie.web.tuning import ProcessTuning


def test_tuning_holds_full_collections_back_and_is_undone_on_stop() -> None:
    """While applied, young collections stay automatic but the oldest generation waits for the
    timer, start-up objects are frozen and threads switch every millisecond; stopping puts the
    interpreter's settings back."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    tuning = ProcessTuning(full_collection_seconds=3600, switch_interval=0.001)

    async def scenario() -> tuple[tuple[int, int, int], float, int]:
        tuning.start()
        applied = gc.get_threshold(), sys.getswitchinterval(), gc.get_freeze_count()
        tuning.stop()
        return applied

    (young, middle, oldest), applied_interval, frozen = asyncio.run(scenario())
    assert (young, middle) == thresholds[:2] and oldest > 1_000_000
    assert applied_interval == 0.001 and frozen > 0
    assert gc.get_threshold() == thresholds and sys.getswitchinterval() == interval
    assert gc.get_freeze_count() == 0


def test_the_timer_runs_full_collections() -> None:
    """A cycle that became garbage is collected by the timer, not by allocation counts."""
    tuning = ProcessTuning(full_collection_seconds=0.01)
    collected: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            collected.append(info["collected"])

    async def scenario() -> None:
        tuning.start()
        gc.callbacks.append(seen)
        try:
            for _ in range(3000):  # generous: the machine may be busy
                if collected:
                    break
                await asyncio.sleep(0.01)
        finally:
            gc.callbacks.remove(seen)
            tuning.stop()

    asyncio.run(scenario())
    assert collected
