"""Writing the annotated video (and optionally the detections) on a thread of its own.

The GUI hands over exactly the frames it displays, one at a time: while the
recorder's single slot is still full, the GUI waits for the next frame
instead of blocking (back-pressure, see ``SessionController``), so a recorded
file has every displayed frame and the GUI never stalls on the encoder.
Stopping, closing, a source error or a write error (a full disk) finalises the
file so it plays; the video file stays playable even if the app is killed (see
``VideoWriter``).
"""

from __future__ import annotations

import csv
import errno
import glob
import itertools
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6.QtCore import QThread, Signal

from detector import Detections, LiveDetError, OutputError
from detector.errors import NameTaken
from detector.unlinked import restore_if_unlinked
from detector.video import VIDEO_SUFFIXES
from detector.video_writer import NOTHING_SAVED, VideoWriter

from .mailbox import Mailbox

log = logging.getLogger(__name__)

DETECTION_FORMATS = ("", "jsonl", "csv")  # "" = video only
LOG_TRIM_WINDOW = 4096  # recent frames whose log rows can be cut: over two minutes at 30 FPS, the video lags ~1 s
RECORDING_SUFFIXES = (".mp4", ".avi", ".jsonl", ".csv")  # what a recording may write: video (.avi fallback), detections
_CLAIMING = threading.Lock()
NAME_TRIES = 100  # NAME, NAME-2 … NAME-100: names taken by other processes between choosing and creating


def make_record_folder(folder: Path) -> None:
    """Create the folder recordings go to (and its parents); OutputError saying why when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:  # "…/a.mp4: File exists" did not say that a.mp4 is a file, not a folder
            raise OutputError(f"cannot create the recording folder {folder}: {blocking} is a file, not a "
                              "folder") from None
        raise OutputError(f"cannot create the recording folder {folder}: {exc.strerror or exc}") from None


def unused_name(folder: Path, stem: str, suffixes: tuple[str, ...], claimed: set[Path]) -> Path:
    """``folder/stem`` or, when a file with one of ``suffixes`` or a claim has it, ``stem-2``, ``stem-3``…

    Why: names go by the second, and a user pressing R, R, R used to get one file, each recording
    overwriting the last. ``claimed`` covers names handed out whose files do not exist yet.
    """
    for n in itertools.count(1):  # endless: some number is always free
        base = folder / (stem if n == 1 else f"{stem}-{n}")
        if any((folder / f"{base.name}{suffix}").exists() for suffix in suffixes):
            continue
        with _CLAIMING:  # snapshots claim on threads of their own; the disk is asked outside the lock
            if base not in claimed:
                claimed.add(base)
                return base


def describe_os_error(exc: OSError, path: Path) -> str:
    """One line for the user: a full disk said as such, anything else with the file it hit."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"disk full: no space left on the device for {path.name}"
    return f"cannot write {path}: {exc.strerror or exc}"


@dataclass(frozen=True)
class RecordingPlan:
    video_path: Path  # requested; an MJPG fallback writes .avi beside it instead
    fps: float  # the source's FPS, so the file plays at the speed it was filmed
    frame_size: tuple[int, int]  # (width, height)
    detections_format: str = ""  # "", "jsonl" or "csv"
    source_video: Path | None = None  # the file being played: never written, not even as the MJPG fallback
    # a name chosen as unused (the app's own, or NAME-2 beside an earlier recording): never written over, and
    # NAME-2, NAME-3… when another process has taken it since (two windows recording in the same second)
    exclusive: bool = False

    @property
    def detections_path(self) -> Path | None:
        return self.video_path.with_suffix(f".{self.detections_format}") if self.detections_format else None

    def numbered(self, n: int) -> "RecordingPlan":
        """The same recording as NAME-n (n >= 2)."""
        return replace(self, video_path=self.video_path.with_name(f"{self.video_path.stem}-{n}{self.video_path.suffix}"))


def _log_of_another_video(plan: RecordingPlan) -> bool:
    """Whether the log ``plan`` would write is an earlier recording's, under the same name with another video
    suffix: ``--record clip.mkv`` after ``clip.avi`` replaced clip.avi's detections log (a recording asked for
    by its name may replace its own video and log, never another's)."""
    log = plan.detections_path
    if log is None or not log.exists():
        return False
    return any(video.stem == log.stem and video.suffix.lower() in VIDEO_SUFFIXES and video != plan.video_path
               and video.is_file() for video in log.parent.glob(f"{glob.escape(log.stem)}.*"))


@dataclass(frozen=True)
class RecordedFrame:
    image: np.ndarray  # the annotated frame as displayed
    source_index: int
    time_s: float  # a file's frame: its time in the file; a camera's or stream's: seconds since it opened
    detections: Detections
    # >1 fills frames a live source dropped, or a variable-rate file's gaps, keeping their timing; 0 leaves out
    # a frame that came sooner than the video's rate (its detections are still logged)
    repeats: int = 1
    model: str = ""  # the model whose detections these are (a switch mid-recording changes the class numbers)


@dataclass(frozen=True)
class RecordingSummary:
    video_path: Path | None  # None when nothing could be opened
    frames_written: int  # frames in the video file, repeats included
    frames_received: int  # displayed frames handed to the recorder
    detections_path: Path | None
    codec: str | None
    error: str | None = None
    restored: bool = False  # its folder was deleted while recording, and made again to save it


class DetectionLog:
    """Detections per recorded frame, as JSON lines or CSV rows beside the video."""

    CSV_FIELDS = ("frame", "source_frame", "time_s", "class_id", "label", "score", "x1", "y1", "x2", "y2", "model")

    def __init__(self, path: Path, fmt: str, *, exclusive: bool = False) -> None:
        """``exclusive``: never write over a file (``NameTaken``), as ``VideoWriter``."""
        if fmt not in ("jsonl", "csv"):
            raise OutputError(f"unknown detections format '{fmt}' (jsonl or csv)")
        self.path, self.fmt = path, fmt
        try:
            # line-buffered: each frame's line is on disk when written, so a crash or kill loses no more of the
            # log than of the video (at most its last second), where a full buffer could hold seconds of it;
            # readable too (+): restore_if_unlinked
            # CSV with a byte-order mark: Excel, which most CSV files are opened in, reads UTF-8 only so
            # ("Ünïcødé" came out "ÃœnÃ¯cÃ¸dÃ©"); JSON lines without one, as JSON readers expect
            encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
            self._file = open(path, "x+" if exclusive else "w+", encoding=encoding, newline="", buffering=1)
        except FileExistsError:
            raise NameTaken(f"{path} exists") from None
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._csv = csv.writer(self._file) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self.CSV_FIELDS)
        # where each recent frame's rows begin: the video commits a fragment a second, so on a failure only
        # frames of the last few seconds can be missing from it, and their rows are cut from the log
        self._starts: deque[tuple[int, int]] = deque(maxlen=LOG_TRIM_WINDOW)

    def write(self, video_frame: int, frame: RecordedFrame) -> None:
        self._starts.append((video_frame, self._file.tell()))
        records = frame.detections.to_records()
        if self._csv is None:
            line = {"frame": video_frame, "source_frame": frame.source_index, "time_s": round(frame.time_s, 3),
                    "model": frame.model, "detections": records}
            self._file.write(json.dumps(line) + "\n")
            return
        for r in records:
            self._csv.writerow([video_frame, frame.source_index, round(frame.time_s, 3), r["class_id"], r["label"],
                                r["score"], *r["box"], frame.model])
        if not records:  # a row with empty detection fields: "nothing found", not "frame not logged"
            self._csv.writerow([video_frame, frame.source_index, round(frame.time_s, 3), *[""] * 7, frame.model])

    def keep_frames(self, count: int) -> None:
        """Cut the rows of frames ``count`` and later: the video lost them (a full disk), so must the log."""
        cut = next((start for frame, start in self._starts if frame >= count), None)
        if cut is not None and not self._file.closed:
            self._file.truncate(cut)

    def close(self) -> None:
        """Close the log; one whose folder was deleted meanwhile is written back first (``restore_if_unlinked``)."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            restore_if_unlinked(self._file.fileno(), self.path)
        finally:
            self._file.close()


class RecorderWorker(QThread):
    """One recording: opens the writer, writes what ``submit`` hands over, finalises on ``finish``."""

    started_writing = Signal(str)  # the video's actual path
    failed = Signal(str)
    accepted = Signal()  # the slot is free again: the GUI may hand over the next frame
    summary_ready = Signal(object)  # RecordingSummary; always the last signal, even after a failure

    def __init__(self, plan: RecordingPlan, lead_in: Sequence[RecordedFrame] = ()) -> None:
        """``lead_in``: frames shown before the file could start (a live source's rate was still unknown)."""
        super().__init__()
        self.plan = plan
        self._inbox: Mailbox[RecordedFrame] = Mailbox()
        self._lead_in = list(lead_in)
        self._lock = threading.Lock()
        self._finishing = False
        self._last: RecordedFrame | None = None  # handed over with finish(): written after the inbox
        self.frames_received = len(self._lead_in)
        self._writing_to: Path | None = None  # set on this thread once the file is open (maybe NAME-2, or .avi)

    @property
    def video_path(self) -> Path:
        """The video being written, else (not open yet) the one planned: what a message about it names."""
        return self._writing_to or self.plan.video_path

    def busy(self) -> bool:
        """True while the previous frame is still waiting: the caller should hold the next one back."""
        return self._inbox.is_full

    def submit(self, frame: RecordedFrame) -> bool:
        """Hand over one frame without waiting; False if the slot is taken or the recording ended."""
        if not self._inbox.put(frame, timeout=0):  # one step: a close between a check and the hand-over counted
            return False                             # a frame that was never written
        self.frames_received += 1
        return True

    def finish(self, last: RecordedFrame | None = None) -> None:
        """Write what was handed over, then ``last`` (a file's frame held back until the next one's time, which
        never came), then close the file (returns at once; see ``summary_ready``)."""
        with self._lock:
            self._finishing = True
            self._last = last
            if last is not None:
                self.frames_received += 1

    def _should_finish(self) -> bool:
        with self._lock:
            return self._finishing

    def run(self) -> None:
        writer: VideoWriter | None = None
        detections: DetectionLog | None = None
        error: str | None = None
        stopped = "not recording: "  # "folder is not writable: …" did not say that nothing was recorded
        # once the files are open, an error stops a recording under way
        try:
            writer, detections = self._open_files()
            self._writing_to = writer.path
            self.started_writing.emit(str(writer.path))
            stopped = "recording stopped: "
            lead_in, self._lead_in = self._lead_in, []
            for item in lead_in:
                self._write(item, writer, detections)
            while True:
                item = self._inbox.take(timeout=0.1)
                if item is None:
                    if not self._should_finish():
                        continue
                    item = self._inbox.take_nowait()  # handed over just before finish()
                    if item is None:
                        break
                self.accepted.emit()
                self._write(item, writer, detections)
            with self._lock:
                last, self._last = self._last, None
            if last is not None:
                self._write(last, writer, detections)
        except LiveDetError as exc:
            error = stopped + str(exc)
        except OSError as exc:
            error = stopped + describe_os_error(exc, writer.path if writer is not None else self.plan.video_path)
        except Exception as exc:  # noqa: BLE001 - finalise what was written, report, keep the app running
            log.exception("recording failed")
            error = f"recording stopped unexpectedly: {exc}"
        finally:
            self._inbox.close()
            error = self._finalise(writer, detections, error)
            # an AVI or MKV (written by OpenCV, not saved again as an MP4 is) whose folder was deleted
            gone = writer is not None and writer.frames_written > 0 and not error and not writer.path.exists()
            if gone:
                error = f"{writer.path} is gone: its folder was deleted while recording ({NOTHING_SAVED})"
            if error:
                self.failed.emit(error)
            self.summary_ready.emit(RecordingSummary(
                video_path=writer.path if writer is not None else None,
                frames_written=writer.frames_written if writer is not None and not gone else 0,
                frames_received=self.frames_received,
                detections_path=detections.path if detections is not None else None,
                codec=writer.codec if writer is not None else None,
                error=error,
                restored=writer is not None and writer.restored,
            ))

    def _open_files(self) -> tuple[VideoWriter, DetectionLog | None]:
        """The video and its log, under the plan's name or, where another process took it meanwhile, NAME-2…"""
        for n in range(1, NAME_TRIES + 1):
            plan = self.plan if n == 1 else self.plan.numbered(n)
            if _log_of_another_video(plan):
                logging.getLogger(__name__).warning(  # (``log`` is the detections log in here)
                    "%s is the log of an earlier recording: recording to the next free name", plan.detections_path)
                continue
            try:
                writer = VideoWriter(plan.video_path, plan.fps, plan.frame_size, protect=plan.source_video,
                                     exclusive=plan.exclusive)
            except NameTaken:
                continue
            if plan.detections_path is None:
                return writer, None
            try:
                log = DetectionLog(plan.detections_path, plan.detections_format, exclusive=plan.exclusive)
            except NameTaken:
                writer.close()  # no frame yet: it leaves no file
                continue
            except BaseException:
                writer.close()
                raise
            return writer, log
        raise OutputError(f"cannot record to {self.plan.video_path}: it and the next {NAME_TRIES - 1} numbered "
                          "names are taken")

    @staticmethod
    def _write(item: RecordedFrame, writer: VideoWriter, detections: DetectionLog | None) -> None:
        # a frame left out of the video (0 repeats: it came early) is logged under the video frame on screen at
        # its time, the last one written (it was logged under the next one, which shows the frame after it)
        first = writer.frames_written if item.repeats or not writer.frames_written else writer.frames_written - 1
        if detections is not None:  # the line first: a kill between the two leaves the log ahead, never behind
            try:
                detections.write(first, item)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, detections.path)) from None
        for _ in range(item.repeats):  # 0: left out of the video (it came early); its rows are under the frame shown then
            writer.write(item.image)

    @staticmethod
    def _finalise(writer: VideoWriter | None, detections: DetectionLog | None, error: str | None) -> str | None:
        """Close both files whatever happened; the first error is the one the user sees."""
        if writer is not None:
            try:
                writer.close()  # the frames not yet in the file; it plays up to its last whole fragment regardless
            except LiveDetError as exc:
                error = error or f"recording stopped: {exc}"
            except Exception as exc:  # noqa: BLE001 - never lose summary_ready to a failing close
                log.exception("closing the video failed")
                error = error or f"recording stopped: the video could not be finalised: {exc}"
        if detections is not None:
            saved = writer.frames_written if writer is not None else 0
            try:
                if error:
                    detections.keep_frames(saved)  # one row set per frame the video holds, no more
                detections.close()
                if saved == 0 and (writer is None or not writer.path.exists()):
                    detections.path.unlink(missing_ok=True)  # no video left: a log beside nothing is clutter
            except OSError as exc:
                error = error or f"recording stopped: {describe_os_error(exc, detections.path)}"
        return error
