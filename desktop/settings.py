"""What LiveDet remembers between runs: last source, model, thresholds and class filter, record folder,
camera resolutions, window geometry.

Stored with QSettings in an INI file (``~/.config/LiveDet/LiveDet.ini`` on
Linux); tests redirect it with ``QSettings.setPath``. Bad or missing values
fall back to defaults instead of failing the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from detector import DEFAULT_CONF, DEFAULT_IOU
from detector.camera_mode import CameraMode
from detector.defaults import MIN_CONF, is_input_size
from detector.device import DEVICE_CHOICES

from .recording import DETECTION_FORMATS

ORGANIZATION = APPLICATION = "LiveDet"
RECENT_LIMIT = 8  # entries of Source ▸ Open recent


def default_record_folder() -> Path:
    movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    return Path(movies or Path.home()) / "LiveDet"


@dataclass
class Preferences:
    last_source: str = ""
    last_camera: str = ""  # the name of the camera last_source opened, to find it again at another index
    source_closed: bool = False  # the user closed the source (Source ▸ Close): start on the welcome page, no camera
    model: str = ""
    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    record_folder: str = ""
    detections_format: str = ""  # "", "jsonl" or "csv"
    loop: bool = True
    realtime: bool = True  # files at their own FPS; False = as fast as possible
    # camera id (and "name:" + camera name) -> CameraMode text; absent = automatic (MainWindow.chosen_mode)
    camera_modes: dict[str, str] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)  # the class filter: names to show; empty = all
    device: str = "auto"  # where detection runs: auto, cpu, cuda or mps
    input_size: int = 0  # the network's input side in pixels; 0: each model's own
    mirror: bool = False  # the picture flipped left to right, as webcam apps show a laptop camera
    info_panel: bool = True  # the corner panel (count, FPS, latency, model) drawn over the video
    recent: list[str] = field(default_factory=list)  # files and streams opened, newest first (Source ▸ Open recent)

    @property
    def record_dir(self) -> Path:
        return Path(self.record_folder) if self.record_folder else default_record_folder()


def _clamp(value: float, low: float, high: float, fallback: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return fallback
    return value if low <= value <= high else fallback  # conf=7 was 1.00: no box, and nothing said why


def _camera_modes(value) -> dict[str, str]:
    """The saved camera modes, without entries that are not a readable mode."""
    try:
        saved = json.loads(str(value or "{}"))
    except (ValueError, RecursionError):  # RecursionError: a file mangled into "[[[[…"
        return {}
    if not isinstance(saved, dict):
        return {}
    return {str(k): str(v) for k, v in saved.items() if CameraMode.from_text(str(v)) is not None}


def _texts(value) -> list[str]:
    """A JSON list of non-empty strings, as saved; anything else reads as empty."""
    try:
        saved = json.loads(str(value or "[]"))
    except (ValueError, RecursionError):
        return []
    return [str(text) for text in saved if str(text).strip()] if isinstance(saved, list) else []


def _input_size(value) -> int:
    """A saved input size: a multiple of 32 up to MAX_IMGSZ, else 0 (the model's own)."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return 0
    return size if is_input_size(size) else 0


def _as_bool(value, fallback: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return fallback


_NEVER = object()  # a key this window has not read: always written


def _stored_values(prefs: Preferences) -> dict[str, object]:
    """Each settings key and the value written for it."""
    return {
        "session/last_source": prefs.last_source,
        "session/last_camera": prefs.last_camera,
        "session/source_closed": prefs.source_closed,
        "session/model": prefs.model,
        "session/device": prefs.device,
        "session/input_size": prefs.input_size,
        "thresholds/conf": round(prefs.conf, 3),
        "thresholds/iou": round(prefs.iou, 3),
        "recording/folder": prefs.record_folder,
        "recording/detections_format": prefs.detections_format,
        "playback/loop": prefs.loop,
        "playback/realtime": prefs.realtime,
        "cameras/modes": json.dumps(prefs.camera_modes, sort_keys=True),
        "thresholds/classes": json.dumps(sorted(prefs.classes)),
        "view/mirror": prefs.mirror,
        "view/info_panel": prefs.info_panel,
        "session/recent": json.dumps(prefs.recent[:RECENT_LIMIT]),
    }


class AppSettings:
    """Typed access to the settings file."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)
        self._saved: dict[str, object] = {}  # each key as this window had it when it last read or wrote the file

    def load(self) -> Preferences:
        s, d = self.store, Preferences()
        fmt = str(s.value("recording/detections_format", d.detections_format) or "")
        device = str(s.value("session/device", d.device) or "")
        prefs = Preferences(
            last_source=str(s.value("session/last_source", "") or ""),
            last_camera=str(s.value("session/last_camera", "") or ""),
            source_closed=_as_bool(s.value("session/source_closed", d.source_closed), d.source_closed),
            model=str(s.value("session/model", "") or ""),
            conf=_clamp(s.value("thresholds/conf", d.conf), MIN_CONF, 1.0, d.conf),
            iou=_clamp(s.value("thresholds/iou", d.iou), 0.01, 0.99, d.iou),
            record_folder=str(s.value("recording/folder", "") or ""),
            detections_format=fmt if fmt in DETECTION_FORMATS else "",
            loop=_as_bool(s.value("playback/loop", d.loop), d.loop),
            realtime=_as_bool(s.value("playback/realtime", d.realtime), d.realtime),
            camera_modes=_camera_modes(s.value("cameras/modes", "")),
            classes=_texts(s.value("thresholds/classes", "")),
            device=device if device in DEVICE_CHOICES else d.device,
            input_size=_input_size(s.value("session/input_size", d.input_size)),
            mirror=_as_bool(s.value("view/mirror", d.mirror), d.mirror),
            info_panel=_as_bool(s.value("view/info_panel", d.info_panel), d.info_panel),
            recent=_texts(s.value("session/recent", ""))[:RECENT_LIMIT],
        )
        self._saved = _stored_values(prefs)
        return prefs

    def save(self, prefs: Preferences) -> None:
        """Writes what this window changed since it read or wrote the file, and no more: with two windows open,
        the one closed last wrote back everything as it had read it at its start, and the other's threshold,
        class filter and recent files were gone. Recent files are merged: this window's first, then the other's."""
        s = self.store
        s.sync()  # what another window wrote meanwhile, to merge the recent files with
        own = _stored_values(prefs)
        values = dict(own)
        if values["session/recent"] != self._saved.get("session/recent"):
            # only what another window added since this one read the file: what this one cleared (Source ▸ Open
            # recent ▸ Clear the list, a stream's address with its password) stays cleared
            known = set(_texts(self._saved.get("session/recent", "")))
            theirs = [text for text in _texts(s.value("session/recent", ""))
                      if text not in prefs.recent and text not in known]
            values["session/recent"] = json.dumps((prefs.recent + theirs)[:RECENT_LIMIT])
        if values["cameras/modes"] != self._saved.get("cameras/modes"):
            # camera by camera: the file's, with what this window changed since it read it (another window's
            # choices, for any camera this one left alone, stay)
            loaded = _camera_modes(self._saved.get("cameras/modes", ""))
            modes = _camera_modes(s.value("cameras/modes", ""))
            modes.update({camera: mode for camera, mode in prefs.camera_modes.items() if loaded.get(camera) != mode})
            for dropped in loaded.keys() - prefs.camera_modes.keys():
                modes.pop(dropped, None)
            values["cameras/modes"] = json.dumps(modes, sort_keys=True)
        for key, value in values.items():
            if value != self._saved.get(key, _NEVER):
                s.setValue(key, value)
        s.sync()
        self._saved = own  # this window's own values, not the merged ones: what it drops later is known as dropped
        self._keep_private()

    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)
        self.store.sync()
        self._keep_private()

    def _keep_private(self) -> None:
        """Readable by its owner only: the file keeps network cameras' addresses, passwords included
        (rtsp://admin:secret@…, so that Open recent reopens them), and other users of the machine
        must not read them. On Windows the file is in the user's own profile folder already."""
        if sys.platform != "win32":
            with contextlib.suppress(OSError):  # not written yet, or on a file system without modes
                os.chmod(self.store.fileName(), 0o600)
