"""Camera footage into people counts: a video file is read with OpenCV, its people counted per
interval (`vigie.sensors.people`), and each count handed to the sensors' intake as the
camera's own `CrowdFlowObserved` reading, so that it is checked, stored and folded into the
zone's density like any other. The frames are never stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import msgspec
import numpy as np

from vigie.ingest.ingestor import Outcome
from vigie.ingest.sensors import SensorIntake
from vigie.sensors.people import CountingSettings, count_frames, per_interval
from vigie.sensors.places import Device, SensorsConfig


class FootageError(ValueError):
    """A video that cannot be read, or a zone or device that cannot be counted for."""


class Footage(msgspec.Struct, kw_only=True, frozen=True):
    """A video file as OpenCV opens it: frames per second and how many frames."""

    path: Path
    fps: float
    total: int

    @property
    def seconds(self) -> float:
        """The footage's length."""
        return self.total / self.fps

    def frames(self) -> Iterator[np.ndarray[Any, Any]]:
        """Each frame, in order (a new pass over the file at each call)."""
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()


class Reading(msgspec.Struct, kw_only=True, frozen=True):
    """One count sent for the camera, and the intake's answer."""

    observed: datetime
    people: int
    confidence: float
    status: int


def open_footage(path: Path, *, fps: float | None = None) -> Footage:
    """`path` opened as a video; `fps` when the file does not say (a folder of stills)."""
    if not path.is_file():
        raise FootageError(f"no video file at {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise FootageError(f"{path} is not a video OpenCV can read")
        rate = fps or capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    if not rate or rate <= 0:
        raise FootageError(f"{path} does not say its frame rate: give --fps")
    footage = Footage(path=path, fps=float(rate), total=0)
    total = sum(1 for _ in footage.frames())  # the header's count can be wrong
    if total == 0:
        raise FootageError(f"{path} holds no frame OpenCV can decode")
    return msgspec.structs.replace(footage, total=total)


def camera_for(config: SensorsConfig, zone: str, device: str | None = None) -> Device:
    """The people counter of `zone` the counts are sent as (`device` when there are several)."""
    if config.zone(zone) is None:
        known = ", ".join(z.name for z in config.zones) or "none"
        raise FootageError(f"no zone {zone!r} in sensors.zones (zones: {known})")
    cameras = [d for d in config.devices if d.kind == "crowd" and d.zone == zone]
    if device is not None:
        found = next((d for d in cameras if d.id == device), None)
        if found is None:
            raise FootageError(f"device {device!r} is not a people counter of zone {zone!r}")
        return found
    if len(cameras) != 1:
        names = ", ".join(d.id for d in cameras) or "none"
        raise FootageError(
            f"zone {zone!r} has {len(cameras)} people counters ({names}): add a device of kind "
            "crowd for it in sensors.devices, or choose one with --device"
        )
    return cameras[0]


async def record_footage(
    intake: SensorIntake,
    footage: Footage,
    camera: Device,
    *,
    start: datetime,
    every: float,
    settings: CountingSettings | None = None,
) -> list[Reading]:
    """Count the people in `footage` (filmed from `start`), one count per `every` seconds,
    and send each to the intake as `camera`'s reading."""
    counts = count_frames(footage.frames, total=footage.total, fps=footage.fps, settings=settings)
    out: list[Reading] = []
    for interval in per_interval(counts, seconds=every):
        observed = start + timedelta(seconds=interval.start_seconds)
        body = msgspec.json.encode(
            {
                "peopleCount": interval.people,
                "dateObserved": observed.isoformat(),
                "confidence": interval.confidence,
                "source": f"camera:{footage.path.name}"[:200],
            }
        )
        outcome: Outcome = await intake.receive(
            "crowd", body, device_id=camera.id, key=camera.key, endpoint="cli:count-video"
        )
        out.append(
            Reading(
                observed=observed,
                people=interval.people,
                confidence=interval.confidence,
                status=outcome.status,
            )
        )
    return out
