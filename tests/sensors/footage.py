"""Street footage drawn for the tests: person-like figures (a head, a body, two legs) walking
up and down a textured, noisy street seen from a fixed camera, each in its own lane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

HEIGHT, WIDTH = 240, 320


def street(people: int, frames: int, *, seed: int, wide: int = 0) -> list[np.ndarray[Any, Any]]:
    """`frames` BGR frames with `people` walkers in lanes of their own, and `wide` figures
    twice a walker's width (two people side by side, one blob)."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(60, 120, size=(HEIGHT, WIDTH), dtype=np.uint8)
    ground = cv2.GaussianBlur(texture, (9, 9), 0)
    background = cv2.cvtColor(ground, cv2.COLOR_GRAY2BGR)
    lanes = np.linspace(30, WIDTH - 30, people + wide) if people + wide else []
    walkers = [
        (
            int(x),
            float(rng.uniform(0, HEIGHT - 60)),
            float(rng.choice([-1, 1]) * rng.uniform(3.0, 4.0)),
            tuple(int(c) for c in rng.integers(170, 255, 3)),
            2 if n >= people else 1,
        )
        for n, x in enumerate(lanes)
    ]
    out = []
    for f in range(frames):
        frame = background.copy()
        for x, y0, speed, colour, width in walkers:
            y = int((y0 + speed * f) % (HEIGHT - 60)) + 10
            half = 6 * width
            cv2.circle(frame, (x, y), 5 * width, colour, -1)
            cv2.rectangle(frame, (x - half, y + 6), (x + half, y + 30), colour, -1)
            cv2.rectangle(frame, (x - half + 1, y + 30), (x + half - 1, y + 45), colour, -1)
        noise = rng.normal(0, 4, frame.shape)
        out.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return out


def write_video(path: Path, frames: list[np.ndarray[Any, Any]], *, fps: float = 10.0) -> Path:
    """`frames` written to `path` as a Motion-JPEG AVI (a format every OpenCV build reads)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write an MJPG video here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path
