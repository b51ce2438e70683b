"""Read detection datasets into one in-memory index: COCO JSON, YOLO (a folder or a data.yaml), Pascal VOC XML.

Class names always come from the data. Boxes are stored as x1, y1, x2, y2 in
image pixels, labels as indices into ``class_names``.

YOLO and VOC datasets hold several splits in one place (``images/train`` and
``images/val``; ``ImageSets/Main/val.txt``), so every reader takes the split to
read: reading a whole folder for validation would score a model on the images
it was trained on. A COCO file is one split already. A folder without splits is
read whole, whatever split is asked for.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import yaml

from .classes import normalise_class_name
from .errors import SourceError
from .video import IMAGE_SUFFIXES, read_image


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset: where it is, its size when known, and its boxes."""

    path: Path
    width: int  # 0 when unknown until decoded
    height: int
    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2 pixels
    labels: np.ndarray  # (n,) int64
    # Regions scored as neither found nor missed, and not trained on: COCO "iscrowd" crowds and VOC
    # "difficult" objects, both scored as COCO scores crowds (dropping them would make a detection there a
    # false positive; the VOC devkit matches "difficult" ones by IoU, not by the detection's area inside).
    ignored_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    ignored_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass(frozen=True)
class DetectionDataset:
    records: tuple[ImageRecord, ...]
    class_names: tuple[str, ...]
    split: str = ""  # the split read; "" when the source has none (a COCO file, a folder without splits)
    dropped_boxes: int = 0  # boxes left out for being at most a pixel wide or tall inside their image (x2 <= x1, off it)
    unlisted: int = 0  # COCO annotations of images the file does not list (a subset made by cutting 'images' short)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_boxes(self) -> int:
        return sum(len(r.labels) for r in self.records)


NO_BOXES_HINT = "(a YOLO dataset keeps images/NAME.jpg's boxes in labels/NAME.txt; a COCO file, in its annotations)"
YOLO_COORD_SLACK = 0.01  # labels a rounding past 0 or 1 (1.0004): accepted, as other tools accept them


def dropped_boxes_warning(dataset: DetectionDataset) -> str | None:
    """The line that says boxes were left out (a VOC box with xmax < xmin, a YOLO box off the image): they changed
    the score, or what is learnt, without a word."""
    n = dataset.dropped_boxes
    lines = [unlisted_warning(dataset.unlisted)] if dataset.unlisted else []
    if n:
        lines.append(f"warning: {n} box{'es' if n > 1 else ''} at most a pixel wide or tall inside "
                     f"{'their' if n > 1 else 'its'} image {'were' if n > 1 else 'was'} left out (x2 - x1 or y2 - y1 "
                     "at most 1 px once clipped to the image)")
    return "\n".join(lines) or None


def unlisted_annotations(data: dict) -> int:
    """How many of a COCO file's annotations are of images its 'images' does not list."""
    listed = {image["id"] for image in data["images"]}
    return sum(ann["image_id"] not in listed for ann in data["annotations"])


def unlisted_warning(count: int) -> str:
    """A subset made by cutting 'images' short keeps every annotation: they are left out, as pycocotools leaves
    them out, but said (they were left out without a word)."""
    return (f"warning: {count} annotation{'s are' if count > 1 else ' is'} of images the file does not list: "
            "left out")


def read_annotated_image(path: Path, width: int = 0, height: int = 0) -> np.ndarray:
    """The image as its boxes were drawn on: upright as its EXIF orientation says (what viewers,
    browsers and most labelling tools show), unless the size the annotations state (``width`` x
    ``height``, 0 when unknown) is that of the stored pixels, which some tools label instead.
    """
    image = read_image(path)
    if width and height and width != height and image.shape[:2] == (width, height):  # turned a quarter
        return read_image(path, upright=False)
    return image


def _clean_boxes(boxes: list[list[float]], labels: list[int], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The boxes clipped to the image, less those left at most a pixel wide or tall (a reversed box, one off the image)."""
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
    so train and val splits agree on the class list (COCO's "person" is its own supercategory:
    only another category's supercategory counts).
    """
    used = {a["category_id"] for a in data.get("annotations", [])}
    supers = {c.get("supercategory") for c in data["categories"] if c.get("supercategory") != c["name"]}
    return [c for c in data["categories"] if c["id"] in used or c["name"] not in supers]


def coco_image_path(images_dir: Path, file_name: str) -> Path:
    """``file_name`` as given (it may hold sub-folders), else its bare name inside ``images_dir``:
    exporters write ``train/0001.jpg`` or ``0001.jpg`` for the same layout."""
    path = images_dir / file_name
    return path if path.is_file() else images_dir / Path(file_name).name


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value) -> bool:
    """A COCO id: a whole number (JSON true and false are not, though Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _image_id(value) -> bool:
    """An image id: a whole number, or text (some exporters name images by a text id)."""
    return _whole(value) or isinstance(value, str)


def _coco_problem(data) -> str | None:
    """What makes ``data`` unusable as a COCO detection file, naming the first bad entry; None if it is usable."""
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations",
                                                                                       "categories")):
        return "is not a COCO detection file (needs 'images', 'annotations' and 'categories' lists)"
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            return f"image #{i + 1} lacks an 'id' or a 'file_name'"
        if not _image_id(image["id"]) or type(image["id"]) is not type(data["images"][0].get("id")):
            return f"image #{i + 1} ({image['file_name']}) has an 'id' that is not a whole number (or text, as all are)"
        if not all(_number(image.get(side, 0) or 0) and math.isfinite(image.get(side, 0) or 0)
                   for side in ("width", "height")):
            return f"image #{i + 1} ({image['file_name']}) has a width or height that is not a number"
    for i, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or not isinstance(category.get("name"), str):
            return f"category #{i + 1} lacks a 'name'"
        if not _whole(category.get("id")):
            return f"category #{i + 1} ({category['name']}) lacks a whole-number 'id'"
    category_ids = {category["id"] for category in data["categories"]}
    image_ids = set()
    for i, image in enumerate(data["images"]):  # one id for two images gave each the other's boxes too
        if image["id"] in image_ids:
            first = next(other["file_name"] for other in data["images"] if other["id"] == image["id"])
            return f"image #{i + 1} ({image['file_name']}) has the id {image['id']!r} of an earlier image ({first})"
        image_ids.add(image["id"])
    image_texts = {str(image_id) for image_id in image_ids}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "category_id" not in ann:
            return f"annotation #{i + 1} lacks an 'image_id' or a 'category_id'"
        if not (_image_id(ann["image_id"]) and _whole(ann["category_id"])):
            return f"annotation #{i + 1} (id {ann.get('id', '?')}) has an 'image_id' or 'category_id' that is not " \
                   "a whole number"
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            return f"annotation #{i + 1} (id {ann.get('id', '?')}) has no 'bbox' of 4 numbers [x, y, width, height]"
        if ann["image_id"] not in image_ids and str(ann["image_id"]) in image_texts:  # "1" for 1: every box lost
            return f"annotation #{i + 1} (id {ann.get('id', '?')}) names image_id {ann['image_id']!r}, a " \
                   f"{type(ann['image_id']).__name__}, where the images' ids are {type(data['images'][0]['id']).__name__}s"
        # left out without a word: a box fewer to train on, and a score over fewer boxes than the file has
        if ann["category_id"] not in category_ids:
            return f"annotation #{i + 1} (id {ann.get('id', '?')}) has category_id {ann['category_id']}, which " \
                   "'categories' does not list"
    return None


def read_coco_file(path: str | Path) -> dict:
    """Read a COCO detection file and check every entry LiveDet reads; problems become one-line ``SourceError``s
    that name the entry, so a hand-edited or half-exported file is never an internal error."""
    path = Path(path)
    if path.is_dir():
        raise SourceError(f"{path} is a folder: give the COCO .json file itself (a COCO, YOLO or VOC folder goes "
                          "to --data)")
    if not path.is_file():
        raise SourceError(f"annotations file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:  # a video or an image given by mistake: the codec's byte offsets mean nothing here
        raise SourceError(f"{path.name} is not a COCO .json file (it is not text)") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        if not exc.doc.strip():  # "line 1: Expecting value" said nothing of an export that wrote nothing
            raise SourceError(f"{path.name} is empty") from None
        raise SourceError(f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:  # "[[[[…" nested deeper than Python's parser goes: no COCO file is
        raise SourceError(f"{path.name}: is not a COCO detection file (nested {sys.getrecursionlimit()}+ deep)") from None
    problem = _coco_problem(data)
    if problem is not None:
        raise SourceError(f"{path.name}: {problem}")
    return data


def load_coco(annotations: str | Path, images_dir: str | Path) -> DetectionDataset:
    """A COCO JSON file and the folder its ``file_name``s are in (crowds become ignored regions)."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    data = read_coco_file(annotations)
    categories = sorted(_used_categories(data), key=lambda c: c["id"])
    images = data["images"]
    if not images_dir.is_dir():
        raise SourceError(f"images folder not found: {images_dir} (the folder the file names in {annotations.name} "
                          "are relative to)")
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    per_image: dict[int, tuple[list, list, list, list]] = {img["id"]: ([], [], [], []) for img in images}
    for ann in data["annotations"]:
        if ann["category_id"] not in index_of or ann["image_id"] not in per_image:
            continue
        x, y, w, h = ann["bbox"]
        crowd = 2 if ann.get("iscrowd", 0) else 0  # crowds go to the ignored regions
        per_image[ann["image_id"]][crowd].append([x, y, x + w, y + h])
        per_image[ann["image_id"]][crowd + 1].append(index_of[ann["category_id"]])
    records, dropped = [], 0
    for img in images:
        width, height = int(img.get("width") or 0), int(img.get("height") or 0)
        boxes, labels, crowd_boxes, crowd_labels = per_image[img["id"]]
        kept = _clean_boxes(boxes, labels, width, height)
        dropped += len(labels) - len(kept[1])
        records.append(ImageRecord(coco_image_path(images_dir, img["file_name"]), width, height, *kept,
                                   *_clean_boxes(crowd_boxes, crowd_labels, width, height)))
    return DetectionDataset(tuple(records), tuple(c["name"] for c in categories), dropped_boxes=dropped,
                            unlisted=unlisted_annotations(data))


def _yolo_class_names(root: Path) -> tuple[str, ...]:
    for name in ("data.yaml", "dataset.yaml"):
        path = root / name
        if path.is_file():
            return _names_from_yaml(_read_yaml(path), path)
    path = root / "classes.txt"
    if path.is_file():
        return tuple(line.strip() for line in _read_text(path).splitlines() if line.strip())
    raise SourceError(f"{root}: YOLO dataset needs class names in data.yaml ('names') or classes.txt")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceError(f"{path.name} is not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path.name} is not a YOLO data.yaml (expected keys such as 'train', 'val', 'names')")
    return data


def _names_from_yaml(data: dict, path: Path) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict):  # {0: person, 1: car}: label lines use these indices, so they must be 0..n-1
        try:
            indices = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            indices = []
        if indices != list(range(len(names))):
            raise SourceError(f"{path.name}: the keys of 'names' must be the class indices 0 to {len(names) - 1}")
        return tuple(str(names.get(i, names.get(str(i)))) for i in indices)
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise SourceError(f"{path.name} has no class names (a 'names' list, or a mapping from class index to name)")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path.name} as text ({exc})") from None


def _label_path(image_path: Path) -> Path:
    """YOLO's rule: the label file sits where the image does, with the last ``images`` folder
    read as ``labels`` (``ds/images/val/a.jpg`` -> ``ds/labels/val/a.txt``)."""
    parts = list(image_path.with_suffix(".txt").parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts)


def _parse_yolo_labels(label_path: Path, num_classes: int, w: int, h: int) -> tuple[list, list]:
    """``class cx cy w h`` per line (normalised), or a segmentation polygon ``class x1 y1 x2 y2 ...``,
    whose box is the polygon's extent."""
    boxes, labels = [], []
    for number, line in enumerate(_read_text(label_path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        # labels/val/x.txt, not x.txt: a train and a val file may share a name
        where = f"{Path(label_path.parent.parent.name, label_path.parent.name, label_path.name)}, line {number}"
        try:
            values = [float(v) for v in parts]
        except ValueError:
            values = []
        if len(values) == 5:
            c, cx, cy, bw, bh = values
            box = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
        elif len(values) >= 7 and len(values) % 2:
            c, xs, ys = values[0], values[1::2], values[2::2]
            box = [min(xs), min(ys), max(xs), max(ys)]
        else:
            raise SourceError(f"{where}: expected 'class x_center y_center width height' (normalised 0-1) "
                              f"or a polygon 'class x1 y1 x2 y2 ...', got {line.strip()[:60]!r}")
        if not (c.is_integer() and 0 <= c < num_classes):
            raise SourceError(f"{where}: class {parts[0]}, but the dataset names {num_classes} classes "
                              f"(0-{num_classes - 1})")
        if not all(-YOLO_COORD_SLACK <= v <= 1 + YOLO_COORD_SLACK for v in values[1:]):  # clipped, a pixel
            # box became the whole image (or a sliver, dropped): say so, as Ultralytics does
            raise SourceError(f"{where}: coordinates outside 0-1, got {line.strip()[:60]!r}: YOLO labels are "
                              "fractions of the image's width and height, not pixels")
        boxes.append([box[0] * w, box[1] * h, box[2] * w, box[3] * h])
        labels.append(int(c))
    return boxes, labels


def _read_yolo_images(image_paths: list[Path], names: tuple[str, ...], split: str,
                      on_skip: Callable[[str], None] | None) -> DetectionDataset:
    records, dropped = [], 0
    for image_path in image_paths:
        try:
            image = read_image(image_path)  # its size turns normalised boxes into pixels; any path, even non-ASCII
        except SourceError as exc:
            if on_skip is not None:
                on_skip(str(exc))
            continue
        h, w = image.shape[:2]
        label_path = _label_path(image_path)
        boxes, labels = _parse_yolo_labels(label_path, len(names), w, h) if label_path.is_file() else ([], [])
        b, lab = _clean_boxes(boxes, labels, w, h)
        dropped += len(labels) - len(lab)
        records.append(ImageRecord(image_path, w, h, b, lab))
    return DetectionDataset(tuple(records), names, split, dropped_boxes=dropped)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_image(p))


_SPLIT_NAME = re.compile(r"(train|training|trainval|val|valid|validation|test|testing)([-_]?\d+)?", re.IGNORECASE)


def _looks_like_a_split(folder: str) -> bool:
    """``train``, ``val``, ``valid``, ``test``, ``training``/``testing`` (KITTI), ``train2017``, ``val_2012``: a
    split's name, not a category's (``cats``, ``trains``, ``valuables``)."""
    return bool(_SPLIT_NAME.fullmatch(folder))


def _splits_of(images_dir: Path) -> list[str]:
    """The sub-folders of ``images/`` that hold images (``train``, ``val``, ...), not stray or hidden ones.
    One image is enough to tell: the chosen split is listed in full once, afterwards."""
    return sorted(d.name for d in images_dir.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and any(_is_image(p) for p in d.rglob("*")))


def load_yolo(root: str | Path, split: str = "train", on_skip: Callable[[str], None] | None = None) -> DetectionDataset:
    """``root/images/<split>/*.jpg`` with ``root/labels/<split>/*.txt``; or ``root/images`` without splits."""
    root = Path(root)
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise SourceError(f"{root}: no images/ folder")
    names = _yolo_class_names(root)
    splits = _splits_of(images_dir)
    if not splits or (split not in splits and not any(_looks_like_a_split(name) for name in splits)):
        return _read_yolo_images(_images_in(images_dir), names, "", on_skip)  # images/cats, images/dogs: one set
    if split not in splits:
        raise SourceError(f"{root}: no images/{split} folder (its splits: {', '.join(splits)})")
    return _read_yolo_images(_images_in(images_dir / split), names, split, on_skip)


def _yaml_split_images(entry, root: Path, where: str) -> list[Path]:
    """A data.yaml split: a folder of images, a .txt listing image paths (relative to the list), or a list
    of either. Roboflow's exports write ``../train/images`` for the ``train/images`` beside the file, and
    Ultralytics reads that as such; so do we."""
    images: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        path = Path(str(item))
        path = path if path.is_absolute() else root / path
        if not path.exists() and str(item).startswith("../"):
            path = root / str(item)[3:]
        if path.is_dir():
            images += _images_in(path)
        elif path.suffix == ".txt" and path.is_file():
            for line in _read_text(path).splitlines():
                if line.strip():
                    listed = Path(line.strip())
                    # relative to where the list really is (its folder may be a link), but an image that is a link
                    # keeps its own folder, where labels/ is found: its folder resolved, not the image itself
                    images.append(listed if listed.is_absolute()
                                  else Path(os.path.normpath(path.parent.resolve() / listed)))
        else:
            raise SourceError(f"{where}: {path} is neither a folder of images nor a .txt list of them")
    return images


def load_yolo_yaml(path: str | Path, split: str = "train",
                   on_skip: Callable[[str], None] | None = None) -> DetectionDataset:
    """An Ultralytics-style ``data.yaml``: ``path`` (the root, relative to the file), ``train``,
    ``val``, ``test`` (folders or .txt lists under the root) and ``names``."""
    path = Path(path)
    data = _read_yaml(path)
    names = _names_from_yaml(data, path)
    root = Path(str(data.get("path") or "."))
    root = root if root.is_absolute() else path.parent / root
    if not data.get(split):
        splits = [key for key in ("train", "val", "test") if data.get(key)]
        raise SourceError(f"{path.name} has no '{split}' split (it has: {', '.join(splits) or 'none'})")
    return _read_yolo_images(_yaml_split_images(data[split], root, path.name), names, split, on_skip)


def _parse_voc_xml(xml_path: Path) -> tuple[str, int, int, list[tuple[str, list[float], bool]]]:
    """File name, width, height and the objects: (class name, box, difficult)."""
    try:
        tree = ET.parse(xml_path).getroot()
        size = tree.find("size")
        w = int(float(size.findtext("width", "0"))) if size is not None else 0
        h = int(float(size.findtext("height", "0"))) if size is not None else 0
        objects = []
        for obj in tree.findall("object"):
            bb = obj.find("bndbox")
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            box[0] -= 1  # VOC pixel indices are 1-based and inclusive
            box[1] -= 1
            objects.append((obj.findtext("name").strip(), box, obj.findtext("difficult", "0").strip() == "1"))
    except ET.ParseError as exc:
        raise SourceError(f"{xml_path.name} is not readable XML ({exc})") from None
    except (AttributeError, TypeError, ValueError):
        raise SourceError(f"{xml_path.name}: an <object> lacks a <name> or a numeric <bndbox> "
                          "(xmin, ymin, xmax, ymax)") from None
    return tree.findtext("filename") or f"{xml_path.stem}.jpg", w, h, objects


def _voc_image(img_dir: Path, filename: str, xml_stem: str) -> Path:
    """``JPEGImages/<filename>``; when no such file exists (some tools write the name without its extension, or
    another one), the image of that stem or of the XML's stem, as the VOC devkit finds it."""
    path = img_dir / filename
    if path.is_file():
        return path
    for stem in dict.fromkeys((Path(filename).name, Path(filename).stem, xml_stem)):
        for suffix in sorted(IMAGE_SUFFIXES):
            for candidate in (img_dir / f"{stem}{suffix}", img_dir / f"{stem}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
    return path  # reported as missing where it is read


def _voc_spellings(names: Sequence[str]) -> dict[str, str]:
    """Each name as written in the XML -> the class it names. Labelling tools let people type names, so
    "Person", "person" and "potted plant" / "pottedplant" turn up in one dataset: names that differ only in
    case, spaces or punctuation are one class, called by its most used spelling (lower case on a tie)."""
    counts = Counter(names)
    groups: dict[str, list[str]] = {}
    for spelling in counts:
        groups.setdefault(normalise_class_name(spelling), []).append(spelling)
    return {spelling: min(group, key=lambda n: (-counts[n], n != n.strip().lower(), n))
            for group in groups.values() for spelling in group}


def load_voc(root: str | Path, split: str = "train") -> DetectionDataset:
    """Pascal VOC layout: ``Annotations/*.xml``, ``JPEGImages/`` and, for splits, ``ImageSets/Main/<split>.txt``.

    Class names are those found in all the XML files, so every split agrees on them.
    """
    root = Path(root)
    ann_dir, img_dir, sets_dir = root / "Annotations", root / "JPEGImages", root / "ImageSets" / "Main"
    if not ann_dir.is_dir():
        raise SourceError(f"{root}: no Annotations/ folder")
    parsed = {xml_path.stem: _parse_voc_xml(xml_path) for xml_path in sorted(ann_dir.glob("*.xml"))}
    spelled_as = _voc_spellings([name for *_, objects in parsed.values() for name, _, _ in objects])
    names = tuple(sorted(set(spelled_as.values())))
    splits = sorted(p.stem for p in sets_dir.glob("*.txt") if "_" not in p.stem) if sets_dir.is_dir() else []
    ids, read_split = list(parsed), ""
    if splits:  # per-class lists (aeroplane_train.txt) are not splits
        if split not in splits:
            raise SourceError(f"{root}: no ImageSets/Main/{split}.txt (its splits: {', '.join(splits)})")
        ids, read_split = _read_text(sets_dir / f"{split}.txt").split(), split
        missing = [i for i in ids if i not in parsed]
        if missing:
            raise SourceError(f"ImageSets/Main/{split}.txt lists {missing[0]}, but Annotations/{missing[0]}.xml "
                              f"is missing ({len(missing)} such)")
    index_of = {spelling: names.index(name) for spelling, name in spelled_as.items()}
    records, dropped = [], 0
    for image_id in ids:
        filename, w, h, objects = parsed[image_id]
        plain = [(name, box) for name, box, difficult in objects if not difficult]
        difficult = [(name, box) for name, box, is_difficult in objects if is_difficult]  # ignored, scored as COCO crowds
        kept = _clean_boxes([b for _, b in plain], [index_of[n] for n, _ in plain], w, h)
        dropped += len(plain) - len(kept[1])
        records.append(ImageRecord(_voc_image(img_dir, filename, image_id), w, h, *kept,
                                   *_clean_boxes([b for _, b in difficult], [index_of[n] for n, _ in difficult], w, h)))
    return DetectionDataset(tuple(records), names, read_split, dropped_boxes=dropped)


COCO_PREFIX = "instances_"  # annotations/instances_train.json: how COCO and its exporters name a split's file


def is_coco_folder(path: Path) -> bool:
    """A COCO export's folder: ``annotations/instances_SPLIT.json`` files (and no YOLO ``labels/``)."""
    return (path / "annotations").is_dir() and not (path / "labels").is_dir() and any(
        (path / "annotations").glob(f"{COCO_PREFIX}*.json"))


def coco_folder_split(root: Path, split: str) -> tuple[Path, Path]:
    """The annotations file and images folder of one split of a COCO folder: ``annotations/instances_SPLIT.json``
    with ``images/SPLIT/`` (or ``SPLIT/`` beside ``annotations/``, as COCO 2017 ships)."""
    annotations = root / "annotations" / f"{COCO_PREFIX}{split}.json"
    if not annotations.is_file():
        splits = sorted(p.stem.removeprefix(COCO_PREFIX) for p in (root / "annotations").glob(f"{COCO_PREFIX}*.json"))
        raise SourceError(f"{root}: no annotations/{annotations.name} (its splits: {', '.join(splits)})")
    for images in (root / "images" / split, root / split):
        if images.is_dir():
            return annotations, images
    raise SourceError(f"{root}: no images/{split} folder for annotations/{annotations.name}")


def _data_yaml_in(folder: Path) -> Path | None:
    """The data.yaml of a folder laid out only by it (a Roboflow export: train/images, valid/images, which was
    'not a YOLO folder'), when it names the splits. A folder with images/, Annotations/ or annotations/ of its
    own is read by that layout, as before: its yaml's ``path:`` may name another copy of the data."""
    if not folder.is_dir() or any((folder / own).is_dir() for own in ("images", "Annotations", "annotations")):
        return None
    for spec in (folder / "data.yaml", folder / "data.yml"):
        if spec.is_file():
            try:
                data = _read_yaml(spec)
            except SourceError:
                return None  # the folder's reader names what is wrong with it
            return spec if any(data.get(split) for split in ("train", "val", "test")) else None
    return None


def has_split(spec: str | Path, split: str) -> bool:
    """Whether a dataset names this split itself (a YOLO split folder or yaml key, a VOC ImageSets list,
    a COCO folder's annotations file)."""
    path = Path(spec)
    path = _data_yaml_in(path) or path
    if is_coco_folder(path):
        return (path / "annotations" / f"{COCO_PREFIX}{split}.json").is_file()
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        try:
            return bool(_read_yaml(path).get(split))
        except SourceError:
            return False
    if (path / "Annotations").is_dir():
        return (path / "ImageSets" / "Main" / f"{split}.txt").is_file()
    return (path / "images" / split).is_dir()


def load_dataset(spec: str | Path, images: str | Path | None = None, split: str = "train",
                 on_skip: Callable[[str], None] | None = None) -> DetectionDataset:
    """Guess the format: a ``.json`` file is COCO (needs ``images``), a ``.yaml`` is a YOLO data.yaml (so is
    a folder holding only a ``data.yaml`` and the folders it names), a folder with
    ``annotations/instances_*.json`` is COCO too (``split`` picks the file), a folder with ``Annotations/``
    is VOC, a folder with ``images/`` is YOLO.

    ``on_skip`` hears why each image left out was left out: it does not decode (YOLO reads each image's size).
    """
    if not str(spec).strip():  # read as the folder "." it said ".: not a COCO .json, …"
        raise SourceError("the dataset path is empty: give a COCO .json (with --images), a YOLO data.yaml or "
                          "folder, or a VOC folder")
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"dataset not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        if images is None:
            raise SourceError("a COCO dataset needs --images DIR as well")
        return load_coco(path, images)
    if suffix in (".yaml", ".yml"):
        return load_yolo_yaml(path, split, on_skip)
    if (own_yaml := _data_yaml_in(path)) is not None:
        return load_yolo_yaml(own_yaml, split, on_skip)
    if is_coco_folder(path):
        return load_coco(*coco_folder_split(path, split))
    if (path / "Annotations").is_dir():
        return load_voc(path, split)
    if (path / "images").is_dir():
        return load_yolo(path, split, on_skip)
    raise SourceError(f"{path}: not a COCO .json or folder (annotations/instances_*.json), a YOLO data.yaml, "
                      "a VOC folder (Annotations/) or a YOLO folder (images/, labels/)")


def shared_images(a: DetectionDataset, b: DetectionDataset) -> int:
    """How many images two datasets share (by resolved path): validation images must not be training images."""
    return len({r.path.resolve() for r in a.records} & {r.path.resolve() for r in b.records})
