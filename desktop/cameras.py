"""Cameras by name (QtMultimedia), mapped to the index OpenCV opens, their modes, and hot-plug notices.

QtMultimedia knows names, formats and plugging; OpenCV does the capturing. On
Linux a camera's id is its /dev/videoN node, which gives OpenCV's index; elsewhere
the list order is the best available guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from PySide6.QtCore import QLoggingCategory, QObject, Signal

from detector.camera_mode import CameraMode

# QtMultimedia logs a warning per optional library it cannot find (pipewire, VA-API): noise to users.
_QUIET_RULES = "qt.multimedia.symbolsresolver.warning=false\nqt.multimedia.ffmpeg.info=false"


def quiet_multimedia_logs() -> None:
    QLoggingCategory.setFilterRules(_QUIET_RULES)


@dataclass(frozen=True)
class CameraInfo:
    name: str
    index: int  # what cv2.VideoCapture takes
    device_id: str
    modes: tuple[CameraMode, ...] = ()  # largest first, mostly one per resolution (modes_from_formats); () when unknown

    @property
    def automatic_mode(self) -> CameraMode | None:
        return automatic_mode(self.modes)


# The automatic choice: sharper than the drivers' usual 640x480, and what a 2-core laptop
# captures, detects on, shows and records at 30 FPS (the detector sees 320-416 px anyway).
AUTOMATIC_LIMIT = (1280, 720)
FULL_RATE = 30.0  # a faster rate is not worth a smaller picture


@dataclass(frozen=True)
class OfferedFormat:
    """One format a camera offers, as QtMultimedia reports it."""

    width: int
    height: int
    max_fps: float
    compressed: bool  # MJPEG


def modes_from_formats(formats: list[OfferedFormat]) -> tuple[CameraMode, ...]:
    """One mode per resolution at its best rate, largest first; MJPEG only where it is what reaches that rate.

    Where MJPEG reaches more than 30 FPS and uncompressed frames reach 30 at the same size (a USB 3 webcam:
    720p at 60 as MJPEG, at 30 as YUYV), the uncompressed 30 FPS mode is listed too: it is the one Automatic
    asks for, since it needs no decoding (a 720p JPEG costs a laptop core several ms a frame) and loses no
    detail to compression.
    """
    best: dict[tuple[int, int], CameraMode] = {}
    raw_rate: dict[tuple[int, int], float] = {}  # per size, the best rate of uncompressed frames
    for f in formats:
        if f.width <= 0 or f.height <= 0 or f.max_fps <= 0:
            continue
        size = (f.width, f.height)
        mode = CameraMode(f.width, f.height, round(f.max_fps, 2), "MJPG" if f.compressed else "")
        if not f.compressed:
            raw_rate[size] = max(raw_rate.get(size, 0.0), mode.fps)
        known = best.get(size)
        if known is None or mode.fps > known.fps or (mode.fps == known.fps and known.fourcc and not mode.fourcc):
            best[size] = mode  # at the same rate, uncompressed frames need no decoding
    modes = list(best.values())
    for (width, height), rate in raw_rate.items():
        if best[(width, height)].fourcc and best[(width, height)].fps > FULL_RATE and rate >= FULL_RATE - 0.5:
            modes.append(CameraMode(width, height, rate, ""))
    return tuple(sorted(modes, key=lambda m: (m.width * m.height, m.fps), reverse=True))


def automatic_mode(modes: tuple[CameraMode, ...], limit: tuple[int, int] = AUTOMATIC_LIMIT) -> CameraMode | None:
    """The largest mode within ``limit`` at the best rate the camera has there, asked for at up to 30 FPS.

    A camera with nothing that small gets its smallest mode; one with no modes listed, None (its default).
    Why the rate is capped too: a 720p webcam offering 60 FPS was asked for 60, twice what a 2-core laptop
    detects, shows and records.
    """
    fitting = [m for m in modes if m.width <= limit[0] and m.height <= limit[1]]
    if not fitting:
        chosen = min(modes, key=lambda m: m.width * m.height, default=None)
    else:
        target = min(FULL_RATE, max(m.fps for m in fitting))
        fast_enough = [m for m in fitting if m.fps >= target - 0.5]  # 29.97 counts as 30
        chosen = max(fast_enough, key=lambda m: (m.width * m.height, not m.fourcc))
    return replace(chosen, fps=min(chosen.fps, FULL_RATE)) if chosen is not None else None


def _opencv_index(device_id: str, position: int) -> int:
    match = re.search(r"video(\d+)$", device_id)
    return int(match.group(1)) if match else position


def list_cameras() -> list[CameraInfo]:
    """The cameras present now, in the system's order (the default first where it says so)."""
    quiet_multimedia_logs()
    from PySide6.QtMultimedia import QMediaDevices

    cameras = []
    for position, device in enumerate(QMediaDevices.videoInputs()):
        device_id = bytes(device.id().data()).decode(errors="replace")
        cameras.append(CameraInfo(device.description() or f"Camera {position}", _opencv_index(device_id, position),
                                  device_id, modes_from_formats(_offered_formats(device))))
    return _told_apart(cameras)


def model_name(name: str) -> str:
    """A listed camera's name without the " (2)" that tells two of one model apart (its order in the list)."""
    return re.sub(r" \(\d+\)$", "", name)


def same_camera(name: str, index: str, listed: list[CameraInfo], *, model_was_shared: bool) -> CameraInfo | None:
    """The camera called ``name`` at ``index`` when it was last seen, as ``listed`` now: at that index if a
    camera of its model is there; else the one camera of its model, wherever (Linux gives a camera plugged
    back in before its old /dev/video0 was let go /dev/video2). Two of one model are told apart only by
    their order, so when ``model_was_shared`` (or several are listed) another index is not guessed: the
    other one of a pair would be taken for it ("Reconnected", and another room on screen)."""
    model = model_name(name)
    at_index = next((c for c in listed if str(c.index) == index), None)
    if at_index is not None and (not name or model_name(at_index.name) == model):
        return at_index
    if not name or model_was_shared:
        return None
    of_model = [c for c in listed if model_name(c.name) == model]
    return of_model[0] if len(of_model) == 1 else None


def model_shared(name: str, listed: list[CameraInfo]) -> bool:
    """Whether another listed camera is of the model of the one called ``name``."""
    return sum(model_name(c.name) == model_name(name) for c in listed) > 1


def _told_apart(cameras: list[CameraInfo]) -> list[CameraInfo]:
    """Two cameras of one model share a name ("USB Camera"): the second is "USB Camera (2)", and so on."""
    seen: dict[str, int] = {}
    named = []
    for camera in cameras:
        seen[camera.name] = seen.get(camera.name, 0) + 1
        named.append(replace(camera, name=f"{camera.name} ({seen[camera.name]})") if seen[camera.name] > 1 else camera)
    return named


def _offered_formats(device) -> list[OfferedFormat]:
    from PySide6.QtMultimedia import QVideoFrameFormat

    jpeg = QVideoFrameFormat.PixelFormat.Format_Jpeg
    return [OfferedFormat(f.resolution().width(), f.resolution().height(), f.maxFrameRate(), f.pixelFormat() == jpeg)
            for f in device.videoFormats()]


class CameraWatcher(QObject):
    """Emits the new camera list whenever one is plugged in or out."""

    cameras_changed = Signal(list)  # list[CameraInfo]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        quiet_multimedia_logs()
        from PySide6.QtMultimedia import QMediaDevices

        self._devices = QMediaDevices(self)
        self._devices.videoInputsChanged.connect(self._on_changed)
        self.cameras: list[CameraInfo] = list_cameras()

    def _on_changed(self) -> None:
        self.cameras = list_cameras()
        self.cameras_changed.emit(self.cameras)

    def names(self) -> dict[int, str]:
        return {c.index: c.name for c in self.cameras}

    def by_index(self, index: int) -> CameraInfo | None:
        return next((c for c in self.cameras if c.index == index), None)
