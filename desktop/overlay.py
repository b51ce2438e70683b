"""What is drawn over a frame: boxes and labels per class colour, object count, FPS, latency, model.

A pure function of its inputs, so the GUI, the recorder and tests all get the
same picture, and the raw frame stays untouched for re-thresholding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from detector import Detections
from detector.annotate import draw_detections, draw_text_panel, text_panel_rect

SMALL_FRAME_WIDTH = 320  # narrower frames are enlarged before drawing (a 160x120 camera, a 256x192 thermal one)
DRAWN_WIDTH = 640  # ... to at least this width
MAX_DRAWN_SIDE = 2048  # ... as long as neither side grows past this

Fractions = tuple[float, float, float, float]  # left, top, right, bottom, as fractions of a picture's width and height


@dataclass(frozen=True)
class HudInfo:
    """The numbers shown in the corner panel."""

    capture_fps: float = 0.0
    inference_fps: float = 0.0
    display_fps: float = 0.0
    inference_ms: float | None = None  # None: no model ran on this frame
    model: str | None = None
    device: str | None = None
    classes: tuple[str, ...] = ()  # the class filter in force; empty: every class is shown
    paused: bool = False  # nothing flows: the rates would be those from before the pause, or zeros
    still: bool = False  # a photo: there are no rates, and nothing to pause


def hud_lines(object_count: int, hud: HudInfo) -> list[str]:
    """The panel's text, one line each: count (and the class filter), FPS of each stage, latency, model and device."""
    count = f"{object_count} object{'s' if object_count != 1 else ''}"
    if hud.classes:  # say so, or missing boxes look like a model that stopped seeing
        classes = sorted(hud.classes)  # by name, as the status bar says them: not in the model's own order
        named = ", ".join(classes[:3]) + (f" +{len(classes) - 3}" if len(classes) > 3 else "")
        count += f" · only {named}"
    lines = [count]
    if hud.still:
        lines.append("photo: detected once")
    elif hud.paused:
        lines.append("FPS - paused")
    else:
        lines.append(f"FPS capture {hud.capture_fps:.1f} | inference {hud.inference_fps:.1f} | "
                     f"display {hud.display_fps:.1f}")
    if hud.inference_ms is not None:
        lines.append(f"inference {hud.inference_ms:.0f} ms")
    if hud.model:
        lines.append(f"{hud.model} on {hud.device or '?'}")
    else:
        lines.append("no model: detection off")
    return lines


def mirrored(frame: np.ndarray, detections: Detections) -> tuple[np.ndarray, Detections]:
    """The frame and its boxes flipped left to right, as a laptop camera's picture is usually shown:
    moving a hand to the right moves it to the right on screen. Drawn afterwards, labels stay readable."""
    width = frame.shape[1]
    boxes = detections.boxes.copy()
    boxes[:, [0, 2]] = width - detections.boxes[:, [2, 0]]
    return frame[:, ::-1], replace(detections, boxes=boxes)


def enlargement(height: int, width: int) -> int:
    """How many times a frame is enlarged before anything is drawn on it: the panel's text has a smallest
    readable size, and on a 160x120 camera's frame it ran off the right edge and covered most of the
    picture. Whole times, so that the picture stays sharp; never past ``MAX_DRAWN_SIDE`` (a 1x480 strip
    became 307,200 pixels tall)."""
    if width >= SMALL_FRAME_WIDTH:
        return 1
    return max(1, min(math.ceil(DRAWN_WIDTH / max(1, width)), MAX_DRAWN_SIDE // max(1, height, width)))


def render_overlay(frame: np.ndarray, detections: Detections, hud: HudInfo | None = None, *,
                   covered: Fractions | None = None) -> np.ndarray:
    """A new BGR frame with ``detections`` and, when given, the HUD panel drawn on it; a frame narrower than
    ``SMALL_FRAME_WIDTH`` is enlarged first (``enlargement``), and so is what records or snapshots it.

    ``covered``: a part of the picture the screen paints over (fullscreen's REC badge), as fractions of its
    width and height; tags keep clear of it as of the panel (the badge hid "car 0.55" behind "REC")."""
    times = enlargement(*frame.shape[:2])
    if times > 1:
        frame = cv2.resize(frame, None, fx=times, fy=times, interpolation=cv2.INTER_LINEAR)
        detections = replace(detections, boxes=detections.boxes * times)
    image = np.array(frame, copy=True, order="C")
    lines = hud_lines(len(detections), hud) if hud is not None else []
    panel = text_panel_rect(image.shape[:2], lines)
    keep_clear = [panel] if panel else []
    if covered is not None:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = covered
        keep_clear.append((math.floor(x0 * w), math.floor(y0 * h), math.ceil(x1 * w), math.ceil(y1 * h)))
    draw_detections(image, detections, keep_clear=keep_clear)
    draw_text_panel(image, lines)
    return image
