"""Reading frames from files, folders, cameras and URLs, and writing video that plays everywhere.

OpenCV does the codec work. Every failure becomes a ``SourceError`` or
``OutputError`` with a message a user can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import OutputError, SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
URL_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before reading it."""

    kind: str  # "video", "images", "camera" or "url"
    name: str
    fps: float  # frames per second to play or record at
    frame_count: int | None  # None for live sources
    width: int
    height: int


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file (any path, including non-ASCII) as BGR uint8, or raise ``SourceError``."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise SourceError(f"{Path(path).name} is not a readable image")
    return image


def classify_source(spec: str) -> str:
    """"camera" for an integer index, "url" for a stream address, else "images" or "video" by the path."""
    if spec.isdigit():
        return "camera"
    if spec.lower().startswith(URL_PREFIXES):
        return "url"
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return "images"
    return "video"


def open_capture(spec: str, *, open_timeout_ms: int = 5000, read_timeout_ms: int = 5000) -> cv2.VideoCapture:
    """Open a video file, camera index or URL with OpenCV, with timeouts for network streams."""
    kind = classify_source(spec)
    if kind == "camera":
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise SourceError(f"camera {spec} is not available (unplugged, busy, or no permission)")
        return cap
    if kind == "url":
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_timeout_ms]
        cap = cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise SourceError(f"cannot connect to {spec} (no answer within {open_timeout_ms / 1000:.0f} s or not a stream)")
        return cap
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"file not found: {spec}")
    if path.is_file() and path.stat().st_size == 0:
        raise SourceError(f"{path.name} is empty")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"{path.name} is not a video OpenCV can decode (corrupt, or an unsupported codec)")
    return cap


def capture_info(cap: cv2.VideoCapture, kind: str, name: str) -> SourceInfo:
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return SourceInfo(
        kind=kind,
        name=name,
        fps=fps if 0 < fps < 1000 else DEFAULT_FPS,
        frame_count=count if kind == "video" and count > 0 else None,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )


class FrameSource:
    """Iterate ``(index, frame, name)`` over a video, camera, URL, image or folder of images."""

    def __init__(self, spec: str) -> None:
        self.spec = str(spec)
        self.kind = classify_source(self.spec)
        self._cap: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        if self.kind == "images":
            path = Path(self.spec)
            if not path.exists():
                raise SourceError(f"not found: {self.spec}")
            self._images = (
                sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
            )
            if not self._images:
                raise SourceError(f"no images in {self.spec}")
            first = read_image(self._images[0])
            self.info = SourceInfo("images", path.name, DEFAULT_FPS, len(self._images), first.shape[1], first.shape[0])
        else:
            self._cap = open_capture(self.spec)
            self.info = capture_info(self._cap, self.kind, Path(self.spec).name if self.kind == "video" else self.spec)
            if self.kind == "video":
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    self._cap.release()
                    raise SourceError(f"{Path(self.spec).name} holds no decodable frames")
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, str]]:
        if self.kind == "images":
            for i, path in enumerate(self._images):
                yield i, read_image(path), path.name
            return
        assert self._cap is not None
        index = 0
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                break
            yield index, frame, f"{self.info.name}:{index}"
            index += 1

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# codec choices per container, most compatible first
_CODECS = {".mp4": ["mp4v", "avc1"], ".m4v": ["mp4v"], ".mov": ["mp4v"], ".avi": ["MJPG", "XVID"], ".mkv": ["XVID", "MJPG"]}


class VideoWriter:
    """Annotated-video writer: MP4/mp4v first, AVI/MJPG as a fallback, ``isOpened`` always checked.

    ``path`` is where the video actually went (the fallback changes the suffix).
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        requested = Path(path)
        self.size = (int(size[0]), int(size[1]))  # (width, height)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.frames_written = 0
        parent = requested.parent if str(requested.parent) else Path(".")
        if not parent.exists():
            raise OutputError(f"folder does not exist: {parent}")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"folder is not writable: {parent}")
        attempts = [(requested, c) for c in _CODECS.get(requested.suffix.lower(), ["mp4v"])]
        attempts.append((requested.with_suffix(".avi"), "MJPG"))
        self._writer = None
        for target, codec in attempts:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), self.fps, self.size)
            if writer.isOpened():
                self._writer, self.path, self.codec = writer, target, codec
                break
            writer.release()
        if self._writer is None:
            raise OutputError(f"no video codec could open {requested} (tried {', '.join(c for _, c in attempts)})")

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            raise OutputError(f"{self.path.name} is already closed")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        """Finalise the container (writes the MP4 index); safe to call twice."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
