"""Where ``predict`` puts its results: an annotated video, a folder of annotated images, a JSONL file.

Each writer opens (and so fails) before the first frame is processed, and
turns OS errors into ``OutputError``s with the path in the message.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .annotate import draw_detections
from .atomic_write import written_whole
from .errors import OutputError
from .live_clock import HOLD_BYTES, MAX_COPIES, FileClock, LiveClock, recording_fps, settled_rate
from .progress import say
from .types import Detections
from .video import (
    HEIF_SUFFIXES,
    IMAGE_SUFFIXES,
    READ_ONLY_IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    WRITABLE_IMAGE_SUFFIXES,
    SourceInfo,
    same_file,
)
from .video_writer import VideoWriter, fit_frame, fit_placement


class FrameWriter(Protocol):
    path: Path

    def write(self, frame: np.ndarray, name: str) -> None: ...

    def close(self) -> None: ...


def _prove_writable(folder: Path) -> None:
    """Make and remove a file in ``folder``: ``os.access`` lies for root."""
    probe = folder / f".livedet-write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be made in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _prove_writable(folder)
    except OSError as exc:
        raise OutputError(f"cannot write to folder {folder}: {folder_problem(folder, exc)}") from None


def check_folder_can_be_made(folder: Path, *, refusal: str = "") -> None:
    """``check_writable_folder`` without making anything: a command refused later (a mistyped dataset) leaves
    no empty folder behind. The nearest existing folder above ``folder`` must take a file. ``refusal``: how the
    message begins (default "cannot write to folder FOLDER")."""
    refusal = refusal or f"cannot write to folder {folder}"
    existing = next((part for part in (folder, *folder.parents) if part.exists()), Path("."))
    if not existing.is_dir():
        raise OutputError(f"{refusal}: {existing} is a file, not a folder")
    try:
        _prove_writable(existing)
    except OSError as exc:
        raise OutputError(f"{refusal}: {exc.strerror or exc}") from None


def folder_problem(folder: Path, exc: OSError) -> str:
    """Why a folder cannot be made: mkdir's "File exists" when a file has the folder's name read as if the
    output existed; say which file is in the way."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for part in (folder, *folder.parents):
            if part.exists() and not part.is_dir():  # a file, or a device such as /dev/full
                return f"{part} is a file, not a folder"
    return exc.strerror or str(exc)


class AnnotatedVideo:
    """Annotated frames into one video file (the frame size is fixed by the first frame's source).

    ``by_file_time``: the frames come from a video file with their times in it, and are written by
    them (see ``FileClock``), one frame held back until the next one's time says how long it lasts.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], source: Path | None = None, *,
                 by_file_time: bool = False) -> None:
        check_writable_folder(path.parent if str(path.parent) else Path("."))
        self._writer = VideoWriter(path, fps, size, protect=source)  # never over the source, fallback included
        self.path, self.size, self.fps = self._writer.path, size, fps
        self._clock = FileClock(fps) if by_file_time else None
        self._held: np.ndarray | None = None  # the last frame written by file time, until the next one comes

    @property
    def seconds(self) -> float:
        """How long the video plays, the frame held back included."""
        return (self._writer.frames_written + (self._held is not None)) / self.fps

    def write(self, frame: np.ndarray, name: str) -> None:
        self._writer.write(frame)

    def write_detected(self, frame: np.ndarray, detections: Detections, at: tuple[int, float] | None = None) -> None:
        """``frame`` with its boxes drawn once it is at the video's size: a photo of another size (a folder
        made into a video) had its tags drawn at its own size, then shrunk with it to a few pixels.

        ``at``: the frame's (index, seconds) in its file, for a video written by file time."""
        height, width = frame.shape[:2]
        if (width, height) != self.size:
            scale, left, top, _, _ = fit_placement((width, height), self.size)
            frame = fit_frame(frame, self.size)
            boxes = detections.boxes * scale + np.array([left, top, left, top], np.float32)
            detections = replace(detections, boxes=boxes.astype(np.float32))
        drawn = draw_detections(frame, detections)
        if self._clock is None or at is None:
            self._writer.write(drawn)
            return
        copies = self._clock.copies_before(*at)
        for _ in range(copies if self._held is not None else 0):
            self._writer.write(self._held)
        self._held = drawn

    def close(self) -> None:
        held, self._held = self._held, None
        try:
            if held is not None:  # the last frame: nothing comes after it to say how long it lasts
                self._writer.write(held)
        finally:
            self._writer.close()




class LiveVideo:
    """A camera's or stream's annotated frames, written by the clock (see ``live_clock``).

    Its stated FPS can be wrong, so the frames of the first ``probe_s`` seconds (or of
    ``hold_bytes``, whichever comes first) are held while the rate it really sends is
    measured (over the held span's second half: a network stream first hands over what
    FFmpeg buffered while connecting); then the file opens at that rate and every frame
    is written as many times as the clock says.
    """

    def __init__(self, path: Path, stated_fps: float, size: tuple[int, int], probe_s: float = 2.0,
                 hold_bytes: int = HOLD_BYTES) -> None:
        check_writable_folder(path.parent if str(path.parent) else Path("."))
        self.path, self.size, self.stated_fps, self.probe_s = path, size, stated_fps, probe_s
        self.hold_bytes = hold_bytes
        self._writer: VideoWriter | None = None
        self._clock: LiveClock | None = None
        self._held: list[tuple[np.ndarray, float]] = []  # (frame, capture time) until the rate is known
        self._held_bytes = 0

    def write(self, frame: np.ndarray, name: str) -> None:
        self.write_at(frame, time.perf_counter())

    def write_at(self, frame: np.ndarray, captured_s: float) -> None:
        """``frame``, captured at ``captured_s`` (``time.perf_counter()`` seconds)."""
        if self._writer is None:
            self._held.append((frame, captured_s))
            self._held_bytes += frame.nbytes
            if captured_s - self._held[0][1] >= self.probe_s or self._held_bytes >= self.hold_bytes:
                self._open()
            return
        self._write_by_clock(frame, captured_s)

    def _open(self) -> None:
        held, self._held, self._held_bytes = self._held, [], 0
        fps = recording_fps(self.stated_fps, settled_rate([captured_s for _, captured_s in held]))
        self._writer = VideoWriter(self.path, fps, self.size)
        self.path, self._clock = self._writer.path, LiveClock(fps)
        for frame, captured_s in held:
            self._write_by_clock(frame, captured_s)

    def _write_by_clock(self, frame: np.ndarray, captured_s: float) -> None:
        assert self._writer is not None and self._clock is not None
        for _ in range(min(self._clock.copies(captured_s), MAX_COPIES)):
            self._writer.write(frame)

    def close(self) -> None:
        if self._writer is None and self._held:  # ended before the rate was measured: the rate of what came
            self._open()
        if self._writer is not None:
            self._writer.close()


class AnnotatedImages:
    """Annotated frames as image files named like their sources, in a folder or as one file."""

    def __init__(self, path: Path, *, single_file: bool = False) -> None:
        self.path = path
        self.single_file = single_file
        check_writable_folder(path.parent if single_file else path)

    def write(self, frame: np.ndarray, name: str) -> None:
        target = self.path if self.single_file else self.path / Path(name).name
        if target.suffix.lower() not in WRITABLE_IMAGE_SUFFIXES:  # HEIC is read only: IMG_1.HEIC -> IMG_1.HEIC.jpg,
            target = target.with_name(target.name + ".jpg")  # which never clashes with an IMG_1.jpg source
        ok, data = cv2.imencode(target.suffix.lower(), frame)
        if not ok:
            raise OutputError(f"could not encode {target.name}")
        try:  # whole or not at all: on a full disk a cut JPEG under its real name still opened, its bottom grey
            with written_whole(target) as part, open(part, "wb") as file:  # (cv2.imwrite: no non-ASCII paths)
                file.write(data.tobytes())
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
            raise OutputError(f"cannot write {target}: " + ("disk full: no space left on the device" if full
                                                            else str(exc.strerror or exc))) from None

    def close(self) -> None:
        pass


def refuse_writing_over_inputs(source: Path | None, output: Path | None, jsonl: Path | None) -> None:
    """Stop, before anything is opened, an output that would destroy the source or the other output.

    ``source`` is None for a camera or stream. Annotated images keep their names, so a
    folder ``--output`` must not be the folder the source images are in.
    """
    images_folder = None
    if source is not None:
        images_folder = source if source.is_dir() else source.parent if source.suffix.lower() in IMAGE_SUFFIXES else None
    output_folder = output if output is not None and output.suffix.lower() not in VIDEO_SUFFIXES | IMAGE_SUFFIXES else None
    if source is not None and output is not None:
        if images_folder is not None and output_folder is not None and same_file(output_folder, images_folder):
            raise OutputError(f"--output {output} is the folder the source images are in; annotated images keep "
                              "their names and would overwrite the originals (choose another folder)")
        if same_file(output, source):
            raise OutputError(f"--output {output} is the source itself; writing it would destroy the original "
                              "(choose another name)")
    if source is not None and jsonl is not None and same_file(jsonl, source):
        raise OutputError(f"--jsonl {jsonl} is the source itself; writing it would destroy the original "
                          "(choose another name)")
    if images_folder is not None and jsonl is not None:
        if jsonl.suffix.lower() in IMAGE_SUFFIXES and same_file(jsonl.parent, images_folder):
            raise OutputError(f"--jsonl {jsonl} is named as an image in the folder being read; writing it would "
                              "destroy that image (choose a .jsonl name)")
        into_output = output_folder is not None and (jsonl.parent.absolute() == output_folder.absolute()
                                                     or same_file(jsonl.parent, output_folder))
        if into_output and (images_folder / jsonl.name).is_file():
            raise OutputError(f"--jsonl {jsonl} has the name of a source image, and its annotated copy in {output} "
                              "would replace the detections (choose a .jsonl name)")
    if output is not None and jsonl is not None and (output.absolute() == jsonl.absolute() or same_file(output, jsonl)):
        raise OutputError(f"--output and --jsonl are the same file ({output}); give each its own name")


CLOSE_WAIT_S = 2.0  # how long closing the outputs waits for a write under way on the encode thread

# Suffixes of files people ask for that LiveDet does not write: without this, an image source's --output
# one.gif became a folder named one.gif, holding the annotated image, and the run said "-> one.gif".
NOT_A_FOLDER_SUFFIXES = {".gif", ".apng", ".svg", ".pdf", ".txt", ".json", ".jsonl", ".csv", ".tsv", ".zip", ".avif",
                         ".jxl"}


def _refuse_a_blank_after_the_suffix(output: Path) -> None:
    """``--output "clip.mp4 "`` (a space pasted in after the name) wrote a folder named ``clip.mp4 ``."""
    trimmed = output.name.rstrip()
    if trimmed != output.name and not output.is_dir() and (
            Path(trimmed).suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES | NOT_A_FOLDER_SUFFIXES):
        raise OutputError(f"--output '{output.name}' ends with a space after {Path(trimmed).suffix}; "
                          f"did you mean '{trimmed}'?")


def open_frame_writer(output: Path, *, source_kind: str, single_image: bool, fps: float,
                      size: tuple[int, int], source: Path | None = None, live: bool = False) -> FrameWriter:
    """Pick the writer from the ``--output`` suffix.

    A video suffix writes a video (frames of other sizes are fitted inside ``size``; a ``live``
    camera or stream by the clock); for image sources an image suffix writes that one file and no
    suffix writes a folder. ``source``: a video file the writer's fallback must not replace.
    """
    _refuse_a_blank_after_the_suffix(output)
    suffix = output.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        if live:
            return LiveVideo(output, fps, size)
        return AnnotatedVideo(output, fps, size, source=source, by_file_time=source_kind in ("video", "url"))
    if source_kind != "images":
        if output.is_dir():  # said "must be a video file, got po": a folder is a natural thing to give
            example = output / (f"{source.stem}-annotated.mp4" if source else "recording.mp4")
            raise OutputError(f"--output {output} is a folder; for a video source name the video file, such as "
                              f"{example}")
        raise OutputError(f"--output for a video source must be a video file ({', '.join(sorted(VIDEO_SUFFIXES))}), "
                          f"got '{output.name or output}'")  # quoted: 'clip.mp4 ' with a space is not .mp4
    if suffix in READ_ONLY_IMAGE_SUFFIXES:
        kind = "HEIC" if suffix in HEIF_SUFFIXES else suffix[1:].upper()
        raise OutputError(f"--output {output.name}: {kind} is read, not written; name a .jpg or .png file instead")
    if suffix in NOT_A_FOLDER_SUFFIXES and not output.is_dir():  # one.gif was written as a folder of that name
        hint = " (--jsonl writes the detections)" if suffix in (".json", ".jsonl", ".csv", ".tsv") else ""
        raise OutputError(f"--output {output.name}: {suffix[1:].upper()} is not written; name a video file (.mp4), "
                          f"an image (.jpg, .png) or a folder{hint}")
    if suffix in IMAGE_SUFFIXES:
        if not single_image:
            raise OutputError(f"--output {output.name} is one image but the source is a folder; give a folder or a video file")
        return AnnotatedImages(output, single_file=True)
    if (meant := _mistyped_suffix(suffix)) and not output.is_dir():  # res.jpgg became a folder of that name
        raise OutputError(f"--output {output.name}: did you mean {output.with_suffix(meant).name}? (to write into "
                          f"a folder named {output.name}, make it first)")
    return AnnotatedImages(output)


def _mistyped_suffix(suffix: str) -> str | None:
    """The image or video suffix ``suffix`` is a slip of the keyboard for: one letter struck twice (".jpgg",
    ".pnng", ".mp44") or two swapped (".jepg"). Other near names are formats of their own (.avif, .tsv,
    .mjpg) or names chosen on purpose (shots.pngs), and stay folders."""
    for known in sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES):
        doubled = any(suffix == known[:i] + known[i] + known[i:] for i in range(1, len(known)))
        swapped = any(suffix == known[:i] + known[i + 1] + known[i] + known[i + 2:] for i in range(1, len(known) - 1))
        if doubled or swapped:
            return known
    return None


class PredictOutputs:
    """One ``predict`` run's outputs: the annotated frames (``--output``) and the detections log (``--jsonl``).

    Both are opened here, before the first frame, so a bad path fails the run at once. ``write`` runs on
    the encode thread, in frame order. A camera's or stream's video is written by the clock: the decode
    thread notes when each frame was read (``note_read``) and the note is used up when it is written. A
    video file's frames are noted with their time in the file instead: the video is written by those
    times, and the log gives each frame its time (``time_s``).
    """

    def __init__(self, output: Path | None, jsonl: Path | None, *, info: SourceInfo, source: Path | None,
                 single_image: bool) -> None:
        self.frames: FrameWriter | LiveVideo | None = None
        self.jsonl: JsonlWriter | None = None
        self._read_at: dict[int, float] = {}
        self._in_a_file = info.kind in ("video", "url") and not info.is_live  # frames with their own times
        self._writing = threading.Lock()  # held by the encode thread while it writes a frame
        try:
            if jsonl is not None:  # before the video is opened: a refused JSONL path emptied an earlier video
                check_jsonl_path(jsonl)
            if output is not None:
                self.frames = open_frame_writer(output, source_kind=info.kind, single_image=single_image,
                                                fps=info.fps, size=(info.width, info.height), source=source,
                                                live=info.is_live)
            if jsonl is not None:
                self.jsonl = JsonlWriter(jsonl)
        except BaseException:
            self.close()
            raise

    @property
    def by_the_clock(self) -> bool:
        """The video is a camera's or stream's: it needs each frame's read time (``note_read``)."""
        return isinstance(self.frames, LiveVideo)

    @property
    def by_file_time(self) -> bool:
        """The frames are a video file's: the video and the log need each one's time in it (``note_read``)."""
        return self._in_a_file and (self.jsonl is not None or isinstance(self.frames, AnnotatedVideo))

    def note_read(self, index: int, read_s: float) -> None:
        self._read_at[index] = read_s

    def write(self, index: int, name: str, frame: np.ndarray, detections: Detections) -> None:
        with self._writing:
            self._write(index, name, frame, detections)

    def _write(self, index: int, name: str, frame: np.ndarray, detections: Detections) -> None:
        noted_s = self._read_at.pop(index, None)
        file_s = noted_s if self._in_a_file else None
        if self.jsonl is not None:
            self.jsonl.write(index, name, detections, file_s)
        if isinstance(self.frames, LiveVideo):
            assert noted_s is not None
            self.frames.write_at(draw_detections(frame, detections), noted_s)
        elif isinstance(self.frames, AnnotatedVideo):
            self.frames.write_detected(frame, detections, (index, file_s) if file_s is not None else None)
        elif self.frames is not None:
            self.frames.write(draw_detections(frame, detections), name)

    def close(self) -> None:
        """Finish the video, then the log (which is on disk line by line already).

        A write still under way on the encode thread (a disk that stopped answering, when a second Ctrl-C ends
        the run) is waited for a moment, then left as it is: finishing the files under it would wait on that disk
        too, or finalise the video while a frame is being encoded into it.
        """
        if not self._writing.acquire(timeout=CLOSE_WAIT_S):
            say("the outputs are left unfinished: a write to their disk has not returned (an MP4 plays up to "
                "its last whole part)")
            return
        try:
            if self.frames is not None:
                self.frames.close()
        finally:
            try:
                if self.jsonl is not None:
                    self.jsonl.close()
            finally:
                self._writing.release()


def check_jsonl_path(path: Path) -> None:
    """What ``JsonlWriter`` would refuse of ``path``'s folder, said without opening (so emptying) anything. A file
    there already (a log, ``/dev/null``, ``/proc/self/fd/2``) is opened as it is, whatever its folder allows."""
    if not is_standard_output(path) and not path.exists():
        trimmed = path.name.rstrip()
        if trimmed != path.name and Path(trimmed).suffix:  # pasted with a space after it: a log named "dets.jsonl "
            raise OutputError(f"--jsonl '{path.name}' ends with a space after {Path(trimmed).suffix}; "
                              f"did you mean '{trimmed}'?")
        check_folder_can_be_made(path.parent, refusal=f"cannot write {path}")


def is_standard_output(path: Path) -> bool:
    """``--jsonl -`` (as for most tools), ``/dev/stdout`` or ``/proc/self/fd/1``: where standard output writes."""
    if str(path) == "-":  # was a file named "-" in the current folder
        return True
    try:
        target, stdout = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # a stdout with no descriptor (tests)
        return False
    return (target.st_dev, target.st_ino) == (stdout.st_dev, stdout.st_ino)


class JsonlWriter:
    """One JSON object per frame: ``{"frame": i, "source": name, "detections": [...]}``, and a video file's frame's
    time in the file (``"time_s"``: a variable-rate file's frames are unevenly apart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failed = False
        self._to_stdout = is_standard_output(path)
        self._shown_name = "standard output" if self._to_stdout else str(path)  # "cannot write -: Broken pipe"
        if self._to_stdout:  # opened again, it was truncated and written at its own offset, under the summary
            self._file = sys.stdout
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb", buffering=0)  # a line per frame, on disk as written (see _append)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {folder_problem(path.parent, exc)}") from None
        self._whole = 0  # bytes of whole lines in the file

    def write(self, index: int, name: str, detections: Detections, time_s: float | None = None) -> None:
        record = {"frame": index, "source": name, **({"time_s": round(time_s, 3)} if time_s is not None else {}),
                  "detections": detections.to_records()}
        line = json.dumps(record) + "\n"
        try:
            if self._to_stdout:
                self._file.write(line)
                self._file.flush()
            else:
                self._append(line.encode("utf-8"))
        except OSError as exc:
            self._failed = True
            raise OutputError(f"cannot write {self._shown_name}: {exc.strerror or exc}") from None

    def _append(self, data: bytes) -> None:
        """Write one whole line, or none: a disk that fills up mid-line left half a JSON object as the file's last
        line, which a reader of the log chokes on, so what was written of a failed line is cut off again."""
        rest = memoryview(data)
        try:
            while rest:
                rest = rest[self._file.write(rest):]
        except OSError:
            try:
                os.ftruncate(self._file.fileno(), self._whole)
                self._file.seek(self._whole)
            except OSError:
                pass  # the file keeps its last line cut short: nothing more can be done here
            raise
        self._whole += len(data)

    def close(self) -> None:
        """Closes the file even when the line that failed is still buffered (that failure was already said)."""
        try:
            if self._to_stdout:
                self._file.flush()  # the summary follows on the same stream
            else:
                self._file.close()
        except OSError as exc:
            if not self._failed:
                raise OutputError(f"cannot write {self._shown_name}: {exc.strerror or exc}") from None
