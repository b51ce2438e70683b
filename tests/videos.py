"""Reading a written video back the way a player would: every frame decoded, not the header's count."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2


class VideoFacts(NamedTuple):
    frames: int  # frames OpenCV actually decodes
    fps: float  # the rate the file says it plays at
    width: int
    height: int


def read_back(path: str | Path) -> VideoFacts:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = 0
        while capture.read()[0]:
            frames += 1
    finally:
        capture.release()
    return VideoFacts(frames, fps, width, height)
