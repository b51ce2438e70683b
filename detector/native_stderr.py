"""Notices that native libraries print straight to the process's stderr, kept off it where they mislead.

Why: OpenCV and FFmpeg print multi-line warnings for a broken file or a missing camera, beside our
own one-line message that says it once (``quiet_native_logs``, for the CLI and the app alike).

OpenCV's FFmpeg writer also prints ``OpenCV: FFMPEG: tag 0x30385056/'VP80' is not supported with
codec id 139 and format 'webm / WebM'`` for every WebM, MPEG and MPEG-TS file, which have no codec
tags to match, and then writes a good file. A person reads it as a failed recording. That notice is
a C ``fprintf``, which no log level reaches: while such a call runs, stderr (descriptor 2) goes to a
temporary file, and what else was written there meanwhile (another thread's log line) is passed on
(``dropping_lines``).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

_ONE_AT_A_TIME = threading.Lock()  # descriptor 2 is the process's: two swaps at once would lose one's lines


@contextmanager
def dropping_lines(pattern: re.Pattern[bytes]) -> Iterator[None]:
    """Within the block, lines written to descriptor 2 that ``pattern`` matches are dropped; the rest are
    written on when it ends. Where descriptor 2 cannot be swapped (none, on a windowed start), nothing is."""
    with _ONE_AT_A_TIME:
        try:
            kept = os.dup(2)
        except OSError:
            yield
            return
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(kept, 2)
                os.close(kept)
                held.seek(0)
                passed_on = b"".join(line for line in held.read().splitlines(keepends=True)
                                     if not pattern.search(line))
                try:
                    while passed_on:
                        passed_on = passed_on[os.write(2, passed_on):]
                except OSError:  # stderr is gone (a closed terminal): the lines have nowhere to go
                    pass


def quiet_native_logs() -> None:
    """OpenCV's own log to errors only, FFmpeg's off: call before the first video is opened."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when FFmpeg is first used
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):
        pass
