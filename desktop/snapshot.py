"""Snapshots: the frame on screen to a PNG, encoded and written off the GUI thread.

Why: encoding a 4K frame as PNG takes about 0.2 s, a hitch the video showed when it ran on
the GUI thread; and the folder may sit on a network share that does not answer at all.
The controller hears back through ``saved`` or ``failed``; it never waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from detector import OutputError
from detector.atomic_write import written_whole

from .file_check import WRITE_WAIT_S, silent_folder_message
from .recording import unused_name

QUIT_WAIT_S = 5.0  # at quit, for PNGs still being written: an 8K frame takes under a second to a local disk
WAIT_SLICE_S = 0.1  # ... in steps this long, between which a stop signal may end the wait
PART_REMOVAL_WAIT_S = 0.5  # quitting without them: for their half-written files' removal (the folder may not answer)


@dataclass(eq=False)  # each job is itself: kept in a set by identity
class _Job:
    """One snapshot on its way to the disk."""

    folder: Path  # where it goes, for the message when that folder does not answer
    name: tuple[Path, str] | None = None  # (folder, stem) it is named after, unless given a path
    after: _Job | None = None  # the snapshot pressed before it under the same name: named first
    encoded: threading.Event = field(default_factory=threading.Event)  # (or failed)
    named: threading.Event = field(default_factory=threading.Event)  # (or failed)
    done: threading.Event = field(default_factory=threading.Event)
    given_up: threading.Event = field(default_factory=threading.Event)  # the user was told it failed


class SnapshotWriter(QObject):
    """Saves frames as PNG files on daemon threads, one per snapshot, and reports each outcome once."""

    saved = Signal(str)  # path of the PNG
    failed = Signal(str)  # a line for the user
    _encoded = Signal(object)  # job, from the writing thread (queued to this object's): the disk's turn now
    _finished = Signal(object, str, str)  # (job, path, error), likewise

    def __init__(self, claimed_names: set[Path], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._claimed_names = claimed_names  # shared with recordings, so a snapshot never takes a recording's name
        self._jobs: set[_Job] = set()
        self._last_pressed: dict[tuple[Path, str], _Job] = {}  # per name: the snapshot the next one waits for
        self._parts: set[Path] = set()  # the hidden files being written now (see abandon_unsaved)
        self._parts_lock = threading.Lock()
        self._abandoned = False  # quitting without the snapshots not written yet: none starts writing now
        self._encoded.connect(self._on_encoded)
        self._finished.connect(self._on_finished)

    def save(self, image: np.ndarray, folder: Path, stem: str, path: Path | None = None) -> None:
        """Start writing ``image`` to ``path``, or to ``folder/stem.png`` (``stem-2.png``… when taken).

        Snapshots under the same name are numbered in the order they were asked for: three of one paused frame
        were numbered as their threads finished encoding, and a slower first one became NAME-3.
        """
        name = None if path else (folder, stem)
        job = _Job(path.parent if path else folder, name, self._last_pressed.get(name) if name else None)
        if name:
            self._last_pressed[name] = job
        self._jobs.add(job)
        threading.Thread(target=self._write, args=(job, image, folder, stem, path),
                         name="snapshot", daemon=True).start()

    def wait(self, timeout_s: float = QUIT_WAIT_S, stop: Callable[[], bool] = lambda: False) -> bool:
        """Let the snapshots being written finish (at quit: a half-written PNG is a lost one); True when all did.

        Snapshots to a folder that stopped answering were already reported as failed and are not waited for;
        ``stop`` returning True (a stop signal at quit) ends the wait, checked every ``WAIT_SLICE_S``.
        """
        deadline = time.monotonic() + timeout_s
        for job in list(self._jobs):
            while not job.given_up.is_set() and not job.done.wait(WAIT_SLICE_S):
                if stop() or time.monotonic() >= deadline:
                    return False
        return True

    def unsaved(self) -> int:
        """How many snapshots are still being written (those given up on were reported already)."""
        return sum(1 for job in self._jobs if not job.done.is_set() and not job.given_up.is_set())

    def abandon_unsaved(self, wait_s: float = PART_REMOVAL_WAIT_S) -> None:
        """Quitting without the snapshots still being written: remove their half-written hidden files, which
        nobody would finish or remove (``.NAME.png.*.part`` stayed in the folder). On a daemon thread, waited
        for ``wait_s`` at most: the folder may be one that stopped answering."""
        with self._parts_lock:
            self._abandoned = True
            parts = list(self._parts)
        if not parts:
            return
        remover = threading.Thread(target=_remove_quietly, args=(parts,), name="snapshot-parts", daemon=True)
        remover.start()
        remover.join(wait_s)

    def _write(self, job: _Job, image: np.ndarray, folder: Path, stem: str, path: Path | None) -> None:
        target, error = path, ""
        try:
            ok, data = cv2.imencode(".png", image)
            if not ok:
                raise OutputError("the frame could not be encoded as PNG")
            job.encoded.set()
            if job.after is not None:  # the one pressed before still encoding is not the disk's time (see _on_encoded)
                job.after.encoded.wait()
            self._tell(self._encoded, job)
            if job.after is not None:
                job.after.named.wait()  # named in the order pressed (a disk that does not answer: told, see _on_silent)
            if target is None:  # asking the folder which names are taken may fail too (no permission)
                target = _with_png(unused_name(folder, stem, (".png",), self._claimed_names))
            job.named.set()
            target.parent.mkdir(parents=True, exist_ok=True)
            if not job.given_up.is_set():
                self._write_whole(target, data.tobytes())
        except OSError as exc:
            error = f"cannot save the snapshot to {target or folder}: {exc.strerror or exc}"
        except (OutputError, cv2.error) as exc:
            error = str(exc)
        finally:
            job.encoded.set()  # a failure lets the next snapshot under its name go on
            job.named.set()
            job.done.set()
        self._tell(self._finished, job, str(target or ""), error)

    def _write_whole(self, target: Path, data: bytes) -> None:
        """A file named .png is always a whole picture; the hidden one it is written as is known until renamed
        or removed, for a quit that cannot wait (``abandon_unsaved``)."""
        part = None
        try:
            with written_whole(target) as part:
                with self._parts_lock:
                    if self._abandoned:  # (an encoding that ended as the app quit without it)
                        raise OutputError("the app quit before the snapshot was written")
                    self._parts.add(part)
                part.write_bytes(data)
        finally:
            with self._parts_lock:
                self._parts.discard(part)

    @staticmethod
    def _tell(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window closed meanwhile and took this object with it: nobody is left to tell
            pass

    def _on_encoded(self, job: _Job) -> None:
        """The disk gets WRITE_WAIT_S from here: encoding a 48-megapixel photo may itself take longer."""
        QTimer.singleShot(round(WRITE_WAIT_S * 1000), self, lambda: self._on_silent(job))

    def _on_finished(self, job: _Job, target: str, error: str) -> None:
        if job.name and self._last_pressed.get(job.name) is job:
            del self._last_pressed[job.name]
        if job not in self._jobs or self._abandoned:  # (the quit said what it left unsaved)
            return
        self._jobs.discard(job)
        if job.given_up.is_set():
            return  # already reported as a folder that does not answer
        if error:
            self.failed.emit(error)
        else:
            self.saved.emit(target)

    def _on_silent(self, job: _Job) -> None:
        if job.done.is_set() or job not in self._jobs:
            return
        job.given_up.set()
        self._jobs.discard(job)
        self.failed.emit(silent_folder_message(job.folder))


def _remove_quietly(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # Windows keeps a file being written; a folder gone meanwhile
            pass


def _with_png(base: Path) -> Path:
    return base.with_name(f"{base.name}.png")


