"""COCO-style mAP of a predictor on a dataset (a COCO JSON file, or any set ``detector.datasets`` reads).

Scoring is ``detector.metrics.compute_map``, the same function the trainer's
periodic evaluation uses, so ``detector val`` and training logs agree. Model
classes are matched to dataset categories by name, not by id, because
exporters number categories differently (VOC-as-COCO has a box-less
placeholder at id 0). Only categories that have boxes and a model class of the
same name are scored; the rest are reported as unmatched. Crowd annotations
are ignore regions, as COCO scores them: a detection on one is neither right nor wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .classes import normalise_class_name
from .datasets import NO_BOXES_HINT, DetectionDataset, coco_image_path, read_annotated_image, read_coco_file
from .errors import ModelError, SourceError
from .metrics import MapResult, compute_map
from .progress import Progress
from .types import Prediction


class BatchPredictor(Protocol):
    """What evaluation needs from a predictor (``detector.Predictor`` is one)."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def predict_batch(self, frames: Sequence[np.ndarray], *, conf: float, iou: float, max_det: int,
                      multi_label: bool) -> list[Prediction]: ...


@dataclass(frozen=True)
class EvalResult(MapResult):
    """``MapResult`` (map50, map50_95, images, per_class rows, ``table()``) plus what was not scored."""

    unmatched_classes: tuple[str, ...] = ()  # dataset categories with boxes but no model class of that name

    def to_dict(self) -> dict:
        return {**super().to_dict(), "unmatched_classes": list(self.unmatched_classes)}


def match_by_name(class_names: Sequence[str],
                  annotated: Sequence[tuple[int, str]]) -> tuple[dict[int, int], tuple[str, ...]]:
    """Model class index -> dataset class id, by normalised name, over the dataset's classes that have boxes
    (``annotated``: their ids and names). Returns the mapping and the names no model class matches."""
    by_name: dict[str, int] = {}
    for class_id, name in annotated:
        by_name.setdefault(normalise_class_name(name), class_id)
    mapping: dict[int, int] = {}
    for index, name in enumerate(class_names):
        class_id = by_name.get(normalise_class_name(name))
        if class_id is not None and class_id not in mapping.values():
            mapping[index] = class_id
    unmatched = tuple(name for class_id, name in annotated if class_id not in mapping.values())
    if not mapping:
        raise ModelError(f"none of the model's classes ({_few(class_names)}) match the dataset's classes "
                         f"({_few(unmatched)})")
    return mapping, unmatched


def nothing_to_score(image_count: int) -> SourceError:
    """The error for a set without a single box; said before the class check, whose "dataset's classes ()" hid why."""
    return SourceError(f"the dataset's {image_count} images hold no boxes, so there is nothing to score "
                       f"{NO_BOXES_HINT}")


def check_coco_has_boxes(data: dict) -> None:
    """Refuse a COCO file whose images hold no box (the CLI asks before the model loads); crowd regions
    are not boxes to find (they are scored as ignored)."""
    if not any(not ann.get("iscrowd", 0) for ann in data["annotations"]):
        raise nothing_to_score(len(data["images"]))


def match_categories(class_names: Sequence[str], data: dict) -> tuple[dict[int, int], tuple[str, ...]]:
    """``match_by_name`` over a COCO file's categories that have boxes (model class index -> category id)."""
    annotated = {ann.get("category_id") for ann in data["annotations"]}
    return match_by_name(class_names, [(c["id"], str(c.get("name", ""))) for c in data["categories"]
                                       if c.get("id") in annotated])


@dataclass(frozen=True)
class EvalSettings:
    """How the model runs for mAP. Low ``conf`` and multi-label candidates are what mAP rewards
    (a live view wants the opposite), so the defaults differ from ``predict``'s."""

    conf: float = 0.001
    iou: float = 0.6
    max_det: int = 300
    max_images: int | None = None  # score only the first N images
    batch: int = 1  # images per network call
    progress: bool = False  # a progress bar on stderr


@dataclass(frozen=True)
class _Truth:
    """One image to score: where it is and its boxes, labelled with compact (scored) class indices."""

    path: Path
    width: int  # the size its annotations state, 0 when unknown (see ``read_annotated_image``)
    height: int
    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2 pixels
    labels: np.ndarray  # (n,) int64
    ignored_boxes: np.ndarray  # (k, 4): crowds and "difficult" objects, neither found nor missed
    ignored_labels: np.ndarray  # (k,) int64


def evaluate_coco(predictor: BatchPredictor, annotations: str | Path, images_dir: str | Path,
                  settings: EvalSettings = EvalSettings(), *, data: dict | None = None) -> EvalResult:
    """Run ``predictor`` on every image listed in ``annotations`` and score it with COCO mAP.

    ``data``: the file as ``read_coco_file`` returned it, where the caller checked it already (the CLI does,
    before the model loads; a COCO file can be tens of MB).
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise SourceError(f"images folder not found: {images_dir}")
    if data is None:
        data = read_coco_file(annotations)
    check_coco_has_boxes(data)
    mapping, unmatched = match_categories(predictor.class_names, data)
    images = sorted(data["images"], key=lambda im: im["id"])
    if settings.max_images is not None:
        images = images[: max(0, int(settings.max_images))]
    if not images:
        raise SourceError(f"{Path(annotations).name} lists no images")

    scored = sorted(mapping)  # model class indices that have a dataset category
    category_to_compact = {mapping[i]: k for k, i in enumerate(scored)}
    truth_by_image: dict[int, list[tuple[list[float], int]]] = {}
    crowds_by_image: dict[int, list[tuple[list[float], int]]] = {}  # scored as COCO scores them: ignored
    for ann in data["annotations"]:
        k = category_to_compact.get(ann.get("category_id"))
        if k is not None:
            x, y, w, h = (float(v) for v in ann["bbox"])
            rows = crowds_by_image if ann.get("iscrowd", 0) else truth_by_image
            rows.setdefault(ann["image_id"], []).append(([x, y, x + w, y + h], k))
    if not any(image["id"] in truth_by_image for image in images):
        raise SourceError("the evaluated images hold no boxes of the model's classes")
    truths = []
    for image in images:
        path = coco_image_path(images_dir, str(image["file_name"]))
        if not path.is_file():
            raise SourceError(f"image {image['file_name']} (listed in {Path(annotations).name}) is not in {images_dir}")
        truths.append(_Truth(path, int(image.get("width") or 0), int(image.get("height") or 0),
                             *_as_arrays(truth_by_image.get(image["id"], [])),
                             *_as_arrays(crowds_by_image.get(image["id"], []))))
    return _score(predictor, truths, scored, unmatched, settings)


def evaluate_dataset(predictor: BatchPredictor, dataset: DetectionDataset,
                     settings: EvalSettings = EvalSettings()) -> EvalResult:
    """``evaluate_coco`` for a YOLO or VOC split (or any ``DetectionDataset``): classes matched by name."""
    present = sorted({int(c) for record in dataset.records for c in record.labels})
    if not present:
        raise nothing_to_score(len(dataset.records))
    mapping, unmatched = match_by_name(predictor.class_names, [(c, dataset.class_names[c]) for c in present])
    records = dataset.records if settings.max_images is None else dataset.records[: max(0, int(settings.max_images))]
    if not records:
        raise SourceError("the dataset holds no images")
    scored = sorted(mapping)
    compact = {mapping[i]: k for k, i in enumerate(scored)}  # dataset class index -> compact index

    def scored_only(boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = np.isin(labels, list(compact))
        return (boxes[keep].astype(np.float64).reshape(-1, 4),
                np.array([compact[int(c)] for c in labels[keep]], np.int64))

    truths = []
    for record in records:
        truths.append(_Truth(record.path, record.width, record.height, *scored_only(record.boxes, record.labels),
                             *scored_only(record.ignored_boxes, record.ignored_labels)))
    if not any(len(t.labels) for t in truths):
        raise SourceError("the evaluated images hold no boxes of the model's classes")
    return _score(predictor, truths, scored, unmatched, settings)


def _as_arrays(rows: Sequence[tuple[Sequence[float], int]]) -> tuple[np.ndarray, np.ndarray]:
    """``[(box, label), …]`` as boxes (n, 4) float64 and labels (n,) int64."""
    return (np.array([box for box, _ in rows], np.float64).reshape(-1, 4),
            np.array([label for _, label in rows], np.int64))


def _few(names: Sequence[str]) -> str:
    return ", ".join(list(names)[:5]) + ("…" if len(names) > 5 else "")


def _score(predictor: BatchPredictor, truths: list[_Truth], scored: list[int], unmatched: tuple[str, ...],
           settings: EvalSettings) -> EvalResult:
    """Run the model over the images and score its detections of the ``scored`` model classes."""
    compact = {model_index: k for k, model_index in enumerate(scored)}
    ground_truth, ignored, predictions = [], [], []
    batch = max(1, int(settings.batch))
    with Progress(len(truths), desc="val", unit="img", enabled=settings.progress) as bar:
        for start in range(0, len(truths), batch):
            chunk = truths[start:start + batch]
            images = [read_annotated_image(t.path, t.width, t.height) for t in chunk]
            results = predictor.predict_batch(images, conf=settings.conf, iou=settings.iou, max_det=settings.max_det,
                                              multi_label=True)
            for truth, prediction in zip(chunk, results):
                ground_truth.append((truth.boxes, truth.labels))
                ignored.append((truth.ignored_boxes, truth.ignored_labels))
                det = prediction.detections
                keep = np.isin(det.class_ids, scored)
                predictions.append((det.boxes[keep], det.scores[keep],
                                    np.array([compact[int(c)] for c in det.class_ids[keep]], np.int64)))
            bar.update(len(chunk))

    scores = compute_map(ground_truth, predictions, tuple(predictor.class_names[i] for i in scored), ignored)
    return EvalResult(
        map50=scores.map50,
        map50_95=scores.map50_95,
        images=scores.images,
        per_class=tuple(row for row in scores.per_class if row.num_gt > 0),
        unmatched_classes=unmatched,
    )


def format_table(result: MapResult) -> str:
    """Per-class AP table for people (the CLI prints it on stderr)."""
    return result.table()
