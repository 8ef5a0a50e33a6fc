"""Alerts scored against labelled incident windows: what a backtest is tuned with.

Windowed scoring, as the anomaly benchmarks do it: the first alert inside an incident
window detects it (earlier counts more: 1 at the window's start, 0.5 at its end), later
alerts inside the same window count nothing, every alert outside a window is a false
alert costing `fp_cost`, and a missed window costs 1. Raising no alert at all scores
minus the number of windows; `normalized` puts that at 0 and a perfect detector at 100.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from vigie.types import to_us

DAY_US = 86_400_000_000
FP_COST = 0.11


class Scorecard(msgspec.Struct, kw_only=True):
    """One series' (or a sum of series') alerts against its incident windows."""

    windows: int = 0
    detected: int = 0
    missed: int = 0
    false_alerts: int = 0
    alerts: int = 0
    days: float = 0.0
    score: float = 0.0
    detect_delays_s: list[float] = []

    @property
    def null_score(self) -> float:
        """What raising no alert at all scores."""
        return -float(self.windows)

    @property
    def normalized(self) -> float:
        """100 for a perfect detector, 0 for raising no alert (negative: worse than that);
        for a series without incidents, minus the false alerts' cost."""
        if not self.windows:
            return -100.0 * FP_COST * self.false_alerts
        return 100.0 * (self.score - self.null_score) / (2.0 * self.windows)

    @property
    def false_per_day(self) -> float:
        """False alerts per day of series."""
        return self.false_alerts / self.days if self.days else 0.0

    def add(self, other: Scorecard) -> Scorecard:
        """The sum of two scorecards (over several series)."""
        return Scorecard(
            windows=self.windows + other.windows,
            detected=self.detected + other.detected,
            missed=self.missed + other.missed,
            false_alerts=self.false_alerts + other.false_alerts,
            alerts=self.alerts + other.alerts,
            days=self.days + other.days,
            score=self.score + other.score,
            detect_delays_s=self.detect_delays_s + other.detect_delays_s,
        )

    def report(self) -> dict[str, object]:
        """The figures as plain JSON."""
        delays = sorted(self.detect_delays_s)
        return {
            "windows": self.windows,
            "detected": self.detected,
            "missed": self.missed,
            "alerts": self.alerts,
            "false_alerts": self.false_alerts,
            "false_alerts_per_day": round(self.false_per_day, 4),
            "median_time_to_detect_s": delays[len(delays) // 2] if delays else None,
            "score": round(self.score, 3),
            "normalized_score": round(self.normalized, 2),
        }


def score(
    alert_times_us: Iterable[int],
    windows: Sequence[tuple[int, int]],
    *,
    start_us: int,
    end_us: int,
    fp_cost: float = FP_COST,
) -> Scorecard:
    """The scorecard of alerts raised at `alert_times_us` on a series spanning
    [start_us, end_us] whose incidents are `windows` ([start, end] pairs)."""
    card = Scorecard(windows=len(windows), days=max(0, end_us - start_us) / DAY_US)
    first: dict[int, int] = {}
    for at in sorted(alert_times_us):
        card.alerts += 1
        inside = next((i for i, (a, b) in enumerate(windows) if a <= at <= b), None)
        if inside is None:
            card.false_alerts += 1
            card.score -= fp_cost
        elif inside not in first:
            first[inside] = at
    for i, (a, b) in enumerate(windows):
        if i in first:
            rel = (first[i] - a) / (b - a) if b > a else 0.0
            card.detected += 1
            card.score += 1.0 - 0.5 * rel
            card.detect_delays_s.append((first[i] - a) / 1e6)
        else:
            card.missed += 1
            card.score -= 1.0
    return card


class LabelsError(ValueError):
    """A labels file cannot be read; the message names the file and the entry."""


def load_labels(path: str | Path) -> dict[str, list[tuple[int, int]]]:
    """Incident windows per series from a JSON object (`{"file.csv": [[start, end], ...]}`)
    or a CSV (`series,start,end`), keyed by file name; times are ISO 8601."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    raw: Mapping[str, list[list[str]]]
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelsError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise LabelsError(f'{path}: expected {{"file.csv": [[start, end], ...]}}')
    else:
        rows: dict[str, list[list[str]]] = {}
        for n, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or row[0].strip().lower() in ("series", "file", ""):
                continue
            if len(row) < 3:
                raise LabelsError(f"{path}: line {n}: expected `series,start,end`, got {row!r}")
            rows.setdefault(row[0].strip(), []).append([row[1], row[2]])
        raw = rows
    out: dict[str, list[tuple[int, int]]] = {}
    for name, pairs in raw.items():
        windows = []
        for pair in pairs:
            try:
                a, b = (_moment(str(x)) for x in pair)
            except (ValueError, TypeError) as exc:
                raise LabelsError(
                    f"{path}: {name}: {pair!r} is not [start, end] in ISO 8601"
                ) from exc
            windows.append((min(a, b), max(a, b)))
        out[Path(name).name] = sorted(windows)
    return out


def _moment(text: str) -> int:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T"))
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
