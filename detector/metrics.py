"""COCO-style mAP from in-memory boxes, via faster-coco-eval (a maintained, faster pycocotools).

Used by ``detector val`` and by the trainer's periodic evaluation, so both
report the same numbers.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassAP:
    name: str
    ap50: float
    ap50_95: float
    num_gt: int


@dataclass(frozen=True)
class MapResult:
    """COCO-style mAP over a dataset and each class's AP: what ``val`` prints and the model card quotes."""

    map50: float
    map50_95: float
    images: int
    per_class: tuple[ClassAP, ...]

    def to_dict(self) -> dict:
        return {
            "map50": round(self.map50, 4),
            "map50_95": round(self.map50_95, 4),
            "images": self.images,
            "per_class": {c.name: {"ap50": round(c.ap50, 4), "ap50_95": round(c.ap50_95, 4), "gt": c.num_gt} for c in self.per_class},
        }

    def table(self) -> str:
        """Per-class AP as aligned text, for terminals and the model card."""
        width = max([len(c.name) for c in self.per_class] + [5])
        lines = [f"{'class':<{width}}  {'gt':>5}  {'AP50':>6}  {'AP50-95':>7}"]
        lines += [f"{c.name:<{width}}  {c.num_gt:>5}  {c.ap50:>6.3f}  {c.ap50_95:>7.3f}" for c in self.per_class]
        lines.append(f"{'all':<{width}}  {sum(c.num_gt for c in self.per_class):>5}  {self.map50:>6.3f}  {self.map50_95:>7.3f}")
        return "\n".join(lines)


def compute_map(
    ground_truth: list[tuple[np.ndarray, np.ndarray]],
    predictions: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    class_names: tuple[str, ...] | list[str],
    ignored: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> MapResult:
    """``ground_truth[i] = (boxes (n, 4) xyxy, labels (n,))``;
    ``predictions[i] = (boxes (m, 4) xyxy, scores (m,), labels (m,))``, same image order.
    ``ignored[i] = (boxes, labels)``: regions where a detection is neither right nor wrong
    (COCO crowds, VOC "difficult" objects), scored as COCO scores crowds: a detection whose area lies
    inside one by at least the IoU threshold is ignored (the VOC devkit asks for IoU with a "difficult"
    object, so a small box inside one is a false positive there, and ignored here).

    mAP averages over classes that have at least one ground-truth box, with COCO's own settings: the best 100
    detections of each class in an image count (it kept 300; the score moved by 2e-5 on VOC val).
    """
    from faster_coco_eval import COCO, COCOeval_faster

    if len(ground_truth) != len(predictions) or (ignored is not None and len(ignored) != len(predictions)):
        raise ValueError("ground truth and predictions cover different numbers of images")
    nothing_ignored = (np.zeros((0, 4)), np.zeros(0, np.int64))
    images, annotations, results = [], [], []
    for image_id, ((gt_boxes, gt_labels), (boxes, scores, labels)) in enumerate(zip(ground_truth, predictions)):
        images.append({"id": image_id, "width": 1, "height": 1})
        crowd_boxes, crowd_labels = ignored[image_id] if ignored is not None else nothing_ignored
        for crowd, truth_boxes, truth_labels in ((0, gt_boxes, gt_labels), (1, crowd_boxes, crowd_labels)):
            for box, label in zip(np.asarray(truth_boxes, np.float64).reshape(-1, 4),
                                  np.asarray(truth_labels).reshape(-1)):
                w, h = box[2] - box[0], box[3] - box[1]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                    "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": crowd})
        for box, score, label in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores).reshape(-1),
                                     np.asarray(labels).reshape(-1)):
            results.append({"image_id": image_id, "category_id": int(label),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "score": float(score)})
    categories = [{"id": i, "name": n} for i, n in enumerate(class_names)]
    num_gt = np.bincount([a["category_id"] for a in annotations if not a["iscrowd"]], minlength=len(class_names))
    if not num_gt.any():
        return MapResult(0.0, 0.0, len(images), tuple(ClassAP(n, 0.0, 0.0, 0) for n in class_names))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO({"images": images, "annotations": annotations, "categories": categories})
        dt = gt.loadRes(results) if results else None
        if dt is None:
            return MapResult(0.0, 0.0, len(images), tuple(ClassAP(n, 0.0, 0.0, int(num_gt[i])) for i, n in enumerate(class_names)))
        evaluator = COCOeval_faster(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = np.asarray(evaluator.eval["precision"])  # (iou thresholds, recall, classes, areas, max dets)
    rows = []
    for k, name in enumerate(class_names):
        p = precision[:, :, k, 0, -1]
        ap_per_iou = [float(np.mean(p[t][p[t] > -1])) if (p[t] > -1).any() else 0.0 for t in range(p.shape[0])]
        rows.append(ClassAP(name, ap_per_iou[0], float(np.mean(ap_per_iou)), int(num_gt[k])))
    present = [r for r in rows if r.num_gt > 0]
    return MapResult(
        map50=float(np.mean([r.ap50 for r in present])),
        map50_95=float(np.mean([r.ap50_95 for r in present])),
        images=len(images),
        per_class=tuple(rows),
    )
