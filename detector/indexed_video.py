"""A variable-frame-rate video file read by its frames' own times: its length is right and seeks are exact.

Why: a browser's or a screen recorder's file (WebM, MKV) holds frames unevenly apart and states no
frame count. OpenCV counts its duration times its nominal rate (136 for 31 frames over 4.5 s) and
seeks by that time: it landed on the frame before the one asked for, or on none at all past a still.
The container's packets carry every frame's time and are read without decoding (about 45 ms per
thousand frames of a 720p file here), and PyAV, a dependency already for H.264 recording, decodes from
the keyframe before any of them. Files at a constant rate, and any this cannot index quickly, stay with
OpenCV.
"""

from __future__ import annotations

import bisect
import functools
import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

MATROSKA_SUFFIXES = {".mkv", ".webm"}  # the files looked into: any other opens as quickly as before, without PyAV
PROBE_FRAMES = 120  # packets read to tell a variable rate in a large file: a long constant-rate film costs ms, not a pass
PROBE_ABOVE_BYTES = 64 * 2**20  # smaller files (a screen recording: minutes) are indexed whole, stills late in them too
INDEX_TIME_LIMIT_S = 2.0  # a file not indexed this fast (very long, or on a slow share) plays through OpenCV instead


def fewer_than_their_span(frames: int, span_ms: float, fps: float) -> bool:
    """Whether ``frames`` frames spread over ``span_ms`` are clearly fewer than that span holds at ``fps``: a
    variable frame rate (31 frames over 4.5 s at a stated 30 FPS), not a phone's slightly uneven times."""
    if fps <= 0 or frames < 2:
        return False
    return frames < 0.9 * (span_ms * fps / 1000.0 + 1)


@dataclass(frozen=True)
class FrameIndex:
    """Every frame's time in a video stream, in display order."""

    times: tuple[int, ...]  # presentation times, in ``time_base`` units, ascending
    time_base: Fraction
    origin: int  # the stream's start: times are measured from it, as OpenCV measures them

    def ms(self, pts: int) -> float:
        return float((pts - self.origin) * self.time_base * 1000)

    def number_of(self, pts: int) -> int:
        """The number of the frame at ``pts`` (of the first after it, if none is there)."""
        return bisect.bisect_left(self.times, pts)


def index_variable_rate(path: str | Path, fps: float, *, count_known: bool = True) -> FrameIndex | None:
    """The frame index of a whole Matroska or WebM file whose frames are clearly sparser than ``fps``, or of any
    whole one whose frame count OpenCV does not know (``count_known``: a browser's WebM, written without its
    duration). None for a constant rate with a known count, for other containers (MP4 and MOV state their
    count, OpenCV counts them right; FLV's and MPEG-TS's seeks would not land where the index says), for a
    file cut short (its frames end well before the duration its header states: called damaged as before)
    and for one not indexed in time."""
    if Path(path).suffix.lower() not in MATROSKA_SUFFIXES:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _index_of(str(path), stat.st_size, stat.st_mtime_ns, float(fps), count_known)


@functools.lru_cache(maxsize=8)  # a looping file opens again at each start: indexed once (a changed file again)
def _index_of(path: str, size: int, _mtime_ns: int, fps: float, count_known: bool) -> FrameIndex | None:
    started = time.monotonic()
    try:
        import av  # in the try: a bundle without PyAV (mp4v recordings) failed every MKV with "No module named 'av'"

        with av.open(path) as container:
            stream = container.streams.video[0] if container.streams.video else None
            if (stream is None or stream.frames or stream.time_base is None
                    or not set(container.format.name.split(",")) & {"matroska", "webm"}):
                return None
            times: list[int] = []
            probe = count_known and size > PROBE_ABOVE_BYTES
            for packet in container.demux(stream):
                if not times and not packet.is_keyframe:
                    continue  # cut from a stream's middle: nothing before its first keyframe decodes, nor is counted
                if packet.pts is not None and packet.size:  # (the demuxer's last packet is empty)
                    times.append(packet.pts)
                if probe and len(times) == PROBE_FRAMES and not _sparse(times, stream.time_base, fps):
                    return None
                if time.monotonic() - started > INDEX_TIME_LIMIT_S:
                    log.info("%s: not indexed within %.1f s; OpenCV reads it", path, INDEX_TIME_LIMIT_S)
                    return None
            if not times:
                return None
            origin = stream.start_time if stream.start_time is not None else min(times)
            time_base = Fraction(stream.time_base)
            # Matroska's duration counts from 0, as its frames' times do
            stated_s = container.duration / 1e6 if container.duration else None
    except Exception:  # noqa: BLE001 - a file PyAV cannot read plays through OpenCV, as before
        return None
    times = sorted(set(times))  # display order (B-frames come out of it)
    if count_known and not _sparse(times, time_base, fps):
        return None
    if stated_s is not None and float(times[-1] * time_base) < stated_s - max(3 / fps, 1.0):
        return None  # cut short: a whole file's last frame may last a while, but not beyond a second of its end
    return FrameIndex(tuple(times), time_base, origin)


def _sparse(times: list[int], time_base: Fraction, fps: float) -> bool:
    span_ms = float((max(times) - min(times)) * time_base * 1000) if times else 0.0
    return fewer_than_their_span(len(set(times)), span_ms, fps)


class IndexedVideo:
    """A variable-rate file behind the part of ``cv2.VideoCapture``'s interface the app and CLI use.

    ``CAP_PROP_POS_FRAMES`` seeks to that frame exactly: to the keyframe before it, then decoding up
    to it. ``CAP_PROP_FRAME_COUNT`` is the frames it holds. ``CAP_PROP_POS_MSEC`` is the time of the
    frame read last, from the stream's start, as OpenCV gives it.
    """

    def __init__(self, path: str | Path, index: FrameIndex, fps: float) -> None:
        import av

        self._index, self._fps = index, fps
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame threads, as OpenCV's FFmpeg backend decodes
        self._decoded = self._container.decode(self._stream)
        self._wanted: int | None = None  # after a seek: the time of the frame asked for
        self._pos_ms = 0.0
        self._next = 0  # the number of the frame the next read gives
        ctx = self._stream.codec_context
        self._size = (int(ctx.width), int(ctx.height))
        self.set(cv2.CAP_PROP_POS_FRAMES, 0)  # from the first keyframe: packets before it (a cut) do not decode

    def turned(self) -> bool:
        """Whether the file says its pictures are to be shown turned (rotation metadata); reads back to frame 0."""
        first = self._decode_next()
        self.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return first is not None and bool(first.rotation)

    @property
    def frame_count(self) -> int:
        return len(self._index.times)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._container is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        frame = self._decode_next()
        if frame is None:
            return False, None
        return True, frame.to_ndarray(format="bgr24")

    def grab(self) -> bool:
        return self._decode_next() is not None

    def set(self, prop: int, value: float) -> bool:
        if prop != cv2.CAP_PROP_POS_FRAMES or self._container is None:
            return False
        target = max(0, int(value))
        self._next = target
        if target >= self.frame_count:  # past the end: reads find nothing, as OpenCV's do
            self._wanted, self._decoded = None, iter(())
            return True
        self._wanted = self._index.times[target]
        self._container.seek(self._wanted, stream=self._stream, backward=True, any_frame=False)
        self._decoded = self._container.decode(self._stream)
        return True

    def get(self, prop: int) -> float:
        return {
            cv2.CAP_PROP_FPS: self._fps,
            cv2.CAP_PROP_FRAME_COUNT: float(self.frame_count),
            cv2.CAP_PROP_FRAME_WIDTH: float(self._size[0]),
            cv2.CAP_PROP_FRAME_HEIGHT: float(self._size[1]),
            cv2.CAP_PROP_POS_MSEC: self._pos_ms,
            cv2.CAP_PROP_POS_FRAMES: float(self._next),
        }.get(prop, 0.0)

    def release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
            self._decoded = iter(())

    def _decode_next(self):
        """The next frame in display order, skipping those before a seek's target; None at the end."""
        import av

        while True:
            try:
                frame = next(self._decoded, None)
            except av.FFmpegError as exc:  # damage: the end of what plays, as OpenCV's read says False
                log.info("decoding stopped: %s", exc)
                frame = None
            if frame is None:
                self._decoded = iter(())
                return None
            if self._wanted is not None and frame.pts is not None and frame.pts < self._wanted:
                continue  # between the keyframe and the frame asked for
            self._wanted = None
            if frame.pts is not None:
                self._next = self._index.number_of(frame.pts)
                self._pos_ms = self._index.ms(frame.pts)
            self._next += 1
            return frame


def open_variable_rate(path: str | Path, cap: cv2.VideoCapture) -> IndexedVideo | None:
    """``path`` as an ``IndexedVideo`` where OpenCV (``cap``, opened on it) would count and seek it by a
    nominal rate its frames do not keep, or cannot count it at all; None where OpenCV reads it right (the
    caller keeps ``cap``)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    if fps <= 0 or count == 1:
        return None
    index = index_variable_rate(path, fps, count_known=count > 1)
    if index is None:
        return None
    video = None
    try:
        video = IndexedVideo(path, index, fps)
        if not video.turned():  # a phone's portrait video: OpenCV turns it upright; PyAV's would lie on their side
            return video
    except Exception:  # noqa: BLE001 - indexed, yet not opened or sought a second time: OpenCV reads it, as before
        pass
    if video is not None:
        video.release()
    return None
