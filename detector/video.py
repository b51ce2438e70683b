"""Reading frames from files, folders, cameras and URLs, and writing video that plays everywhere.

OpenCV does the codec work, except H.264, which PyAV encodes (see ``h264``). Every
failure becomes a ``SourceError`` or ``OutputError`` with a message a user can act on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from . import h264
from .camera_mode import CameraMode, ask_for_mode
from .errors import OutputError, SourceError
from .fmp4 import FragmentedMp4
from .preprocess import as_bgr_uint8

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
    return as_bgr_uint8(image)  # 16-bit, grayscale and RGBA files become what drawing and encoding expect


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are one existing file or folder, however spelled (links, case, ``..``).

    Why: writing an output over the input it is made from destroys the input before
    it is read, so every writer checks its target against its source with this.
    """
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # either one missing (nothing to destroy), or a name the OS refuses
        return False


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


def open_capture(spec: str, *, open_timeout_ms: int = 5000, read_timeout_ms: int = 5000,
                 camera_mode: CameraMode | None = None) -> cv2.VideoCapture:
    """Open a video file, camera index or URL with OpenCV, with timeouts for network streams.

    ``camera_mode``: the resolution and rate to ask a camera for (else its driver's default).
    """
    kind = classify_source(spec)
    if kind == "camera":
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise SourceError(f"camera {spec} is not available (unplugged, busy, or no permission)")
        if camera_mode is not None:
            ask_for_mode(cap, camera_mode)
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


def _what_else_is_in(folder: Path) -> str:
    """A hint for a folder with no images: the videos or sub-folders the user may have meant."""
    entries = sorted(folder.iterdir())
    videos = [p.name for p in entries if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    if videos:
        return (f" (it holds {len(videos)} video{'s' if len(videos) > 1 else ''}, such as {videos[0]}: "
                "give one video file as the source)")
    folders = [p.name for p in entries if p.is_dir()]
    if folders:
        return f" (sub-folders such as {folders[0]} are not searched: give the one that holds the images)"
    return ""


class FrameSource:
    """Iterate ``(index, frame, name)`` over a video, camera, URL, image or folder of images.

    In a folder, an image that cannot be read is skipped, not fatal: one damaged file
    should not stop a job over thousands. Each one is told to ``on_skip`` and listed in
    ``skipped``; a folder where no image reads is an error.
    """

    def __init__(self, spec: str, *, camera_mode: CameraMode | None = None,
                 on_skip: Callable[[str], None] | None = None) -> None:
        """``camera_mode``: the resolution and rate to ask a camera for; refused for other sources.

        ``on_skip``: called with a message for each unreadable image in a folder, as it is met.
        """
        self.spec = str(spec)
        self.kind = classify_source(self.spec)
        if camera_mode is not None and self.kind != "camera":
            raise SourceError(f"a camera mode applies to a camera index, not to {self.kind} source {self.spec}")
        self._cap: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        self._on_skip = on_skip
        self.skipped: list[str] = []  # names of the images in a folder that could not be read
        if self.kind == "images":
            path = Path(self.spec)
            if not path.exists():
                raise SourceError(f"not found: {self.spec}")
            if path.is_file():
                self._images = [path]
                first = read_image(path)  # a single image that does not read is the error itself
            else:
                self._images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                if not self._images:
                    raise SourceError(f"no images in {self.spec}{_what_else_is_in(path)}")
                first = self._first_readable()
            self.info = SourceInfo("images", path.name, DEFAULT_FPS, len(self._images), first.shape[1], first.shape[0])
        else:
            self._cap = open_capture(self.spec, camera_mode=camera_mode)
            self.info = capture_info(self._cap, self.kind, Path(self.spec).name if self.kind == "video" else self.spec)
            if self.kind == "video":
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    self._cap.release()
                    raise SourceError(f"{Path(self.spec).name} holds no decodable frames")
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def _first_readable(self) -> np.ndarray:
        """The folder's first image that reads, only to size the source (skips are reported as they are met)."""
        for path in self._images:
            with contextlib.suppress(SourceError):
                return read_image(path)
        shown = ", ".join(p.name for p in self._images[:3]) + (", …" if len(self._images) > 3 else "")
        raise SourceError(f"no image in {self.spec} could be read ({len(self._images)} tried: {shown})")

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, str]]:
        if self.kind == "images":
            self.skipped = []
            for i, path in enumerate(self._images):
                try:
                    image = read_image(path)
                except SourceError as exc:
                    self.skipped.append(path.name)
                    if self._on_skip is not None:
                        self._on_skip(f"skipped: {exc}")
                    continue
                yield i, image, path.name
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


# codec choices per container, most compatible first; "avc1" is H.264 through PyAV. Each is the container's own
# codec (VP8 in WebM, MPEG-2 in MPEG files, WMV in ASF), so the file has the suffix asked for and plays where such
# files play; "mp4v" stands in where the first refuses (MPEG-2 takes only the standard frame rates)
_CODECS = {".mp4": ["avc1", "mp4v"], ".m4v": ["avc1", "mp4v"], ".mov": ["avc1", "mp4v"], ".avi": ["MJPG", "XVID"],
           ".mkv": ["XVID", "MJPG"], ".webm": ["VP80"], ".mpg": ["MPG2", "mp4v"], ".mpeg": ["MPG2", "mp4v"],
           ".ts": ["MPG2", "mp4v"], ".wmv": ["WMV2"], ".flv": ["FLV1"]}
# containers written as fragmented MP4 (see VideoWriter); AVI and MKV need no index to play, so OpenCV writes them as is
_FRAGMENTED_SUFFIXES = {".mp4", ".m4v", ".mov"}
SEGMENT_SECONDS = 1.0  # the most a killed recording loses
_SEGMENT_TAG = ".segment"  # hidden segment files are named .NAME.PID.segment.EXT
_SEGMENT_NAME = re.compile(r"\..+\.(?P<pid>\d+)\.segment\.\w+")


class _OpenCvSegment:
    """One segment encoded by OpenCV, into a hidden file beside the target: OpenCV writes only to files."""

    def __init__(self, path: Path, codec: str, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if not self._writer.isOpened():
            self.discard()
            raise ValueError(f"OpenCV cannot encode {codec}")

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def finish(self) -> bytes:
        self._writer.release()
        return self.path.read_bytes()

    def discard(self) -> None:
        self._writer.release()
        _remove(self.path)


class VideoWriter:
    """Annotated-video writer whose file stays playable whatever stops it; AVI/MJPG as a fallback.

    Why fragments: a plain MP4 is unplayable until its index (the ``moov`` box) is
    written at the very end, so a kill or a crash lost the whole recording. A
    fragmented MP4 (standard ISO MP4, as DASH and HLS stream it) needs no final
    index: each fragment carries its own, so the file plays up to its last whole
    fragment at any moment. OpenCV cannot write one: its FFmpeg backend hands
    neither ``OPENCV_FFMPEG_WRITER_OPTIONS`` nor any ``VideoWriter`` parameter to the
    muxer (checked on OpenCV 5.0: with ``movflags;frag_keyframe+empty_moov`` a
    killed file still has no ``moov``).

    Why segments, joined as they come: the encoders finalise only whole files, so
    ``segment_seconds`` (1 s) at a time are encoded into a small MP4 (H.264 in memory
    through PyAV; ``mp4v`` in a hidden file beside the target through OpenCV, when
    PyAV is missing), and each finished segment's frames are appended to the user's
    file as one fragment, without re-encoding. The user gets one ``.mp4`` rather than
    numbered parts to stitch together; a kill loses at most the segment being encoded
    (and may leave OpenCV's hidden file behind, which the next recording into that
    folder removes), and a write error such as a full disk leaves the file ending at
    its last whole fragment.

    ``path`` is where the video actually went (the fallback changes the suffix).
    ``frames_written`` counts the frames handed to ``write``; after a write error,
    those the file holds. AVI and MKV are written by OpenCV directly: they need no
    final index, so a killed file keeps what reached the disk. The rarer containers
    (WebM, MPEG, TS, WMV, FLV) are written by OpenCV directly too, each with its own codec.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], *,
                 segment_seconds: float = SEGMENT_SECONDS, protect: str | Path | None = None) -> None:
        """``protect``: a file never to write, the video being read: asked for, it is an error; as the fallback, skipped."""
        requested = Path(path)
        if protect is not None and same_file(requested, protect):
            raise OutputError(f"{requested} is the source video itself; writing it would destroy the original "
                              "(choose another file name)")
        self.size = (int(size[0]), int(size[1]))  # (width, height)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.frames_written = 0
        self.path, self.codec = requested, ""
        self._writer: cv2.VideoWriter | None = None  # OpenCV's encoder for a whole file (AVI, MKV, …)
        self._segment: h264.H264Segment | _OpenCvSegment | None = None  # the segment being encoded, when fragmented
        self._file = None  # the user's file, when fragmented
        self._error: OutputError | None = None
        self._closed = False
        self._segment_frames = max(1, round(self.fps * segment_seconds))
        parent = requested.parent if str(requested.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"folder does not exist: {parent}")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"folder is not writable: {parent}")
        codecs = _CODECS.get(requested.suffix.lower(), ["mp4v"])
        attempts = [(requested, c) for c in codecs if c != "avc1" or h264.can_encode()]
        fallback = requested.with_suffix(".avi")
        if requested.suffix.lower() != ".avi" and not (protect is not None and same_file(fallback, protect)):
            attempts.append((fallback, "MJPG"))
        for target, codec in attempts:
            file = self._create(target)  # before any encoder: a clear message for a folder no file can be made in
            if target.suffix.lower() in _FRAGMENTED_SUFFIXES:
                self._open_fragmented(file, target, codec)
            else:
                file.close()
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), self.fps, self.size)
                if writer.isOpened():
                    self._writer = writer
                else:
                    writer.release()
                    _remove(target)
            if self._writer is not None or self._file is not None:
                self.path, self.codec = target, codec
                return
        raise OutputError(f"no video codec could open {requested} (tried {', '.join(c for _, c in attempts)})")

    def _create(self, target: Path):
        try:
            return self._open_output(target)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None

    # -- fragmented MP4 ---------------------------------------------------------------------
    def _open_fragmented(self, file, target: Path, codec: str) -> None:
        """Start the first segment's encoder; on success ``file`` becomes the user's file, else it is removed."""
        # The process id lets a later writer tell a live writer's segment from one a kill left behind.
        self._segment_path = target.with_name(f".{target.name}.{os.getpid()}{_SEGMENT_TAG}{target.suffix}")
        _remove_orphaned_segments(target.parent)
        self._codec = codec
        self._fragments = FragmentedMp4(file)
        self._segment_count = 0  # frames in the segment being encoded
        self._committed = 0  # frames in the user's file
        if self._start_segment():
            self._file = file
            return
        file.close()
        _remove(target)

    def _open_output(self, target: Path):
        """The user's file, unbuffered: what ``write`` reports written is in the OS, which a kill cannot undo.

        (Also the seam where tests put a disk that fills up.)
        """
        return open(target, "wb", buffering=0)

    def _start_segment(self) -> bool:
        try:
            if self._codec == "avc1":  # only tried where h264.can_encode said yes
                self._segment = h264.H264Segment(self.fps, self.size)
            else:
                self._segment = _OpenCvSegment(self._segment_path, self._codec, self.fps, self.size)
        except ValueError:
            return False
        return True

    def _commit_segment(self) -> None:
        """Finalise the segment being encoded and append its frames to the user's file as one fragment."""
        assert self._segment is not None
        segment, self._segment = self._segment, None
        count, self._segment_count = self._segment_count, 0
        try:
            data = segment.finish()
            self._fragments.append(data)
        except OSError as exc:
            raise self._fail(self._os_error_message(exc), count) from None
        except (ValueError, KeyError, IndexError, struct.error) as exc:  # a segment the encoder could not finalise
            raise self._fail(self._broken_segment_message(exc), count) from None
        self._committed += count

    def _fail(self, message: str, lost: int) -> OutputError:
        """Stop for good: the ``lost`` frames of the segment did not make it into the file."""
        self.frames_written -= lost
        self._error = OutputError(message)
        if self._segment is not None:
            self._segment.discard()
            self._segment = None
        _remove(self._segment_path)
        return self._error

    def _os_error_message(self, exc: OSError) -> str:
        saved = f"the first {self._committed / self.fps:.1f} s are saved" if self._committed else "nothing was saved"
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return f"disk full: no space left on the device for {self.path.name} ({saved})"
        if exc.errno == errno.EFBIG:
            return f"{self.path.name} reached the largest file this disk allows ({saved})"
        return f"cannot write {self.path}: {exc.strerror or exc} ({saved})"

    def _broken_segment_message(self, exc: Exception) -> str:
        """OpenCV reports no write errors: a segment it could not finalise on a nearly full disk means a full disk."""
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = -1
        if 0 <= free < 16 * 1024 * 1024:
            return self._os_error_message(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return f"the video encoder failed while writing {self.path.name}: {exc}"

    # -- the public part --------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise OutputError(f"{self.path.name} is already closed")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        if self._file is None:
            assert self._writer is not None
            self._writer.write(frame)
            self.frames_written += 1
            return
        if self._segment is None and not self._start_segment():
            self._error = OutputError(self._broken_segment_message(RuntimeError("it could not start a new segment")))
            raise self._error
        try:
            self._segment.write(frame)
        except ValueError as exc:
            raise self._fail(self._broken_segment_message(exc), self._segment_count) from None
        self.frames_written += 1
        self._segment_count += 1
        if self._segment_count >= self._segment_frames:
            self._commit_segment()

    def close(self) -> None:
        """Finalise the file (the frames not yet in it, and its total duration); safe to call twice.

        Raises ``OutputError`` if the last frames could not be saved; the file is closed
        and plays up to the last fragment either way.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._file is not None and self._segment is not None and self._segment_count and self._error is None:
                self._commit_segment()
        finally:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            if self._segment is not None:
                self._segment.discard()
                self._segment = None
            if self._file is not None:
                file, self._file = self._file, None
                try:
                    os.fsync(file.fileno())  # on the disk, not only in the OS, before close returns
                except (OSError, ValueError, AttributeError):
                    pass
                try:
                    file.close()
                except OSError:
                    pass  # every fragment went to the OS when it was appended
                _remove(self._segment_path)
                if self._fragments.empty:
                    _remove(self.path)  # not one frame saved: no empty, unplayable file left behind

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.close()
        except OutputError:
            if exc_type is None:
                raise  # otherwise the error already on its way out says more


def _remove_orphaned_segments(folder: Path) -> None:
    """Delete the hidden segment files that killed writers left in ``folder`` (each at most 1 s of
    unfinished video, which nothing can play): those whose process is gone."""
    for path in folder.glob(f".*{_SEGMENT_TAG}.*"):
        match = _SEGMENT_NAME.fullmatch(path.name)
        if match and not _process_alive(int(match["pid"])):
            _remove(path)


def _process_alive(pid: int) -> bool:
    """True unless ``pid`` certainly names no running process (a reused id only keeps a file longer)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        # os.kill would terminate the process there. Windows refuses to delete a file another
        # process has open, so an attempt on a live writer's segment fails harmlessly.
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or cannot be asked
        return True
    return True


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
