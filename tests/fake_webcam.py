"""A webcam for tests, behind the cv2.VideoCapture interface, with the formats a real 1080p USB webcam offers."""

from __future__ import annotations

import time

import cv2
import numpy as np

# As QtMultimedia lists them: (width, height, top FPS, MJPEG)
OFFERED_FORMATS = [(640, 480, 30.0, False), (1280, 720, 10.0, False), (640, 480, 30.0, True),
                   (1280, 720, 30.0, True), (1920, 1080, 30.0, True)]


class FakeWebcam:
    """A V4L2 webcam behind cv2.VideoCapture, as OpenCV drives it: 640x480 YUYV at first; 720p at 30 FPS and
    1080p only as MJPEG (uncompressed 720p fills USB 2 at 10 FPS).

    Like OpenCV's V4L2 backend, a size is applied once both width and height are asked for,
    and the driver answers a format it does not offer by keeping what it has.
    """

    OFFERS = {("MJPG" if mjpeg else "YUYV", width, height): fps for width, height, fps, mjpeg in OFFERED_FORMATS}

    def __init__(self, *, paced: bool = False, obeys: bool = True) -> None:
        self.fourcc, self.width, self.height, self.fps = "YUYV", 640, 480, 30.0
        self.paced = paced  # frames come at ``fps``, as from a real camera, instead of at once
        self.obeys = obeys  # False: a driver that keeps 640x480 whatever it is asked
        self._width_asked: int | None = None
        self.asked = 0
        self.released = False  # True once let go: a real camera's light goes off
        self.unplugged = False  # True: reads fail, as a handle to a camera pulled out (or replugged) does
        self.refused = False  # True: the driver would not open it (another handle streams: EBUSY on Linux)

    def _apply(self, fourcc: str, width: int, height: int) -> bool:
        if not self.obeys or (fourcc, width, height) not in self.OFFERS:
            return False
        self.fourcc, self.width, self.height = fourcc, width, height
        self.fps = self.OFFERS[(fourcc, width, height)]
        return True

    def set(self, prop, value) -> bool:
        self.asked += 1
        if prop == cv2.CAP_PROP_FOURCC:
            return self._apply(int(value).to_bytes(4, "little").decode(), self.width, self.height)
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            self._width_asked = int(value)
            return True
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            width, self._width_asked = self._width_asked or self.width, None
            return self._apply(self.fourcc, width, int(value))
        if prop == cv2.CAP_PROP_FPS:
            self.fps = min(float(value), self.OFFERS[(self.fourcc, self.width, self.height)])
            return True
        return False

    def isOpened(self) -> bool:
        return not self.refused

    def read(self):
        if self.paced:
            time.sleep(1 / self.fps)
        if self.unplugged:
            return False, None
        return True, np.full((self.height, self.width, 3), 120, np.uint8)

    def grab(self) -> bool:
        return True

    def get(self, prop) -> float:
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_WIDTH: self.width,
                cv2.CAP_PROP_FRAME_HEIGHT: self.height}.get(prop, 0.0)

    def release(self) -> None:
        self.released = True
