"""Files that are written whole or not at all.

Why: weights, checkpoints, kept ONNX exports and snapshots are rewritten while a run may be
stopped at any moment (Ctrl-C, a GPU lease ending, a kill, a full disk). Written in place, a
stopped write leaves a truncated file under the real name, and the earlier good one is gone.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A hidden name beside ``path`` to write to: renamed to ``path`` when the block ends, removed
    when it fails. The name is the writer's own (process and thread), so two writing ``path`` at
    once each rename a whole file; the writer creates it, so it gets the usual permissions
    (``mkstemp`` would make a snapshot readable by its owner only)."""
    part = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        yield part
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
