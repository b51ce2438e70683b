"""Draw detections onto a BGR frame (pure OpenCV, no Qt): used by the CLI and the desktop overlay."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from .types import Detections


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class id (golden-ratio hue steps)."""
    hue = (int(class_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def _text_color(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    b, g, r = bg
    return (0, 0, 0) if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else (255, 255, 255)


def draw_detections(frame: np.ndarray, detections: Detections, *, line_width: int | None = None) -> np.ndarray:
    """Boxes with "label score" tags, drawn in place on ``frame`` (BGR uint8), which is returned."""
    h, w = frame.shape[:2]
    lw = line_width or max(1, round((h + w) / 600))
    font_scale = max(0.35, lw / 3)
    thickness = max(1, lw - 1)
    for box, score, cid, label in zip(detections.boxes, detections.scores, detections.class_ids, detections.labels):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = class_color(int(cid))
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
        text = f"{label} {score:.2f}"
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y1 - th - baseline - 2 if y1 - th - baseline - 2 >= 0 else y1  # inside the box when at the top edge
        left = max(0, min(x1, w - tw - 4))  # slide the tag left so a box at the right edge keeps its label
        cv2.rectangle(frame, (left, top), (left + tw + 4, top + th + baseline + 2), color, -1)
        cv2.putText(frame, text, (left + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, _text_color(color),
                    thickness, cv2.LINE_AA)
    return frame


def draw_text_panel(frame: np.ndarray, lines: list[str], *, corner: str = "top-left") -> np.ndarray:
    """A translucent panel of text lines (FPS, latency, model) drawn in place."""
    if not lines:
        return frame
    h, w = frame.shape[:2]
    scale = max(0.4, min(w, h) / 900)
    thickness = 1
    sizes = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0] for t in lines]
    pad = max(6, round(12 * scale))  # margins grow with the text: a 4000 px photo's lines touched the edges
    line_h = max(s[1] for s in sizes) + pad + 2
    panel_w = max(s[0] for s in sizes) + 2 * pad
    panel_h = line_h * len(lines) + pad
    x0 = pad if corner.endswith("left") else max(0, w - panel_w - pad)
    y0 = pad
    x1, y1 = min(w, x0 + panel_w), min(h, y0 + panel_h)
    if x1 > x0 and y1 > y0:
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(frame, text, (x0 + pad, y0 + (i + 1) * line_h - 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return frame
