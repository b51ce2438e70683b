"""Read detection datasets into one in-memory index: COCO JSON, YOLO txt folders, Pascal VOC XML.

Class names always come from the data. Boxes are stored as x1, y1, x2, y2 in
image pixels, labels as indices into ``class_names``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .errors import SourceError
from .video import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    width: int  # 0 when unknown until decoded
    height: int
    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2 pixels
    labels: np.ndarray  # (n,) int64


@dataclass(frozen=True)
class DetectionDataset:
    records: tuple[ImageRecord, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_boxes(self) -> int:
        return sum(len(r.labels) for r in self.records)


def _clean_boxes(boxes: list[list[float]], labels: list[int], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    if width and height:
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    keep = (b[:, 2] - b[:, 0] > 1) & (b[:, 3] - b[:, 1] > 1)
    return b[keep], lab[keep]


def _used_categories(data: dict) -> list[dict]:
    """COCO categories minus exporter placeholders.

    Some exporters (Roboflow) add a category named after the dataset, e.g. id 0
    "objects", which is every other category's supercategory and labels no box.
    Such a category is dropped; a real category with no boxes in this split is kept,
    so train and val splits agree on the class list.
    """
    used = {a["category_id"] for a in data.get("annotations", [])}
    supers = {c.get("supercategory") for c in data["categories"]}
    return [c for c in data["categories"] if c["id"] in used or c["name"] not in supers]


def load_coco(annotations: str | Path, images_dir: str | Path) -> DetectionDataset:
    annotations, images_dir = Path(annotations), Path(images_dir)
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
        categories = sorted(_used_categories(data), key=lambda c: c["id"])
        images = data["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{annotations.name} is not a readable COCO annotation file ({exc})") from None
    if not images_dir.is_dir():
        raise SourceError(f"images folder not found: {images_dir} (the folder the file names in {annotations.name} "
                          "are relative to)")
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    per_image: dict[int, tuple[list, list]] = {img["id"]: ([], []) for img in images}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd", 0) or ann["category_id"] not in index_of or ann["image_id"] not in per_image:
            continue
        x, y, w, h = ann["bbox"]
        per_image[ann["image_id"]][0].append([x, y, x + w, y + h])
        per_image[ann["image_id"]][1].append(index_of[ann["category_id"]])
    records = []
    for img in images:
        boxes, labels = _clean_boxes(*per_image[img["id"]], img.get("width", 0), img.get("height", 0))
        records.append(ImageRecord(images_dir / img["file_name"], img.get("width", 0), img.get("height", 0), boxes, labels))
    return DetectionDataset(tuple(records), tuple(c["name"] for c in categories))


def _yolo_class_names(root: Path) -> tuple[str, ...]:
    for name in ("data.yaml", "dataset.yaml"):
        path = root / name
        if path.is_file():
            names = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("names")
            if isinstance(names, dict):
                return tuple(str(names[k]) for k in sorted(names))
            if isinstance(names, list):
                return tuple(str(n) for n in names)
    path = root / "classes.txt"
    if path.is_file():
        return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    raise SourceError(f"{root}: YOLO dataset needs class names in data.yaml ('names') or classes.txt")


def load_yolo(root: str | Path, split: str = "train") -> DetectionDataset:
    """``root/images/<split>/*.jpg`` with ``root/labels/<split>/*.txt`` (class cx cy w h, normalised)."""
    import cv2

    root = Path(root)
    images_dir = root / "images" / split if (root / "images" / split).is_dir() else root / "images"
    labels_dir = root / "labels" / split if (root / "labels" / split).is_dir() else root / "labels"
    if not images_dir.is_dir():
        raise SourceError(f"{root}: no images/ folder")
    names = _yolo_class_names(root)
    records = []
    for image_path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        h, w = image.shape[:2]
        boxes, labels = [], []
        label_path = labels_dir / f"{image_path.stem}.txt"
        if label_path.is_file():
            for line in label_path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) != 5:
                    continue
                c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
                boxes.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
                labels.append(c)
        b, lab = _clean_boxes(boxes, labels, w, h)
        records.append(ImageRecord(image_path, w, h, b, lab))
    return DetectionDataset(tuple(records), names)


def load_voc(root: str | Path, image_set: str | None = None) -> DetectionDataset:
    """Pascal VOC layout: ``Annotations/*.xml`` and ``JPEGImages/``; class names are those found in the XML."""
    root = Path(root)
    ann_dir, img_dir = root / "Annotations", root / "JPEGImages"
    if not ann_dir.is_dir():
        raise SourceError(f"{root}: no Annotations/ folder")
    xml_files = sorted(ann_dir.glob("*.xml"))
    if image_set:
        ids = (root / "ImageSets" / "Main" / f"{image_set}.txt").read_text().split()
        xml_files = [ann_dir / f"{i}.xml" for i in ids]
    parsed = []
    for xml_path in xml_files:
        tree = ET.parse(xml_path).getroot()
        size = tree.find("size")
        w = int(size.findtext("width", "0")) if size is not None else 0
        h = int(size.findtext("height", "0")) if size is not None else 0
        objects = []
        for obj in tree.findall("object"):
            if obj.findtext("difficult", "0").strip() == "1":
                continue
            bb = obj.find("bndbox")
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            box[0] -= 1  # VOC pixel indices are 1-based and inclusive
            box[1] -= 1
            objects.append((obj.findtext("name").strip(), box))
        filename = tree.findtext("filename") or f"{xml_path.stem}.jpg"
        parsed.append((img_dir / filename, w, h, objects))
    names = tuple(sorted({name for *_, objs in parsed for name, _ in objs}))
    index_of = {n: i for i, n in enumerate(names)}
    records = []
    for path, w, h, objects in parsed:
        b, lab = _clean_boxes([o[1] for o in objects], [index_of[o[0]] for o in objects], w, h)
        records.append(ImageRecord(path, w, h, b, lab))
    return DetectionDataset(tuple(records), names)


def load_dataset(spec: str | Path, images: str | Path | None = None) -> DetectionDataset:
    """Guess the format: a ``.json`` file is COCO (needs ``images``), a folder with
    ``Annotations/`` is VOC, a folder with ``images/`` is YOLO."""
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"dataset not found: {path}")
    if path.suffix == ".json":
        if images is None:
            raise SourceError("a COCO dataset needs --images DIR as well")
        return load_coco(path, images)
    if (path / "Annotations").is_dir():
        return load_voc(path)
    if (path / "images").is_dir():
        return load_yolo(path)
    raise SourceError(f"{path}: not a COCO .json, a VOC folder (Annotations/) or a YOLO folder (images/, labels/)")
