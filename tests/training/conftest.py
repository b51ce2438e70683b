"""Synthetic datasets in all three formats, built on the fly: coloured rectangles on grey."""

from __future__ import annotations

import json

import pytest

from .synthetic import NAMES, synthetic_images


@pytest.fixture
def coco_dataset(tmp_path):
    """COCO JSON with an exporter-style placeholder category 0 that every class names as supercategory."""
    items = synthetic_images(tmp_path / "images")
    categories = [{"id": 0, "name": "shapes", "supercategory": "none"}]
    categories += [{"id": i + 1, "name": n, "supercategory": "shapes"} for i, n in enumerate(NAMES)]
    images, annotations = [], []
    for image_id, (name, w, h, objects) in enumerate(items):
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for c, (x1, y1, x2, y2) in objects:
            annotations.append({"id": len(annotations), "image_id": image_id, "category_id": c + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path, tmp_path / "images", items
