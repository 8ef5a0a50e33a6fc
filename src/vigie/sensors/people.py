"""People counted in a fixed camera's frames with OpenCV: a background model (MOG2) separates
what moves from the street, and each foreground blob of a person's size counts as one person,
a blob of several persons' area as that many. No weights are downloaded: the background model
learns the scene from the frames themselves.

Only counts leave this module: frames are never kept (issue 20, privacy: crowd counts are
aggregates, never images stored).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import cv2
import msgspec
import numpy as np


class CountingSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How blobs become people; areas are in pixels of the frame as given."""

    min_area: int = 150
    """A smaller foreground blob is noise (leaves, a bag), not a person."""
    person_area: int | None = None
    """The area one person covers at this camera's distance: a larger blob counts as
    round(area / person_area) people (crowds merge). None: one person per blob."""
    samples: int = 25
    """Frames, spread over the footage, whose per-pixel median is the first background."""
    learning_rate: float = 0.002
    """How fast the background model follows the scene afterwards (light, parked cars): slow
    enough that a person walking by is not taken for the street."""


class FrameCount(msgspec.Struct, kw_only=True, frozen=True):
    """People in one frame, at `seconds` into the footage."""

    index: int
    seconds: float
    people: int


class IntervalCount(msgspec.Struct, kw_only=True, frozen=True):
    """One people count for an interval: the median of its frames' counts, and the share of
    frames that agree with it (the reading's confidence)."""

    start_seconds: float
    people: int
    confidence: float
    frames: int


class PeopleCounter:
    """Counts the people in successive frames of one fixed camera: `prime` with a background
    (or the first frames), then `update` per frame."""

    def __init__(self, settings: CountingSettings | None = None) -> None:
        self.settings = settings or CountingSettings()
        self._background = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=25, detectShadows=False
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def prime(self, frames: list[np.ndarray[Any, Any]]) -> None:
        """Start the background model from the per-pixel median of `frames`."""
        if not frames:
            raise ValueError("at least one frame is needed to learn the background")
        background = np.median(np.stack([_grey(f) for f in frames]), axis=0).astype(np.uint8)
        self._background.apply(background, learningRate=1.0)

    def update(self, frame: np.ndarray[Any, Any]) -> int:
        """The people in one frame (BGR or grey), folding it into the background model."""
        mask = self._background.apply(_grey(frame), learningRate=self.settings.learning_rate)
        _, mask = cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return sum(self._people(cv2.contourArea(c)) for c in contours)

    def _people(self, area: float) -> int:
        if area < self.settings.min_area:
            return 0
        if self.settings.person_area is None:
            return 1
        return max(1, round(area / self.settings.person_area))


def _grey(frame: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.GaussianBlur(grey, (5, 5), 0)


def count_frames(
    frames: Callable[[], Iterable[np.ndarray[Any, Any]]],
    *,
    total: int,
    fps: float,
    settings: CountingSettings | None = None,
) -> Iterator[FrameCount]:
    """The people in each of the `total` frames that `frames()` gives (taken `fps` a second).

    The footage is read twice: first for the background, the per-pixel median of
    `settings.samples` frames spread over the whole of it (people walk on, so each pixel
    shows the street in most of them), then to count."""
    if fps <= 0:
        raise ValueError(f"frames per second must be positive, not {fps}")
    counter = PeopleCounter(settings)
    stride = max(1, total // counter.settings.samples)
    sampled = [f for i, f in enumerate(frames()) if i % stride == 0]
    if not sampled:
        return
    counter.prime(sampled)
    del sampled
    for index, frame in enumerate(frames()):
        yield FrameCount(index=index, seconds=index / fps, people=counter.update(frame))


def per_interval(counts: Iterable[FrameCount], *, seconds: float) -> list[IntervalCount]:
    """One count per `seconds` of footage: the median of the frames in it (a passer-by hidden
    for a frame, or a shadow for one, does not move it)."""
    if seconds <= 0:
        raise ValueError(f"an interval must be positive, not {seconds}")
    buckets: dict[int, list[int]] = {}
    for count in counts:
        buckets.setdefault(int(count.seconds // seconds), []).append(count.people)
    out: list[IntervalCount] = []
    for bucket, people in sorted(buckets.items()):
        median = round(statistics.median(people))
        agree = sum(1 for p in people if p == median) / len(people)
        out.append(
            IntervalCount(
                start_seconds=bucket * seconds,
                people=median,
                confidence=round(agree, 3),
                frames=len(people),
            )
        )
    return out
