"""Draw detections onto a BGR frame (pure OpenCV, no Qt): used by the CLI and the desktop overlay."""

from __future__ import annotations

import colorsys
import functools
from typing import Sequence

import cv2
import numpy as np

from .frame_text import drawable_text, put_text, tag_text, text_size
from .types import Detections

HUES = 20  # hue slots: classes 0-19 take one each; each further 20 take them again in another shade
HUE_STRIDE = 7  # class k takes hue slot 7k mod 20: consecutive ids 126 degrees apart
GOLDEN_FRACTION = 0.6180339887498949  # (√5 - 1) / 2: its multiples, taken mod 1, never repeat


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable BGR colour per class id. Golden-ratio hue steps put VOC's person, bicycle and car within 20
    degrees (three blues on a street); 20 evenly spaced hues, taken 7 slots at a time, keep any two of the
    first 20 classes at least 18 degrees apart, and slots side by side differ in brightness as well. With
    more classes (COCO's 80), each further 20 take the same hues in another shade: darker and brighter
    swapped (classes 20-39), pale (40-59), or both (60-79); each further 80 the same, moved along by a
    golden-ratio fraction of a slot, which never comes back round (half a slot did: class 160 had class 0's
    colour, and a 365-class model had 160 colours)."""
    slot = (int(class_id) * HUE_STRIDE) % HUES
    lap = int(class_id) // HUES
    hue = ((slot + (lap // 4 * GOLDEN_FRACTION) % 1.0) / HUES) % 1.0
    bright = (slot + lap) % 2 == 0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85 if lap % 4 < 2 else 0.45, 0.95 if bright else 0.72)
    return int(b * 255), int(g * 255), int(r * 255)


def relative_luminance(bgr: tuple[int, int, int]) -> float:
    """WCAG's relative luminance of a BGR colour: 0 for black, 1 for white."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    b, g, r = bgr
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


@functools.lru_cache(maxsize=256)  # drawn for every box of every frame, from a few dozen class colours
def _text_color(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``bg`` by WCAG's contrast ratio: a brightness cut-off put white
    on VOC's green "bicycle" and teal "cat" tags (2.4-3:1, where black gives 7-8:1)."""
    luminance = relative_luminance(bg)
    return (0, 0, 0) if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else (255, 255, 255)


Rect = tuple[int, int, int, int]  # left, top, right, bottom


AVOIDING_TAGS = 50  # tags moved off earlier ones; past these (a threshold near 0) the picture is clutter anyway
KEEP_CLEAR_WEIGHT = 10  # covering the info panel costs this many times the area of covering another tag
PANEL_STACK = 3  # tags of boxes under the info panel: the spots just below it, one under another


def _tag_spots(box: Rect, size: tuple[int, int], frame_wh: tuple[int, int]) -> list[Rect]:
    """Where a box's tag may go, best first: above the box, just inside its top, just below it, at its left
    edge, then the same at its right edge; all on screen."""
    x1, y1, x2, y2 = box
    (tw, tag_h), (w, h) = size, frame_wh
    lefts = dict.fromkeys(max(0, min(x, w - tw)) for x in (x1, x2 - tw))  # slid in: a box at the edge keeps its tag
    spots = [(left, top, left + tw, top + tag_h) for left in lefts for top in (y1 - tag_h, y1, y2)
             if 0 <= top <= h - tag_h]
    top, left = max(0, min(y1, h - tag_h)), next(iter(lefts))
    return spots or [(left, top, left + tw, top + tag_h)]


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_tags(boxes: list[Rect], sizes: list[tuple[int, int]], frame_wh: tuple[int, int],
               keep_clear: Sequence[Rect] = ()) -> list[Rect]:
    """Each box's tag rectangle, in order: the first of its spots that covers none of the tags before it
    nor ``keep_clear`` (an info panel drawn over the picture), or the one that covers least, where
    covering ``keep_clear`` counts ten times (a tag under the panel is unreadable; one that overlaps
    another tag's edge is not); then a tag left covering another moves where it covers less, if it can.
    Tags past the first ``AVOIDING_TAGS`` avoid only ``keep_clear``."""
    first = len(keep_clear)
    clear = np.asarray(keep_clear, np.int64).reshape(-1, 4)
    placed = np.zeros((first + len(boxes), 4), np.int64)
    placed[:first] = clear
    weights = np.ones(len(placed), np.int64)
    weights[:first] = KEEP_CLEAR_WEIGHT
    tags: list[Rect] = []
    options: list[list[Rect]] = []
    for i, (box, size) in enumerate(zip(boxes, sizes)):
        spots = _tag_spots(box, size, frame_wh)
        tag_h = size[1]
        for x0, _, x1, bottom in keep_clear:  # a box the panel covers the top of: its tag just below the panel,
            if box[1] < bottom <= frame_wh[1] - tag_h and box[0] < x1 and x0 < box[2]:  # before the box's foot
                left = spots[0][0]  # (stacked: two cars side by side under the panel wrote "car (car 0.36")
                spots[2:2] = [(left, top, left + size[0], top + tag_h) for top in
                              (bottom + k * tag_h for k in range(PANEL_STACK)) if top + tag_h <= frame_wh[1]]
        before = first + i if i < AVOIDING_TAGS else first
        choice = spots[0]
        if i >= AVOIDING_TAGS and not any(_overlaps(choice, rect) for rect in keep_clear):
            before = 0  # the many low-scored tags: a look at the panel alone, in plain Python, is quicker
        if before and len(spots) > 1:  # covered area of each spot by those before, at once
            choice = spots[int(np.argmin(_covered(spots, placed[:before], weights[:before])))]  # first of ties
        placed[first + i] = choice
        tags.append(choice)
        options.append(spots)
    return _untangle(tags, options, placed, weights, first)


def _covered(spots: list[Rect] | np.ndarray, others: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per spot, the area of ``others`` it covers, each weighted."""
    s, t = np.asarray(spots, np.int64).reshape(-1, 1, 4), others[None, :, :]
    wide = np.clip(np.minimum(s[..., 2], t[..., 2]) - np.maximum(s[..., 0], t[..., 0]), 0, None)
    tall = np.clip(np.minimum(s[..., 3], t[..., 3]) - np.maximum(s[..., 1], t[..., 1]), 0, None)
    return (wide * tall * weights[None, :]).sum(axis=1)


def _untangle(tags: list[Rect], options: list[list[Rect]], placed: np.ndarray, weights: np.ndarray,
              first: int, rounds: int = 2) -> list[Rect]:
    """Move a tag that still covers another to a spot where it covers less, now that the later tags are known
    too: placed one by one, a tag took the first free spot and a later one found none, while the earlier had
    another (two cars' tags, one over the other, at vtest's frame 100). Over 530 vtest frames at confidence
    0.25 and 0.1 this left 36 overlapping pairs of tags where there were 97."""
    count = min(len(tags), AVOIDING_TAGS)
    for _ in range(rounds):
        mine = placed[first:first + count]
        tangled = _covered(mine, placed[:first + count], weights[:first + count])
        tangled -= (mine[:, 2] - mine[:, 0]) * (mine[:, 3] - mine[:, 1]) * weights[first:first + count]  # itself
        if not tangled.any():
            break
        for i in reversed(range(count)):  # the lower-scored first: the best-scored tags keep their spots if they can
            if len(options[i]) < 2 or not tangled[i]:
                continue
            placed[first + i] = 0  # an empty rectangle: a tag does not cover itself
            cost = _covered(options[i], placed[:first + count], weights[:first + count])
            now, best = cost[options[i].index(tags[i])], int(np.argmin(cost))
            if cost[best] < now:
                tags[i] = options[i][best]
            placed[first + i] = tags[i]
    return tags


def draw_detections(frame: np.ndarray, detections: Detections, *, line_width: int | None = None,
                    keep_clear: Sequence[Rect] = ()) -> np.ndarray:
    """Boxes with "label score" tags, drawn in place on ``frame`` (BGR uint8), which is returned.

    Boxes first, then the tags over them, each moved off the tags before it where it can be: close
    boxes (a group of walkers) drew tags over each other's text and lines through it. Tags keep off
    ``keep_clear`` too, where something is drawn over the picture afterwards (the info panel)."""
    h, w = frame.shape[:2]
    # sized as the picture will be seen: a landscape window shows a portrait picture at its height, as it shows a
    # landscape one of that height (1080x1920 drew the lines and tags of 1080x1080, half as large on screen),
    # as far as its width allows (a phone's long screenshot had tags twice as wide as itself)
    seen = min(round((h + max(w, h * 16 / 9)) / 600), round(w / 120)) if h > w else round((h + w) / 600)
    lw = line_width or max(1, seen)
    font_scale = max(0.35, lw / 3)
    thickness = max(1, lw - 1)
    boxes = [tuple(int(round(v)) for v in box) for box in detections.boxes]
    for (x1, y1, x2, y2), cid in zip(boxes, detections.class_ids):
        cv2.rectangle(frame, (x1, y1), (x2, y2), class_color(int(cid)), lw, cv2.LINE_AA)
    texts = [tag_text(label, int(cid), score)
             for score, label, cid in zip(detections.scores, detections.labels, detections.class_ids)]
    metrics = [text_size(text, font_scale, thickness) for text in texts]
    tags = place_tags(boxes, [(tw + 4, th + depth + 2) for tw, th, depth in metrics], (w, h), keep_clear)
    for tag, text, (_, th, _), cid in zip(tags, texts, metrics, detections.class_ids):
        color = class_color(int(cid))
        cv2.rectangle(frame, tag[:2], (tag[2], tag[3]), color, -1)
        put_text(frame, text, (tag[0] + 2, tag[1] + th + 1), font_scale, _text_color(color), thickness)
    return frame


def _panel_layout(frame_hw: tuple[int, int], lines: list[str], corner: str) -> tuple[Rect, float, int, int]:
    """The panel's rectangle, its text scale, padding and line height (``lines`` as ``drawable_text`` makes them)."""
    h, w = frame_hw
    # by the height, at which a window shows both a landscape picture and a portrait one: by the short side, a
    # phone's 1080x1920 video had text 6.7 px tall on a laptop screen, 11.9 px for the same video held sideways
    scale = max(0.4, h / 900)
    sizes = [text_size(t, scale, 1)[:2] for t in lines]
    widest = max(s[0] for s in sizes)
    fits = (w - 2 * max(6, round(12 * scale))) / max(1, widest + 2 * round(12 * scale))
    if fits < 1 and scale > 0.4:  # ... as large as the picture's width lets it be
        scale = max(0.4, scale * fits)
        sizes = [text_size(t, scale, 1)[:2] for t in lines]
    pad = max(6, round(12 * scale))  # margins grow with the text: a 4000 px photo's lines touched the edges
    line_h = max(s[1] for s in sizes) + pad + 2
    panel_w = max(s[0] for s in sizes) + 2 * pad
    panel_h = line_h * len(lines) + pad
    x0 = pad if corner.endswith("left") else max(0, w - panel_w - pad)
    return (x0, pad, min(w, x0 + panel_w), min(h, pad + panel_h)), scale, pad, line_h


def text_panel_rect(frame_hw: tuple[int, int], lines: list[str], *, corner: str = "top-left") -> Rect | None:
    """Where ``draw_text_panel`` will draw these lines (None for none): tags are kept off it."""
    return _panel_layout(frame_hw, [drawable_text(t) for t in lines], corner)[0] if lines else None


def draw_text_panel(frame: np.ndarray, lines: list[str], *, corner: str = "top-left") -> np.ndarray:
    """A translucent panel of text lines (FPS, latency, model) drawn in place."""
    if not lines:
        return frame
    lines = [drawable_text(t) for t in lines]  # "only Ünïcødé 标志" drew "only Ünïcødé ??" without a Chinese font
    (x0, y0, x1, y1), scale, pad, line_h = _panel_layout(frame.shape[:2], lines, corner)
    thickness = 1
    if x1 > x0 and y1 > y0:
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        put_text(frame, text, (x0 + pad, y0 + (i + 1) * line_h - 2), scale, (255, 255, 255), thickness)
    return frame
