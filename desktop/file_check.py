"""Asking the disk without letting the GUI hang on the answer.

Why: the last video played, one in Open recent, or the recording folder may sit on a
network share that has gone offline (a NAS asleep, a VPN down). Asking about such a file
can take a minute, or for ever on a stale NFS mount, and asked on the GUI thread it would
freeze the window.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Sequence, TypeVar

GUI_WAIT_S = 0.5  # the most the window waits for an answer; local disks answer in microseconds
WRITE_WAIT_S = 2.0  # the most a recording or snapshot start waits for its folder (a NAS spinning up may take longer)

T = TypeVar("T")


class DiskSilent(Exception):
    """The disk did not answer within the time the window may wait."""


def within(question: Callable[[], T], timeout_s: float = WRITE_WAIT_S) -> T:
    """``question()``'s answer (or its exception), asked on a daemon thread; ``DiskSilent`` after ``timeout_s``.

    A question left behind finishes on its own, when the share answers, and never keeps the app from quitting.
    """
    outcome: dict = {}
    answered = threading.Event()

    def ask() -> None:
        try:
            outcome["answer"] = question()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which reports it
            outcome["error"] = exc
        answered.set()

    threading.Thread(target=ask, name="disk question", daemon=True).start()
    if not answered.wait(timeout_s):
        raise DiskSilent
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def silent_folder_message(folder: os.PathLike | str) -> str:
    """What the window says when the recording folder did not answer in time."""
    return (f"the recording folder {folder} does not answer (a network folder offline, or still waking up?): "
            "try again, or choose another in Record ▸ Recording folder…")


def existing_files(paths: Sequence[str], timeout_s: float = GUI_WAIT_S) -> set[str] | None:
    """The paths among ``paths`` that are files, or None when the answer took longer than ``timeout_s``."""
    try:
        return within(lambda: {path for path in paths if os.path.isfile(path)}, timeout_s)  # isfile never raises
    except DiskSilent:
        return None
