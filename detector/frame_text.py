"""Text on frames in any script: OpenCV's own font where it can draw the text, a font of the computer's where it
cannot (``label_fonts``), and a class's number where none can. Measured and drawn alike, so tags fit their text."""

from __future__ import annotations

import functools
from typing import Sequence

import cv2
import numpy as np

from . import label_fonts

FONT = cv2.FONT_HERSHEY_SIMPLEX  # Latin and Cyrillic (OpenCV 5); other scripts: a system font (label_fonts)


@functools.lru_cache(maxsize=4096)
def _lacks_glyph(ch: str) -> bool:
    """Whether OpenCV's Hershey font lacks ``ch``, told by drawing it. OpenCV 5 draws accented Latin and
    Cyrillic letters and one "?" for a character it lacks (Greek, Chinese, Japanese, Korean, emoji); OpenCV 4
    draws a "?" for each byte of any non-ASCII character."""
    if ch.isascii():
        return False

    def drawn(text: str) -> np.ndarray:
        image = np.zeros((24, 64), np.uint8)
        cv2.putText(image, text, (2, 20), FONT, 0.6, 255, 1)
        return image

    glyph = drawn(ch)
    return any(np.array_equal(glyph, drawn("?" * n)) for n in {1, len(ch.encode("utf-8"))})


def _label_font(text: str) -> cv2.FontFace | None:
    """The system font that draws ``text``, where OpenCV's Hershey font cannot (None: Hershey can, or no font can)."""
    lacking = "".join(ch for ch in text if _lacks_glyph(ch))
    return label_fonts.font_for(lacking) if lacking else None


def _drawable(text: str) -> bool:
    return not any(_lacks_glyph(ch) for ch in text) or _label_font(text) is not None


def drawable_text(text: str) -> str:
    """``text`` as it is drawn: whole where a font here draws all of it, else less the characters none can
    draw, or that the font drawing the most of them lacks: "🚗 汽车" is "汽车" where a Chinese font has no emoji."""
    whole = " ".join(text.split())
    if _drawable(whole):
        return whole
    lacking = [ch for ch in whole if _lacks_glyph(ch)]  # no font has all of them: the one that has the most
    faces = {face for face in (label_fonts.font_for(ch) for ch in set(lacking)) if face is not None}
    best = max(faces, key=lambda face: sum(label_fonts.draws(face, ch) for ch in lacking), default=None)
    kept = " ".join("".join(ch for ch in whole if not _lacks_glyph(ch) or
                            (best is not None and label_fonts.draws(best, ch))).split())
    if _drawable(kept):
        return kept
    return " ".join("".join(ch for ch in whole if not _lacks_glyph(ch)).split())


def class_label(name: str, class_id: int) -> str:
    """A class as drawn on the picture: its name, or, where no font here can draw it in full ("标志",
    "Ünïcødé 标志" on a computer without a Chinese font), what can be drawn and the class number ("#2"):
    two such classes were both "??"."""
    shown = drawable_text(name)
    return shown if shown == " ".join(name.split()) else f"{shown} #{class_id}".strip()


@functools.lru_cache(maxsize=64)
def _face_px(scale: float, thickness: int) -> int:
    """A system font's size in pixels for text Hershey would draw at ``scale``: the height OpenCV 5 gives
    Hershey's text, which it draws with its own TrueType face at that size (Latin letters match)."""
    return max(8, cv2.getTextSize("H", FONT, scale, thickness)[0][1])


def text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    """Width, height above the baseline and depth below it of ``text`` drawn by ``put_text``."""
    face = _label_font(text)
    if face is None:
        (width, height), depth = cv2.getTextSize(text, FONT, scale, thickness)
        return width, height, depth
    px = _face_px(scale, thickness)
    with label_fonts.FACE_LOCK:
        x, _, width, height = cv2.getTextSize((0, 0), text, (0, px), face, px)  # its top: ``px`` above the baseline
    return x + width + thickness - 1, px, max(0, height - px)


def put_text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float, color: tuple[int, int, int],
             thickness: int) -> None:
    """``text`` drawn in place with its baseline starting at ``origin``: Hershey's font where it can draw
    the text (as before), else the system font that can (a class name in Chinese, Greek...)."""
    face = _label_font(text)
    if face is None:
        cv2.putText(frame, text, origin, FONT, scale, color, thickness, cv2.LINE_AA)
    else:  # as heavy as Hershey's thicker strokes on a large frame: drawn again a pixel along per extra pixel
        px = _face_px(scale, thickness)
        with label_fonts.FACE_LOCK:
            for shift in range(thickness):
                cv2.putText(frame, text, (origin[0] + shift, origin[1]), color, face, px)


def find_label_fonts(names: Sequence[str]) -> None:
    """Look up, once, the fonts that these names need (class names, a model's name: asking fontconfig, reading
    font files take tens of milliseconds each), so that the first frame that shows them is not held up; call
    it off the GUI thread."""
    for number, name in enumerate(names):
        class_label(name, number)


def tag_text(label: str, class_id: int, score: float) -> str:
    """A box's tag: "person 0.87" (``class_label`` and the score)."""
    return f"{class_label(label, class_id)} {score:.2f}"
