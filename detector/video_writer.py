"""Writing annotated video that plays everywhere, and that stays playable whatever stops the writer.

OpenCV does the codec work, except H.264, which PyAV encodes (see ``h264``). Every
failure becomes an ``OutputError`` with a message a user can act on.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import shutil
import struct
import sys
from pathlib import Path

import cv2
import numpy as np

from . import h264
from .errors import NameTaken, OutputError
from .fmp4 import FragmentedMp4
from .native_stderr import dropping_lines
from .unlinked import restore_if_unlinked
from .video import DEFAULT_FPS, opencv_cannot_name, opencv_path, same_file

# codec choices per container, most compatible first; "avc1" is H.264 through PyAV. Each is the container's own
# codec (VP8 in WebM, MPEG-2 in MPEG files, WMV in ASF), so the file has the suffix asked for and plays where such
# files play; "mp4v" stands in where the first refuses (MPEG-2 takes only the standard frame rates)
_CODECS = {".mp4": ["avc1", "mp4v"], ".m4v": ["avc1", "mp4v"], ".mov": ["avc1", "mp4v"], ".avi": ["MJPG", "XVID"],
           ".mkv": ["XVID", "MJPG"], ".webm": ["VP80"], ".mpg": ["MPG2", "mp4v"], ".mpeg": ["MPG2", "mp4v"],
           ".ts": ["MPG2", "mp4v"], ".wmv": ["WMV2"], ".flv": ["FLV1"]}
# OpenCV's notice for containers without codec tags (WebM, MPEG, MPEG-TS), printed before it writes a good file
_TAG_NOTICE = re.compile(rb"^OpenCV: FFMPEG: (tag 0x[0-9a-f]{8}/'.{4}' is not supported with codec id|fallback to use tag)")
# containers written as fragmented MP4 (see VideoWriter); AVI and MKV need no index to play, so OpenCV writes them as is
_FRAGMENTED_SUFFIXES = {".mp4", ".m4v", ".mov"}
SEGMENT_SECONDS = 1.0  # the most a killed recording loses
# OpenCV reports no write error, so a file it writes whole (AVI, MKV, …) stops while the disk still has this much
# room (or three times what the last second took), which leaves it room to write its index: on a full disk it said
# "saved" of a file without one (no frame count, no duration)
DISK_RESERVE_BYTES = 8 * 1024 * 1024
_SEGMENT_TAG = ".segment"  # hidden segment files are named .NAME.PID.segment.EXT
_SEGMENT_NAME = re.compile(r"\..+\.(?P<pid>\d+)\.segment\.\w+")


def fit_placement(frame_wh: tuple[int, int], size: tuple[int, int]) -> tuple[float, int, int, int, int]:
    """Where ``fit_frame`` puts a frame of ``frame_wh`` in ``size``: (scale, left, top, width, height)."""
    (frame_width, frame_height), (width, height) = frame_wh, size
    scale = min(width / frame_width, height / frame_height)
    new_width = min(width, max(1, round(frame_width * scale)))
    new_height = min(height, max(1, round(frame_height * scale)))
    return scale, (width - new_width) // 2, (height - new_height) // 2, new_width, new_height


def fit_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to fit inside ``size`` (width, height), its shape kept, centred on black.

    Why: a video has one frame size, the first frame's. A folder of photos mixes landscape and
    portrait; stretched to fit, a portrait photo's people would come out squat and wide.
    """
    width, height = size
    scale, left, top, new_width, new_height = fit_placement((frame.shape[1], frame.shape[0]), size)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR  # AREA to shrink without aliasing
    resized = cv2.resize(frame, (new_width, new_height), interpolation=interpolation)
    if (new_width, new_height) == (width, height):
        return resized
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[top:top + new_height, left:left + new_width] = resized
    return canvas


NOTHING_SAVED = "nothing was saved"
_SAVED_NOTE = re.compile(rf" \((the first [0-9.]+ s are saved|{re.escape(NOTHING_SAVED)})\)$")


def without_saved_note(message: str) -> str:
    """A write error without its closing "(the first 5.0 s are saved)", for a caller that names what was saved."""
    return _SAVED_NOTE.sub("", message)


def next_free_path(path: Path) -> Path:
    """``path`` when nothing is there, else the first free ``NAME-2.ext``, ``NAME-3.ext``…"""
    for n in itertools.count(1):  # endless: some number is always free
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate


class _OpenCvSegment:
    """One segment encoded by OpenCV, into a hidden file beside the target: OpenCV writes only to files.
    Frames are stored at an even size, as H.264's are (OpenCV's encoders cut an odd side's last pixel off)."""

    def __init__(self, path: Path, codec: str, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        path.touch()  # an existing file has a short name to give OpenCV on Windows (see ``opencv_path``)
        if opencv_cannot_name(path):
            _remove(path)
            raise ValueError(f"OpenCV cannot be given the name {path}")
        self._writer = cv2.VideoWriter(opencv_path(path), cv2.VideoWriter_fourcc(*codec), fps, h264.encoded_size(size))
        if not self._writer.isOpened():
            self.discard()
            raise ValueError(f"OpenCV cannot encode {codec}")

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(h264.even_sized(frame))

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
                 segment_seconds: float = SEGMENT_SECONDS, protect: str | Path | None = None,
                 exclusive: bool = False) -> None:
        """``protect``: a file never to write, the video being read: asked for, it is an error (the fallback never writes over a file).

        ``exclusive``: never write over a file; ``NameTaken`` when ``path`` exists (a name chosen as unused
        that another process has taken since: two windows recording in the same second).
        """
        requested = Path(path)
        self._exclusive = exclusive
        if protect is not None and same_file(requested, protect):
            raise OutputError(f"{requested} is the source video itself; writing it would destroy the original "
                              "(choose another file name)")
        self.size = (int(size[0]), int(size[1]))  # (width, height)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.frames_written = 0
        self.restored = False  # its folder was deleted while it was written, and it was saved again (close)
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
        if requested.suffix.lower() != ".avi":  # a clip.avi already beside clip.mp4 (the source, or any) is kept
            attempts.append((next_free_path(requested.with_suffix(".avi")), "MJPG"))
        for target, codec in attempts:
            file = self._create(target)  # before any encoder: a clear message for a folder no file can be made in
            if target.suffix.lower() in _FRAGMENTED_SUFFIXES:
                self._open_fragmented(file, target, codec)
            else:
                file.close()
                writer = None
                if not opencv_cannot_name(target):  # else it would write under a garbled name
                    with dropping_lines(_TAG_NOTICE):  # once per file; the 1-s MP4 segments never print it
                        writer = cv2.VideoWriter(opencv_path(target), cv2.VideoWriter_fourcc(*codec), self.fps,
                                                 h264.encoded_size(self.size))  # even, as H.264's: see write
                if writer is not None and writer.isOpened():
                    self._writer = writer
                    self._size_at_check = self._free_at_check = 0
                    if self._nearly_full(target):  # before any frame: nothing would be saved
                        writer.release()
                        self._writer = None
                        _remove(target)
                        raise OutputError(self._disk_full_message(target, 0))
                else:
                    if writer is not None:
                        writer.release()
                    _remove(target)
            if self._writer is not None or self._file is not None:
                self.path, self.codec = target, codec
                return
        if opencv_cannot_name(requested):
            raise OutputError(f"cannot record to {requested}: OpenCV on Windows cannot write a path with characters "
                              "outside ASCII (opencv/opencv#4242); choose a folder and name in plain ASCII")
        raise OutputError(f"no video codec could open {requested} (tried {', '.join(c for _, c in attempts)})")

    def _create(self, target: Path):
        try:
            return self._open_output(target)
        except FileExistsError:
            raise NameTaken(f"{target} exists") from None
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
        # readable too: see ``restore_if_unlinked``; x: created here or not at all, when exclusive
        return open(target, "x+b" if self._exclusive else "w+b", buffering=0)

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
        saved = f"the first {self._committed / self.fps:.1f} s are saved" if self._committed else NOTHING_SAVED
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return f"disk full: no space left on the device for {self.path.name} ({saved})"
        if exc.errno == errno.EFBIG:
            return f"{self.path.name} reached the largest file this disk allows ({saved})"
        return f"cannot write {self.path}: {exc.strerror or exc} ({saved})"

    def _nearly_full(self, target: Path) -> bool:
        """Whether an OpenCV-written file should stop now: its disk has less than DISK_RESERVE_BYTES free, or less
        than three times what the file grew by since the last check (about a second)."""
        try:
            free = shutil.disk_usage(target.parent).free
            size = os.path.getsize(target)
        except OSError:
            return False
        grown, self._size_at_check = size - self._size_at_check, size
        self._free_at_check = free
        return free < max(DISK_RESERVE_BYTES, 3 * grown)

    def _disk_full_message(self, target: Path, frames: int) -> str:
        saved = f"the first {frames / self.fps:.1f} s are saved" if frames else NOTHING_SAVED
        left = self._free_at_check / (1024 * 1024)
        room = "less than 3 s of recording" if left >= DISK_RESERVE_BYTES / (1024 * 1024) else "kept for its index"
        return f"disk nearly full: {left:.0f} MB left on the device for {target.name}, {room} ({saved})"

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
            frame = fit_frame(frame, self.size)
        if self._file is None:
            assert self._writer is not None
            self._writer.write(h264.even_sized(frame))  # OpenCV's encoders cut an odd side's last pixel off
            self.frames_written += 1
            if self.frames_written % self._segment_frames == 0 and self._nearly_full(self.path):
                self._writer.release()  # finalised now, while there is room for its index
                self._writer = None
                self._error = OutputError(self._disk_full_message(self.path, self.frames_written))
                raise self._error
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
                if self.frames_written == 0:  # as for an MP4: no empty, unplayable AVI or MKV left behind
                    _remove(self.path)
            if self._segment is not None:
                self._segment.discard()
                self._segment = None
            if self._file is not None:
                file, self._file = self._file, None
                try:
                    os.fsync(file.fileno())  # on the disk, not only in the OS, before close returns
                except (OSError, ValueError, AttributeError):
                    pass
                lost_name = None
                if not self._fragments.empty:
                    try:
                        self.restored = restore_if_unlinked(file.fileno(), self.path)
                    except (AttributeError, ValueError):  # a stand-in for a file, without a descriptor
                        pass
                    except OSError as exc:
                        lost_name = exc
                try:
                    file.close()
                except OSError:
                    pass  # every fragment went to the OS when it was appended
                _remove(self._segment_path)
                if self._fragments.empty:
                    _remove(self.path)  # not one frame saved: no empty, unplayable file left behind
                if lost_name is not None:
                    raise OutputError(f"{self.path.parent} was deleted while recording and {self.path.name} could "
                                      f"not be saved again: {lost_name.strerror or lost_name} (nothing is saved)")

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
