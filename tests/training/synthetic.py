"""Synthetic detection data: solid coloured rectangles on grey, with exact boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLORS = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}  # BGR
NAMES = tuple(COLORS)


BGR_CHANNEL = {0: 2, 1: 1, 2: 0}  # the dominant channel of each class colour


def synthetic_images(root: Path, count: int = 6, seed: int = 0) -> list[tuple[str, int, int, list[tuple[int, list[float]]]]]:
    """Write ``count`` PNGs with 1-3 solid, non-overlapping rectangles; returns (file, w, h, [(class, xyxy)])."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        w, h = int(rng.integers(160, 320)), int(rng.integers(120, 240))
        image = np.full((h, w, 3), 128, np.uint8)
        objects = []
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.integers(0, 3))
            bw, bh = int(rng.integers(24, w // 2)), int(rng.integers(24, h // 2))
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            box = [float(x1), float(y1), float(x1 + bw), float(y1 + bh)]
            if any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for _, o in objects):
                continue  # keep rectangles apart so every box frames exactly one colour
            image[y1 : y1 + bh, x1 : x1 + bw] = COLORS[NAMES[c]]
            objects.append((c, box))
        name = f"img_{i:03d}.png"
        cv2.imwrite(str(root / name), image)
        items.append((name, w, h, objects))
    return items


Items = list[tuple[str, int, int, list[tuple[int, list[float]]]]]


def write_yolo_labels(labels_dir: Path, items: Items) -> None:
    """One ``class cx cy w h`` (normalised) line per box, beside the images in YOLO's layout."""
    labels_dir.mkdir(parents=True, exist_ok=True)
    for name, w, h, objects in items:
        lines = [f"{c} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} {(b[3] - b[1]) / h}"
                 for c, b in objects]
        (labels_dir / Path(name).with_suffix(".txt")).write_text("\n".join(lines))


def write_voc_annotations(ann_dir: Path, items: Items) -> None:
    """Pascal VOC XML per image (1-based, inclusive pixel corners)."""
    ann_dir.mkdir(parents=True, exist_ok=True)
    for name, w, h, objects in items:
        xml_objects = "".join(
            f"<object><name>{NAMES[c]}</name><difficult>0</difficult><bndbox><xmin>{b[0] + 1:.0f}</xmin>"
            f"<ymin>{b[1] + 1:.0f}</ymin><xmax>{b[2]:.0f}</xmax><ymax>{b[3]:.0f}</ymax></bndbox></object>"
            for c, b in objects
        )
        (ann_dir / Path(name).with_suffix(".xml")).write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height></size>"
            f"{xml_objects}</annotation>"
        )
