"""Keeping a file whose name was deleted while it was being written.

Why: on Linux and macOS, deleting the folder a recording goes to (a clean-up script, a user tidying
up) removes the names of the files open in it, and writing into them goes on succeeding. The data is
still there, but it vanishes when the file is closed: a recording said "Saved" and left nothing.
Written back under its name before the close, it is kept. (Windows refuses to delete open files.)
"""

from __future__ import annotations

import os
from pathlib import Path

_CHUNK = 1 << 20


def restore_if_unlinked(fd: int, path: Path) -> bool:
    """When ``path`` no longer names the open file ``fd``, copy the file back to ``path`` (making its folder
    again) and return True; False when nothing was lost. ``fd`` must be open for reading; its position moves.

    Raises ``OSError`` when the copy cannot be made (the folder cannot be made again, or a new file
    has taken the name meanwhile: ``FileExistsError``, never written over).
    """
    try:
        if os.fstat(fd).st_nlink > 0:
            return False
    except OSError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.lseek(fd, 0, os.SEEK_SET)
    with open(path, "xb") as copy:
        while chunk := os.read(fd, _CHUNK):
            copy.write(chunk)
        copy.flush()
        os.fsync(copy.fileno())
    return True
