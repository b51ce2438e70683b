"""Asking whether files exist without letting the GUI hang on the answer.

Why: the last video played, or one in Open recent, may sit on a network share that has
gone offline (a NAS asleep, a VPN down). Asking about such a file can take a minute, or
for ever on a stale NFS mount, and asked on the GUI thread it would freeze the window.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

GUI_WAIT_S = 0.5  # the most the window waits for an answer; local disks answer in microseconds


def existing_files(paths: Sequence[str], timeout_s: float = GUI_WAIT_S) -> set[str] | None:
    """The paths among ``paths`` that are files, or None when the answer took longer than ``timeout_s``.

    The question is asked on a daemon thread: one that never returns (a dead mount) is left
    behind and never keeps the app from quitting.
    """
    answer: list[set[str]] = []
    answered = threading.Event()

    def ask() -> None:
        answer.append({path for path in paths if os.path.isfile(path)})  # False for an error, never raises
        answered.set()

    threading.Thread(target=ask, name="file check", daemon=True).start()
    return answer[0] if answered.wait(timeout_s) else None
