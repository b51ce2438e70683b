"""Reading frames from files, folders, cameras and URLs (writing them back is ``video_writer``'s job).

OpenCV does the decoding. Every failure becomes a ``SourceError`` with a message a
user can act on.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator
from urllib.parse import urlsplit
from urllib.request import url2pathname

import cv2
import numpy as np

from .camera_mode import CameraMode, ask_for_mode
from .errors import SourceError
from .indexed_video import MATROSKA_SUFFIXES, IndexedVideo, fewer_than_their_span, open_variable_rate
from .preprocess import as_bgr_uint8, picture_to_8_bits

CLOSE_WAIT_S = 1.0  # how long closing a source waits for a read under way on another thread

# HEIF: iPhones save photos as HEIC by default. OpenCV cannot decode it (pi-heif does) nor write it, so an
# annotated HEIC photo is saved as JPEG
HEIF_SUFFIXES = {".heic", ".heif"}
WRITABLE_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# JPEG under the name browsers save it by: OpenCV reads it (by its bytes) and has no writer by that name, so an
# annotated one is saved as NAME.jfif.jpg, as HEIC is (it was taken for a video, and left out of a folder)
READ_ONLY_IMAGE_SUFFIXES = HEIF_SUFFIXES | {".jfif"}
IMAGE_SUFFIXES = WRITABLE_IMAGE_SUFFIXES | READ_ONLY_IMAGE_SUFFIXES
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}  # written too
# read only: raw H.264/H.265 and MJPEG (a Raspberry Pi camera's), AVCHD (.mts, .m2ts: camcorders), old phones'
# .3gp, DVD .vob, DV, Ogg Theora
PLAYABLE_VIDEO_SUFFIXES = VIDEO_SUFFIXES | {".h264", ".264", ".h265", ".hevc", ".mjpeg", ".mjpg", ".mts", ".m2ts",
                                            ".3gp", ".vob", ".dv", ".ogv"}
# music: FFmpeg opens a song with cover art as a "video" of one picture that announces 90,000 frames a
# second, so these are refused by name (.ogg is left to FFmpeg: it may hold Theora video)
AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".flac", ".wav", ".wma", ".opus", ".oga", ".aif", ".aiff", ".mka", ".amr"}
_TEXT_AS_VIDEO = "ansi"  # the codec of FFmpeg's tty demuxer, which draws a text file (.txt, .nfo) as a terminal would
# a stream address: any "scheme://" (rtsp, http, rtmp, udp, srt, …) goes to FFmpeg, which knows which it plays;
# two letters at least, so C://x stays a Windows path
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]+://"
_ANY_SCHEME = re.compile(_SCHEME)
# rtsp://user:PASSWORD@host/…, to the last "@" before the path, as FFmpeg reads it (a password may hold an "@")
_PASSWORD = re.compile(rf"^({_SCHEME}[^/@:]*:)[^/?#]*@")
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&](?:password|passwd|pass|pwd)=)[^&#]*")  # http://cam/snap?user=a&pwd=…
# a camera's address typed without its scheme: 192.168.1.10:554/live, cam.local:8080, 10.0.0.7/stream
_SCHEMELESS_ADDRESS = re.compile(
    r"(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[\w-]+(\.[\w-]+)*:\d{1,5}"  # 192.168.1.10, camera:554
    r"|(www\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?=/)|www\.\S+|[\w-]+\.local)(/\S*)?")  # host.tld/path
_MISTYPED_SCHEME = re.compile(r"(?i)(rtsps?|rtmps?|https?|srt|udp)(:/?|//?)(?=[^/])(\S+)")  # rtsp//host, http:/host


_USER_AND_PASSWORD = re.compile(r"^([^/@:\s]*:)[^/?#\s]*@")  # admin:s3cret@ at the start of an address's rest


def missing_file_message(spec: str) -> str:
    """What to say of a file ``spec`` that is not there: "file not found", or the stream address it may have meant."""
    return _address_hint(spec) or f"file not found: {_masked_path(spec)}"


def _masked_path(spec: str) -> str:
    """A missing "file" that reads as an address with a password (``admin:s3cret@cam/live``), the password masked."""
    return _USER_AND_PASSWORD.sub(r"\1***@", spec) if "@" in spec and "/" in spec.partition("@")[2] else spec


def _address_hint(spec: str) -> str | None:
    """For a file that is not there: what to write if ``spec`` was meant as a stream's address (its password, if
    it holds one, masked: a mistyped ``rtsp//admin:s3cret@…`` showed it in both the name and the suggestion)."""
    mistyped = _MISTYPED_SCHEME.fullmatch(spec)
    if mistyped:
        rest = _PASSWORD_PARAMETER.sub(r"\1***", _USER_AND_PASSWORD.sub(r"\1***@", mistyped[3]))
        return f"{mistyped[1]}{mistyped[2]}{rest} is not a file here; did you mean {mistyped[1]}://{rest}?"
    if _SCHEMELESS_ADDRESS.fullmatch(spec):
        return (f"{spec} is not a file here; for a network camera or stream, write the address with its scheme, "
                f"such as rtsp://{spec} or http://{spec}")
    return None
DEFAULT_FPS = 30.0

# Windows: OpenCV's Media Foundation backend negotiates hardware colour transforms for every mode a
# webcam offers before it opens, which takes seconds to minutes on many laptop cameras (and again
# for each resolution asked for); without them a camera opens at once (opencv/opencv#17687). Read
# when a camera opens; a value the user set wins.
if sys.platform == "win32":
    os.environ.setdefault("OPENCV_VIDEOIO_MSMF_ENABLE_HW_TRANSFORMS", "0")


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before reading it."""

    kind: str  # "video", "images", "camera" or "url"
    name: str
    fps: float  # frames per second to play or record at
    frame_count: int | None  # None for live sources
    width: int
    height: int
    # the rate ``frame_count`` is counted at, where it is not ``fps``: a file stating 1000 FPS or more states its
    # time unit (a browser's WebM, whose frames carry their own times), and its count is its duration in that
    # unit (3,801 for 31 frames over 3.8 s). It plays and records at DEFAULT_FPS.
    count_rate: float | None = None
    # its frames are unevenly apart, as their times in an indexed file say (``IndexedVideo``): ``frame_count`` is
    # the frames it holds, and ``fps`` only the rate it is recorded at
    variable_rate: bool = False

    @property
    def is_live(self) -> bool:
        """A camera or a live stream: it sends in real time and never ends. A video file on a web server
        (``https://…/clip.mp4``) is an address with a length, and plays and records like a file."""
        return self.kind == "camera" or (self.kind == "url" and self.frame_count is None)

    def sparser_than_stated(self, frames_read: int, last_frame_ms: float, first_frame_ms: float = 0.0) -> bool:
        """Whether the first ``frames_read`` frames of a file, from ``first_frame_ms`` to ``last_frame_ms``, are
        clearly fewer than their time span at the nominal rate makes (a variable frame rate: 31 frames over
        4.5 s stated as 30 FPS). A copy cut short has its frames at that rate, and so has one whose first
        frames do not decode (cut mid-stream): the span starts at the first frame that did. Never for an indexed
        file (``variable_rate``): its count is the frames it holds, so any it lacks were lost to damage."""
        if self.variable_rate:
            return False
        return fewer_than_their_span(frames_read, last_frame_ms - first_frame_ms, self.fps)

    def has_variable_rate(self, frames_read: int, last_frame_ms: float, first_frame_ms: float = 0.0) -> bool:
        """Whether a file that gave fewer frames than it announced is whole, its frames further apart than its
        nominal rate: MKV and WebM announce their duration times that rate, so a browser's or OBS's recording
        holds fewer. Both must hold: its last frame is at the end of that duration (a cut copy stops early in
        time), and its frames are clearly fewer than their time span at the nominal rate makes (a cut copy's
        frames come at that rate: 283 frames over 9.4 s at 30 FPS is a copy cut at 94 %)."""
        return (bool(self.frame_count) and self.sparser_than_stated(frames_read, last_frame_ms, first_frame_ms)
                and self.reached_its_end(last_frame_ms))

    def reached_its_end(self, last_frame_ms: float) -> bool:
        """Whether a file's frame at ``last_frame_ms`` is at the end of the duration its frame count states: its
        last, as far as its header knows (a copy cut short stops earlier). A variable-rate file's last frame
        may last a while: up to a second short of the end is its end. Unknown (False) for an indexed file, whose
        count is not its duration at any rate."""
        if not self.frame_count or self.fps <= 0 or self.variable_rate:
            return False
        duration_ms = 1000.0 * self.frame_count / (self.count_rate or self.fps)
        return last_frame_ms >= duration_ms - max(3000.0 / self.fps, 1000.0)


def read_image(path: str | Path, *, upright: bool = True) -> np.ndarray:
    """Read an image file (any path, including non-ASCII) as BGR uint8, or raise ``SourceError``.

    ``upright``: turned as its EXIF orientation says. Phones store a portrait photo as landscape
    pixels plus that tag, and every viewer shows it turned; read sideways, its people lie on
    their side and are missed. ``upright=False`` gives the stored pixels, for annotations made on them.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if Path(path).suffix.lower() in HEIF_SUFFIXES:
        image = _decode_heif(data, Path(path).name)
    else:  # not IMREAD_UNCHANGED: that one never applies the orientation. Alpha is dropped either way.
        flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR | (0 if upright else cv2.IMREAD_IGNORE_ORIENTATION)
        image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise SourceError(f"{Path(path).name} is not a readable image")
    # 16-bit (10- or 12-bit values too), grayscale and RGBA files become what drawing and encoding expect
    return as_bgr_uint8(picture_to_8_bits(image))


def _decode_heif(data: np.ndarray, name: str) -> np.ndarray | None:
    """A HEIC/HEIF photo as BGR, through pi-heif (libheif), which also turns it upright; None if it does not decode."""
    try:
        import pi_heif
    except ImportError:  # a dependency, but an install can lack it
        raise SourceError(f"{name} is a HEIC photo, and reading HEIC needs the pi-heif package "
                          "(pip install pi-heif)") from None
    try:
        heif = pi_heif.open_heif(io.BytesIO(data.tobytes()), convert_hdr_to_8bit=True, bgr_mode=True)
        # a copy, made while ``heif`` lives: np.asarray would only view pi-heif's buffer, which is freed with
        # the HeifFile, and the picture would turn into whatever is allocated there next
        return np.array(heif, copy=True)
    except (ValueError, RuntimeError, OSError):  # pi-heif's "Invalid input: …" for damaged or truncated files
        return None


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are one file or folder, however spelled (links, case, ``..``), also through a
    folder not made yet: ``logs/../clip.avi`` is ``clip.avi`` (the OS finds no ``logs`` to go up from, so it
    was not the source, until the writer made ``logs`` and wrote over the source).

    Why: writing an output over the input it is made from destroys the input before
    it is read, so every writer checks its target against its source with this.
    """
    try:
        real_a, real_b = os.path.realpath(a), os.path.realpath(b)  # links that exist followed, then ".." dropped
        return real_a == real_b or os.path.samefile(real_a, real_b)
    except (OSError, ValueError):  # either one missing (nothing to destroy), or a name the OS refuses
        return False


def opencv_path(path: str | Path) -> str:
    """The name to hand OpenCV for an existing file: on Windows, its short (8.3) name when the
    path holds characters outside ASCII; elsewhere the path itself.

    Why: OpenCV's Python bindings give file names to Windows' narrow-character file API, so
    ``C:\\Users\\José\\clip.mp4`` is not found, or written under a garbled name
    (opencv/opencv#4242). The short name of the same file is plain ASCII wherever the volume
    keeps short names, as the system drive does by default.
    """
    text = str(path)
    if sys.platform != "win32" or text.isascii():
        return text
    short = _windows_short_path(text)
    return short if short and short.isascii() else text


def opencv_cannot_name(path: str | Path) -> bool:
    """True on Windows for a path OpenCV cannot be given at all: not ASCII, and no ASCII short name."""
    return sys.platform == "win32" and not opencv_path(path).isascii()


def _windows_short_path(text: str) -> str | None:
    try:
        import ctypes

        buffer = ctypes.create_unicode_buffer(32768)
        length = ctypes.windll.kernel32.GetShortPathNameW(text, buffer, len(buffer))
    except (AttributeError, OSError):  # not Windows, or a name the call refuses
        return None
    return buffer.value if 0 < length < len(buffer) else None


def shown_address(spec: str) -> str:
    """``spec`` fit to show on screen or in a log: a stream address's password is masked.

    Network cameras take their password in the address (rtsp://admin:secret@192.168.1.10/live);
    it should not end up in a screenshot, a screen share or a CI log.
    """
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1***@", spec))


def local_path_of(spec: str) -> str:
    """A ``file://`` address as the local path it names (``file:///home/me/My%20Clip.mp4`` ->
    ``/home/me/My Clip.mp4``); any other source unchanged.

    Why: file managers and browsers copy a file's location as such an address. Played as a
    stream, the file could not pause or seek, would be recorded by the wall clock, and an
    output written over it would not be recognised as the source.
    """
    if spec[:7].lower() != "file://":
        return spec
    parts = urlsplit(spec)
    host = "" if parts.netloc.lower() in ("", "localhost") else parts.netloc
    if host and sys.platform != "win32":
        raise SourceError(f"{shown_address(spec)} names a file on the machine {host}; open it from a folder "
                          "mounted here instead")
    if not parts.path.strip("/"):
        raise SourceError(f"{spec} names no file")
    try:
        return url2pathname(f"//{host}{parts.path}" if host else parts.path)  # Windows: file://server/share -> UNC
    except OSError:  # Windows: a drive that is not a letter (file:///1:/x), or a second colon
        raise SourceError(f"{spec} is not a file address this system understands") from None


def is_stream_address(spec: str) -> bool:
    """True for a ``scheme://`` address that FFmpeg opens (rtsp, http, …; not ``file://``). Touches no disk."""
    return spec[:7].lower() != "file://" and bool(_ANY_SCHEME.match(spec))


def is_camera_index(spec: str) -> bool:
    """A camera's number as typed: a few ASCII digits ("²" is a digit to ``isdigit`` and not to ``int``, and
    99999999999999999999 overflowed OpenCV: both are names of files)."""
    return spec.isascii() and spec.isdigit() and len(spec) <= 4


def classify_source(spec: str, *, look_at_disk: bool = True) -> str:
    """"camera" for an integer index, "url" for a stream address, else "images" or "video" by the path.

    ``look_at_disk=False``: by the name alone, so a folder counts as "video". For the GUI thread,
    which must not wait on a disk that does not answer (a network share gone offline).
    """
    spec = local_path_of(spec)
    if is_camera_index(spec):
        return "camera"
    if is_stream_address(spec):
        return "url"
    if Path(spec).suffix.lower() in IMAGE_SUFFIXES or (look_at_disk and os.path.isdir(spec)):
        return "images"  # isdir is False, not an error, for a share that does not answer: opening will say why
    if (look_at_disk and not Path(spec).suffix and os.path.isfile(spec) and cv2.haveImageReader(spec)
            and not _reads_a_second_frame(spec)):
        return "images"  # a photo saved without a suffix: OpenCV knows it by its first bytes (it was a 1-frame video)
    return "video"


def _reads_a_second_frame(path: str) -> bool:
    """A raw MJPEG stream (JPEGs one after another, as IP cameras and ``ffmpeg -f mjpeg`` write them) starts
    with a photo's bytes: it is a video if a second frame follows."""
    capture = cv2.VideoCapture(opencv_path(Path(path)))
    try:
        return capture.isOpened() and capture.grab() and capture.grab()
    finally:
        capture.release()


def _check_readable(path: Path) -> None:
    """A file the user may not read failed in OpenCV as "damaged, or in a format it cannot decode"."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        raise SourceError(f"cannot read {path.name}: permission denied") from None
    except OSError:
        pass  # OpenCV tries it, and says what it can


def open_capture(spec: str, *, open_timeout_ms: int = 5000, read_timeout_ms: int = 5000,
                 camera_mode: CameraMode | None = None) -> cv2.VideoCapture | StillImage | IndexedVideo:
    """Open a video file, camera index or URL with OpenCV, with timeouts for network streams; a photo
    as a ``StillImage``; a variable-frame-rate file as an ``IndexedVideo`` (exact count and seeks).

    ``camera_mode``: the resolution and rate to ask a camera for (else its driver's default).
    """
    spec = local_path_of(spec)
    if not spec.strip():  # read as the folder "." it said " is a folder, not a video file"
        raise SourceError("the source is empty: give a video file, an image or folder of images, a camera number "
                          "(0) or a stream address")
    if spec == "-":
        raise SourceError("reading video from standard input (-) is not supported: give a file, a camera number "
                          "or a stream address")
    kind = classify_source(spec)
    if kind == "camera":
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            as_file = f"; for the file named {spec} here, write ./{spec}" if os.path.isfile(spec) else ""
            raise SourceError(f"camera {spec} is not available (unplugged, busy, or no permission){as_file}")
        if camera_mode is not None:
            ask_for_mode(cap, camera_mode)
        return cap
    if kind == "url":
        _refuse_audio(shown_address(spec), PurePosixPath(urlsplit(spec).path).suffix)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_timeout_ms]
        started = time.monotonic()
        cap = cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
        _refuse_text(cap, shown_address(spec))
        if not cap.isOpened():  # a refusal comes at once: "no answer within 5 s" after 0.3 s misled
            waited_out = time.monotonic() - started >= 0.8 * open_timeout_ms / 1000
            why = f"no answer within {open_timeout_ms / 1000:.0f} s" if waited_out else "refused, or no such address"
            raise SourceError(f"cannot connect to {shown_address(spec)} ({why}, or not a stream)")
        return cap
    path = Path(spec)
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):
        raise SourceError(missing_file_message(spec)) from None
    except OSError as exc:  # "Host is down", "Stale file handle": a network folder gone offline
        raise SourceError(f"cannot reach {spec}: {exc.strerror or exc} (is its network folder offline?)") from None
    if stat.S_ISDIR(status.st_mode):
        # (it said "not a video file" of a folder of photos, while a photo opens too)
        raise SourceError(f"{path.name or spec} is a folder: open a video or a photo in it")  # no name: ".", "/"
    if stat.S_ISFIFO(status.st_mode) or stat.S_ISSOCK(status.st_mode):  # /dev/stdin from `cat x |`, a mkfifo:
        # each opening (to classify, count, seek) takes frames away, and one with no writer waits for ever
        raise SourceError(f"{path.name} is a pipe: a video is opened more than once (to count its frames and to "
                          "seek), which a pipe cannot give; save it to a file, or serve it as a stream (rtsp://, http://)")
    if stat.S_ISREG(status.st_mode) and status.st_size == 0:
        raise SourceError(f"{path.name} is empty")
    if stat.S_ISREG(status.st_mode):
        _check_readable(path)
    if kind == "images":  # by its suffix, or a photo saved without one (known by its first bytes)
        return StillImage(path)
    _refuse_audio(path.name, path.suffix)
    cap = cv2.VideoCapture(opencv_path(path))
    _refuse_text(cap, path.name)
    if not cap.isOpened():
        if opencv_cannot_name(path):
            raise SourceError(f"{path.name}: OpenCV on Windows cannot open a file whose path has characters outside "
                              "ASCII (opencv/opencv#4242); copy or move it to a folder and name in plain ASCII")
        if _holds_only_sound(path):
            raise SourceError(_audio_message(path.name))
        raise SourceError(f"{path.name} is not a video LiveDet can play (damaged, or in a format it cannot decode)")
    indexed = open_variable_rate(path, cap)  # a browser's or screen recorder's file: counted and sought by its frames
    if indexed is not None:
        cap.release()
        return indexed
    return cap


def _refuse_audio(name: str, suffix: str) -> None:
    if suffix.lower() in AUDIO_SUFFIXES:
        raise SourceError(_audio_message(name))


def _audio_message(name: str) -> str:
    return f"{name} is an audio file: LiveDet finds objects in videos, photos and cameras"


def _holds_only_sound(path: Path) -> bool:
    """The file has audio streams and no video: an Ogg Vorbis song, a voice memo or music saved as .mp4 or .webm.

    Why: such names are shared with videos, so only the streams inside tell; asked only after
    OpenCV failed, to say why. PyAV (a dependency, for H.264 recording) reads the container.
    """
    try:
        import av

        with av.open(str(path)) as container:
            return bool(container.streams.audio) and not container.streams.video
    except Exception:  # noqa: BLE001 - not readable as a container at all: the caller's own message stands
        return False


def _refuse_text(cap: cv2.VideoCapture, name: str) -> None:
    """A text file FFmpeg opened as a video of its characters is refused (and released)."""
    if cap.isOpened() and _codec_of(cap) == _TEXT_AS_VIDEO:
        cap.release()
        raise SourceError(f"{name} is a text file, not a video")


def _codec_of(cap: cv2.VideoCapture) -> str:
    """The four-character code of the stream ``cap`` decodes ("h264", "MP43", "ansi"), "" when unknown."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    return code.to_bytes(4, "little").decode("latin-1").strip("\0 ") if code not in (0, 0xFFFFFFFF) else ""


def _matroska_picture_span_s(video) -> float | None:
    """A Matroska video stream's own span, from the DURATION tag FFmpeg and mkvmerge write per stream (Matroska has
    no other length for a stream alone): FFmpeg's is the stream's end time, less its start here; mkvmerge's, with
    its other _STATISTICS tags, the span itself. Without it, an MKV whose sound outlasts its picture was counted by
    the sound: "decoded 150 of the 241 frames (… damaged file?)"."""
    tags = {str(key).upper(): str(value) for key, value in video.metadata.items()}
    parts = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tags.get("DURATION", "").strip())
    if parts is None:
        return None
    stated_s = int(parts[1]) * 3600 + int(parts[2]) * 60 + float(parts[3])
    if any(key.startswith("_STATISTICS") for key in tags):  # mkvmerge's: already a span (last - first)
        return stated_s or None
    start_s = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    return stated_s - start_s if stated_s > start_s else None  # FFmpeg's: the stream's end time


def frames_the_container_holds(path: str | Path, rate: float) -> int | None:
    """The frames a video file's container says it plays, at ``rate``, from its duration (None if unknown).

    Why: OpenCV's count is wrong for some kinds of whole file, which were then called damaged.
    An MP4 cut without re-encoding (``ffmpeg -ss … -c copy``) stores frames from the keyframe
    before the cut and an edit list that skips them: OpenCV counts them all (40 for the 31
    played). An MKV cut from a stream keeps its times, starting at 3600 s: its duration counts
    from 0 (108,060 frames for 60). An MPEG-TS recording whose sound starts before its picture
    or outlasts it is counted by its sound (338 for 300), and so is such an MKV. FFmpeg, read through PyAV, knows
    all.
    """
    try:
        import av

        with av.open(str(path)) as container:
            duration_s = container.duration / 1e6 if container.duration else None
            start_s = (container.start_time or 0) / 1e6
            formats = set(container.format.name.split(","))
            video = container.streams.video[0] if container.streams.video else None
            picture_s = float(video.duration * video.time_base) if video is not None and video.duration else None
            if picture_s is None and video is not None and "matroska" in container.format.name:
                picture_s = _matroska_picture_span_s(video)
    except Exception:  # noqa: BLE001 - PyAV missing, or a file only OpenCV reads: its count stands
        return None
    if not formats & {"mov", "matroska", "mpegts"}:
        return None
    if picture_s:  # the picture's own duration: a TV recording's sound may start 1.5 s before it
        return round(picture_s * rate)
    if not duration_s:
        return None
    # Matroska's duration counts from 0; MP4's from its first frame (one starting at 1 s, or B-frames' delay)
    span_s = duration_s - start_s if "matroska" in formats and duration_s > start_s else duration_s
    return round(span_s * rate)


HIGH_SPEED_FPS_MAX = 10_000  # past this a stated rate is a time unit whatever the container (a phone's slow motion: 960)


def _rate_is_a_time_unit(fps: float, path_or_name: str | Path) -> bool:
    """Whether a stated rate of 1000 or more is the container's clock rather than frames a second: a browser's
    or OBS's WebM and MKV state their time unit (1000 a second) as the rate. An AVI at 1000 FPS is a high-speed
    camera's: read as a time unit, 200 frames became 0.2 s of video, 7 frames at 30 FPS, without a word."""
    name = str(path_or_name)
    if "://" in name:  # a signed link's query is no part of its suffix: clip.webm?X-Amz-Signature=…
        name = urllib.parse.urlsplit(name).path
    return fps > HIGH_SPEED_FPS_MAX or Path(name).suffix.lower() in MATROSKA_SUFFIXES


def capture_info(cap: cv2.VideoCapture, kind: str, name: str, path: str | Path | None = None) -> SourceInfo:
    """What OpenCV says of an opened source; ``path``: a video file's, whose frame count its container checks."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    indexed = isinstance(cap, IndexedVideo)  # counted frame by frame
    if kind == "video" and path is not None and count > 1 and not indexed:
        held = frames_the_container_holds(path, fps if fps > 0 else DEFAULT_FPS)
        if held is not None and 0 < held < count - 2:  # only ever clearly fewer: a duration is rounded
            count = held
    time_unit = fps >= 1000 and _rate_is_a_time_unit(fps, path or name)
    return SourceInfo(
        kind=kind,
        name=name,
        fps=fps if fps > 0 and not time_unit else DEFAULT_FPS,
        frame_count=count if kind in ("video", "url", "image") and 0 < count < 2**31 else None,  # live: <= 0
        count_rate=fps if time_unit and not indexed else None,
        variable_rate=indexed,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )


class StillImage:
    """One photo behind ``cv2.VideoCapture``'s interface: a video of one frame.

    Why: the app's capture thread plays anything ``open_capture`` returns, and a photo read by
    ``read_image`` comes out upright (EXIF) and decodes HEIC, which OpenCV's own image reader
    in ``VideoCapture`` does neither of.
    """

    def __init__(self, path: Path) -> None:
        self._image = read_image(path)
        self._given = False  # the one frame has been read

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._given:
            return False, None
        self._given = True
        return True, self._image.copy()

    def grab(self) -> bool:
        return self.read()[0]

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self._given = int(value) >= 1
            return True
        return False

    def get(self, prop: int) -> float:
        height, width = self._image.shape[:2]
        return {cv2.CAP_PROP_FPS: DEFAULT_FPS, cv2.CAP_PROP_FRAME_COUNT: 1.0, cv2.CAP_PROP_FRAME_WIDTH: float(width),
                cv2.CAP_PROP_FRAME_HEIGHT: float(height)}.get(prop, 0.0)

    def release(self) -> None:
        pass


def natural_order(path: Path) -> tuple:
    """How a file manager orders names: img2 before img10, IMG3 between img2 and img4 (ASCII digits only:
    "1²2" holds a "²" that int() refuses)."""
    parts = re.split(r"([0-9]+)", path.name.casefold())
    return tuple((0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part) for part in parts)


def images_in(folder: Path) -> list[Path]:
    """A folder's photos in natural order, hidden files left out: a macOS drive holds a "._NAME.jpg" beside each
    photo (read as one more image that fails), and 1.jpg … 100.jpg made into a video played 1, 10, 100, 11, …"""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                   and p.is_file()), key=natural_order)


def _videos_and_folders(folder: Path) -> tuple[list[str], list[str]]:
    """The names of a folder's videos and of its sub-folders (hidden ones left out), sorted."""
    entries = sorted(folder.iterdir())
    videos = [p.name for p in entries if p.suffix.lower() in PLAYABLE_VIDEO_SUFFIXES and p.is_file()]
    return videos, [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]


def _what_else_is_in(folder: Path) -> str:
    """A hint for a folder with no images: the videos and sub-folders the user may have meant (a folder holding
    a clip and a folder of photos named only the clip)."""
    videos, folders = _videos_and_folders(folder)
    hints = []
    if videos:
        hints.append(f"it holds {len(videos)} video{'s' if len(videos) > 1 else ''}, such as {videos[0]}: "
                     "give one video file as the source")
    if folders:
        hints.append(f"sub-folders such as {folders[0]} are not searched: give the one that holds the images")
    return f" ({'; '.join(hints)})" if hints else ""


def _not_read_in(folder: Path) -> str:
    """What a folder of images also holds that is not read: its videos and sub-folders ("" for nothing), so
    that a folder of photos with a clip or an album inside does not come out short without a word."""
    videos, folders = _videos_and_folders(folder)
    parts = [f"{len(names)} {kind}{'s' if len(names) > 1 else ''} ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
             for kind, names in (("video", videos), ("sub-folder", folders)) if names]
    return " and ".join(parts)


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
        self.spec = local_path_of(str(spec))
        self.kind = classify_source(self.spec)
        if camera_mode is not None and self.kind != "camera":
            raise SourceError(f"a camera mode applies to a camera index, not to {self.kind} source "
                              f"{shown_address(self.spec)}")
        self._cap: cv2.VideoCapture | None = None
        self._reading = threading.Lock()  # held while a frame is read: closing then would free what the read uses
        self._close_asked = False  # a close that found a read under way: that read lets the device go when it returns
        self._first_frame: np.ndarray | None = None  # read while opening, not yet given
        self._images: list[Path] = []
        self._on_skip = on_skip
        self.skipped: list[str] = []  # names of the images in a folder that could not be read
        self.last_frame_ms = 0.0  # a video's last frame read: its time in the file
        self.first_frame_ms = 0.0  # and its first decoded frame's (later than 0 when its first frames do not decode)
        self.not_read = ""  # a folder's videos and sub-folders, which are not read: said, as a skipped image is
        if self.kind == "images":
            path = Path(self.spec)
            if not path.exists():
                raise SourceError(f"not found: {self.spec}")
            if path.is_file():
                self._images = [path]
                first = read_image(path)  # a single image that does not read is the error itself
            else:
                self._images = images_in(path)
                if not self._images:
                    raise SourceError(f"no images in {self.spec}{_what_else_is_in(path)}")
                self.not_read = _not_read_in(path)
                first = self._first_readable()
            self.info = SourceInfo("images", path.name, DEFAULT_FPS, len(self._images), first.shape[1], first.shape[0])
        else:
            self._cap = open_capture(self.spec, camera_mode=camera_mode)
            is_file = self.kind == "video"
            self.info = capture_info(self._cap, self.kind, Path(self.spec).name if is_file else shown_address(self.spec),
                                     self.spec if is_file else None)
            if self.kind == "video":
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    self._cap.release()
                    raise SourceError(f"{Path(self.spec).name} holds no decodable frames")
                self.last_frame_ms = self.first_frame_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                # kept for __iter__, not read again: seeking back to frame 0 loses frames in files without
                # an index (raw H.264 from a Raspberry Pi camera: all of them; MPEG-TS: a quarter)
                self._first_frame = frame

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
        cap = self._cap
        assert cap is not None
        index = 0
        while True:
            frame, self._first_frame = self._first_frame, None
            if frame is None:
                with self._reading:
                    if self._cap is None or self._close_asked:  # closed meanwhile
                        self._release()
                        break
                    ok, frame = cap.read()
                    if self._close_asked:
                        self._release()
                        break
                    if ok and frame is not None:
                        self.last_frame_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                if not ok or frame is None:
                    break
            yield index, frame, f"{self.info.name}:{index}"
            index += 1

    def close(self, wait_s: float | None = None) -> None:
        """Let the file or device go. A read still blocked on another thread (a stream gone silent, when Ctrl-C
        ends the run) keeps it until it returns: releasing it under that read could crash the process before its
        summary. ``wait_s``: how long that read is given first (``CLOSE_WAIT_S``; 0 for one known to be stuck)."""
        if self._cap is None:
            return
        if not self._reading.acquire(timeout=CLOSE_WAIT_S if wait_s is None else wait_s):
            self._close_asked = True  # let go by that read if it ever returns (else with the ending process)
            return
        try:
            self._release()
        finally:
            self._reading.release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
