"""What the command line asked for, in a module that imports nothing slow (read before the window exists)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LaunchOptions:
    source: str | None = None
    model: str | None = None
    conf: float | None = None
    iou: float | None = None
    classes: tuple[str, ...] | None = None  # names to show; None: as last time
    device: str | None = None  # None: as last time
    input_size: int | None = None  # the network's input side in pixels, 0 for the model's own; None: as last time
    record: str | None = None
    fast: bool = False
    exit_after_frames: int | None = None
    screenshot: str | None = None
