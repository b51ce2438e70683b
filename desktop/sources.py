"""What the user asked to watch: a camera index, a video file, a photo or a stream URL.

Parsing is separate from opening (which happens on the capture thread), so a
typo is reported at once and never blocks the GUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detector import SourceError
from detector.camera_mode import CameraMode
from detector.video import classify_source, local_path_of, shown_address

CAMERA, VIDEO, URL, IMAGE = "camera", "video", "url", "image"


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # CAMERA, VIDEO, URL or IMAGE (a photo: shown as a video of one frame)
    value: str  # what OpenCV opens: the index as text, a file path, or the URL
    label: str  # what the user sees
    camera_mode: CameraMode | None = None  # the resolution and rate to ask a camera for; None: its default
    remote_file: bool = False  # a URL that opened as a video file on a web server (it has a length), not a stream

    @property
    def is_file(self) -> bool:
        """Files can pause, seek, loop, and be recorded without skipping a frame."""
        return self.kind in (VIDEO, IMAGE) or self.remote_file

    @property
    def is_live(self) -> bool:
        return not self.is_file

    @property
    def settings_value(self) -> str:
        """How the source is remembered between runs (the same text ``--source`` takes); a file by its full
        path, as the next start may be in another folder (a launcher starts in the home folder)."""
        return str(Path(self.value).absolute()) if self.kind in (VIDEO, IMAGE) else self.value


def camera_source(index: int, name: str | None = None) -> SourceSpec:
    return SourceSpec(CAMERA, str(int(index)), name or f"Camera {index}")


def parse_source(text: str, camera_names: dict[int, str] | None = None) -> SourceSpec:
    """``--source`` text -> SourceSpec, or a ``SourceError`` saying what to pass instead."""
    text = str(text).strip()
    if not text:
        raise SourceError("no source given: pass a camera index, a video file or an rtsp:// or http:// URL")
    text = local_path_of(text)  # a copied file:// location plays as the file it names (seek, pause, record)
    kind = classify_source(text, look_at_disk=False)  # on the GUI thread; a folder is refused when it opens
    if kind == "camera":  # a few ASCII digits (classify_source): int() takes them
        index = int(text)
        return camera_source(index, (camera_names or {}).get(index))
    if kind == "url":
        return SourceSpec(URL, text, shown_address(text))  # the label is shown: never the camera's password
    path = Path(text).expanduser()
    if kind == "images":  # by its name: a folder of images is refused when it opens
        return SourceSpec(IMAGE, str(path), path.name)
    return SourceSpec(VIDEO, str(path), path.name)
