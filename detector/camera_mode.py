"""Asking a camera for a resolution and frame rate.

OpenCV opens a camera in its driver's default format, usually 640x480, even on a
1080p webcam. A ``CameraMode`` says what to ask for instead. USB cameras send
720p and up at their full frame rate only as MJPEG (uncompressed YUYV at that
size fills USB 2 at 5-10 FPS), so a mode can name the pixel format too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2

# 1280x720@30 MJPG; also as people type it: 1280×720 (as the app's menu writes sizes), 1280X720, mjpg
_TEXT = re.compile(r"^(\d{1,5})\s*[x×X]\s*(\d{1,5})(?:\s*@\s*(\d{1,3}(?:\.\d+)?))?(?:\s+([A-Za-z0-9]{4}))?$")


@dataclass(frozen=True)
class CameraMode:
    """A resolution, and optionally a rate and pixel format, to ask a camera for."""

    width: int
    height: int
    fps: float = 0.0  # 0: whatever the camera chooses at this size
    fourcc: str = ""  # "MJPG" where only compressed frames reach ``fps``; "": the driver's choice

    def to_text(self) -> str:
        """``1280x720@30 MJPG``: how a mode is saved in settings (``from_text`` reads it back)."""
        text = f"{self.width}x{self.height}"
        if self.fps > 0:
            text += f"@{self.fps:g}"
        return f"{text} {self.fourcc}" if self.fourcc else text

    @classmethod
    def from_text(cls, text: str) -> CameraMode | None:
        """The mode ``to_text`` wrote, or None for anything else (a hand-edited or damaged setting)."""
        match = _TEXT.match(str(text).strip())
        if not match:
            return None
        width, height = int(match.group(1)), int(match.group(2))
        if width <= 0 or height <= 0:
            return None
        fourcc = match.group(4) or ""
        if fourcc.islower():  # "mjpg" typed for MJPG; a mixed-case code is a format of its own (V4L2's "pBAA")
            fourcc = fourcc.upper()
        return cls(width, height, float(match.group(3) or 0), fourcc)


def ask_for_mode(cap: cv2.VideoCapture, mode: CameraMode) -> None:
    """Ask an open camera for ``mode``; the camera may pick something close, so read back what it gives.

    The pixel format goes first: V4L2 drivers only offer the larger sizes once MJPEG is chosen.
    """
    if mode.fourcc:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*mode.fourcc))
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, mode.width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, mode.height)
    if mode.fps > 0:
        cap.set(cv2.CAP_PROP_FPS, mode.fps)
