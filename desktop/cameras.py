"""Cameras by name (QtMultimedia), mapped to the index OpenCV opens, and hot-plug notices.

QtMultimedia knows names and notices plugging; OpenCV does the capturing. On
Linux a camera's id is its /dev/videoN node, which gives OpenCV's index; elsewhere
the list order is the best available guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QLoggingCategory, QObject, Signal

# QtMultimedia logs a warning per optional library it cannot find (pipewire, VA-API): noise to users.
_QUIET_RULES = "qt.multimedia.symbolsresolver.warning=false\nqt.multimedia.ffmpeg.info=false"


def quiet_multimedia_logs() -> None:
    QLoggingCategory.setFilterRules(_QUIET_RULES)


@dataclass(frozen=True)
class CameraInfo:
    name: str
    index: int  # what cv2.VideoCapture takes
    device_id: str


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
        cameras.append(CameraInfo(device.description() or f"Camera {position}", _opencv_index(device_id, position), device_id))
    return cameras


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
