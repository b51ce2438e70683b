"""From decoded scores to final detections: floor -> top-k -> NMS -> max_det -> frame pixels.

Plain functions on host NumPy arrays, with declared defaults, so a threshold
change never touches the network. Every backend ends here: ONNX Runtime and
``TorchEngine`` hand back every anchor's decoded boxes and scores as NumPy, and
the CUDA fast path brings only its top-k candidate rows to the host. NMS is
OpenCV's (``cv2.dnn.NMSBoxesBatched``, already a dependency),
which keeps the same boxes as ``torchvision.ops.batched_nms`` (a test checks
that) without importing torch: on a CPU the app then starts in a fraction of
the time and a gigabyte less memory (see ``detector.onnx_cache``).
"""

from __future__ import annotations

from typing import Collection

import cv2
import numpy as np

from ..classes import class_indices
from ..defaults import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET, MIN_CONF
from ..errors import LiveDetError
from ..types import Candidates, Detections, LetterboxMeta

CANDIDATE_FLOOR = MIN_CONF  # candidates kept for later re-thresholding score this much at least (see candidate_floor)
CANDIDATE_TOP_K = 1000  # most boxes kept per frame before NMS: far above any frame's objects, and NMS stays cheap


def candidate_floor(conf: float) -> float:
    """The score a candidate needs to be kept: the lowest the app's slider can ask for later, so a slider
    move never needs the network again, or a lower ``conf`` asked for now (``val`` scores down to 0.001)."""
    return min(CANDIDATE_FLOOR, conf)

CandidateRows = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (M, 4) float32, scores (M,) float32, class ids (M,) int64


def select_candidates(
    boxes: np.ndarray,
    scores: np.ndarray,
    *,
    score_floor: float = CANDIDATE_FLOOR,
    top_k: int = CANDIDATE_TOP_K,
    multi_label: bool = False,
) -> CandidateRows:
    """One image's boxes (N, 4) and class scores (N, C) -> the best ``top_k`` (box, score, class), best first.

    Single-label keeps each box's best class (what a live view wants);
    multi-label keeps every (box, class) pair at or above the floor (what mAP rewards).
    """
    if multi_label:
        box_idx, class_ids = np.nonzero(scores >= score_floor)
        kept = scores[box_idx, class_ids]
    else:
        class_ids = scores.argmax(axis=1)  # the first maximum on ties
        kept = np.take_along_axis(scores, class_ids[:, None], axis=1)[:, 0]
        box_idx = np.flatnonzero(kept >= score_floor)
        kept, class_ids = kept[box_idx], class_ids[box_idx]
    if kept.size > top_k:
        best = np.argpartition(-kept, top_k - 1)[:top_k]
    else:
        best = np.arange(kept.size)
    order = best[np.argsort(-kept[best], kind="stable")]
    return (
        np.ascontiguousarray(boxes[box_idx[order]], dtype=np.float32),
        np.ascontiguousarray(kept[order], dtype=np.float32),
        class_ids[order].astype(np.int64),
    )


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS within each group, best score first.

    A box is dropped when it overlaps a better box of its group by IoU > ``iou``.
    """
    if len(scores) == 0:
        return np.zeros((0,), np.int64)
    # OpenCV keeps groups apart by shifting each by group × (largest coordinate + 1), which only works for
    # boxes at or right of 0: move them there first (a shift changes no IoU)
    corners = boxes[:, :2].astype(np.float64)
    finite = corners[np.isfinite(corners)]  # one -inf corner (an fp16 overflow) made every corner NaN
    corners -= min(float(finite.min()), 0.0) if finite.size else 0.0
    xywh = np.concatenate([corners, boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float64)
    kept = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32), groups.astype(np.int32), -np.inf, float(iou))
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def check_thresholds(conf: float, iou: float, max_det: int) -> None:
    """Refuse what the CLI's options refuse, in the API too: ``max_det=-1`` silently dropped the best box (a
    slice), ``iou=-0.1`` was an OpenCV assertion, and ``conf=-1`` kept every candidate."""
    for name, value in (("conf", conf), ("iou", iou)):
        try:
            # np.float32, a 0-d array, Fraction(1, 4); not "0.5", which float() takes and NumPy then does not
            number = None if isinstance(value, (bool, str, bytes)) else float(value)
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    if not isinstance(max_det, (int, np.integer)) or isinstance(max_det, bool) or max_det <= 0:
        raise ValueError(f"max_det must be a positive whole number, got {max_det!r}")


def apply_thresholds(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    *,
    conf: float = DEFAULT_CONF,
    iou: float = DEFAULT_IOU,
    max_det: int = DEFAULT_MAX_DET,
    class_agnostic: bool = False,
    classes: Collection[int] | None = None,
) -> CandidateRows:
    """Confidence filter (and, given ``classes``, a class filter), per-class NMS at ``iou``,
    then the ``max_det`` best, best first."""
    check_thresholds(conf, iou, max_det)
    keep = scores >= conf
    if classes is not None:
        keep &= np.isin(class_ids, np.fromiter(classes, np.int64))
    boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
    if scores.size == 0:
        return boxes, scores, class_ids
    groups = np.zeros_like(class_ids) if class_agnostic else class_ids
    keep = batched_nms(boxes, scores, groups, iou)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]


def boxes_to_frame(boxes: np.ndarray, meta: LetterboxMeta) -> np.ndarray:
    """Undo the letterbox: input pixels -> frame pixels, clipped to the frame (a new array).

    Whole-row arithmetic against (x, y, x, y) constants: a third of the time of column indexing, which
    counts on the GPU path, where the host's steps are most of what is left of a frame's time."""
    offset = np.array([meta.pad_x, meta.pad_y, meta.pad_x, meta.pad_y], np.float32)
    scale = np.array([meta.scale_x, meta.scale_y, meta.scale_x, meta.scale_y], np.float32)
    h, w = meta.frame_size
    out = (np.asarray(boxes, np.float32) - offset) / scale
    return np.clip(out, 0, np.array([w, h, w, h], np.float32), out=out)


def to_detections(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, meta: LetterboxMeta, class_names: tuple[str, ...]
) -> Detections:
    """Input-pixel results -> frame-pixel ``Detections``."""
    return Detections(
        boxes=boxes_to_frame(boxes, meta),
        scores=np.asarray(scores, dtype=np.float32),
        class_ids=np.asarray(class_ids, dtype=np.int64),
        class_names=class_names,
    )


def detections_from_candidates(
    candidates: Candidates,
    *,
    conf: float = DEFAULT_CONF,
    iou: float = DEFAULT_IOU,
    max_det: int = DEFAULT_MAX_DET,
    classes: str | Collection[int | str] | None = None,
) -> Detections:
    """Re-apply thresholds (and a class filter: names or indices, as ``Predictor.predict`` takes) to a frame's kept
    candidates (the slider path: no network run). A ``conf`` under the score the candidates were kept down to
    is refused: it would find only what the higher floor let through (25 boxes where the network gives 83)."""
    check_thresholds(conf, iou, max_det)  # a negative conf is out of range before it is under the floor
    if conf < candidates.score_floor:
        raise LiveDetError(f"conf {conf:g} is under {candidates.score_floor:g}, the lowest score these candidates "
                           f"were kept down to: predict the frame again with conf={conf:g}")
    classes = class_indices(classes, candidates.class_names)  # "14" was classes 1 and 4, "person" an error
    kept = apply_thresholds(candidates.boxes, candidates.scores, candidates.class_ids, conf=conf, iou=iou,
                            max_det=max_det, classes=classes)
    return to_detections(*kept, candidates.meta, candidates.class_names)
