"""From decoded scores to final detections: floor -> top-k -> NMS -> max_det -> frame pixels.

Plain functions with declared defaults, so a threshold change never touches
the network. They accept tensors on any device.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import batched_nms

from ..defaults import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET
from ..types import Candidates, Detections, LetterboxMeta

CANDIDATE_FLOOR = 0.01  # lowest confidence the GUI slider can reach; below it nothing is kept
CANDIDATE_TOP_K = 1000  # most boxes kept per frame before NMS


def select_candidates(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    score_floor: float = CANDIDATE_FLOOR,
    top_k: int = CANDIDATE_TOP_K,
    multi_label: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image's boxes (N, 4) and class scores (N, C) -> the best ``top_k`` (box, score, class).

    Single-label keeps each box's best class (what a live view wants);
    multi-label keeps every (box, class) pair above the floor (what mAP rewards).
    """
    if multi_label:
        box_idx, class_ids = (scores > score_floor).nonzero(as_tuple=True)
        kept_scores = scores[box_idx, class_ids]
    else:
        kept_scores, class_ids = scores.max(dim=1)
        box_idx = (kept_scores > score_floor).nonzero(as_tuple=True)[0]
        kept_scores, class_ids = kept_scores[box_idx], class_ids[box_idx]
    if kept_scores.numel() > top_k:
        kept_scores, order = kept_scores.topk(top_k)
        box_idx, class_ids = box_idx[order], class_ids[order]
    return boxes[box_idx], kept_scores, class_ids


def topk_candidates(
    boxes: torch.Tensor, scores: torch.Tensor, k: int = CANDIDATE_TOP_K
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed-shape ``select_candidates`` for a batch: (B, N, 4), (B, N, C) -> the ``k`` best boxes per image.

    Returns boxes (B, K, 4), scores (B, K) best first, class ids (B, K), K = min(k, N).
    No step depends on the data's values, so it can run inside a CUDA graph; the
    score floor is applied afterwards, on the host, to K rows instead of N.
    """
    best, class_ids = scores.max(dim=2)
    top_scores, order = best.topk(min(k, best.shape[1]), dim=1)
    top_boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, boxes.shape[-1]))
    return top_boxes, top_scores, class_ids.gather(1, order)


def apply_thresholds(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    class_ids: torch.Tensor,
    *,
    conf: float = DEFAULT_CONF,
    iou: float = DEFAULT_IOU,
    max_det: int = DEFAULT_MAX_DET,
    class_agnostic: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Confidence filter, per-class NMS at ``iou``, then the ``max_det`` best, best first."""
    keep = scores >= conf
    boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
    if scores.numel() == 0:
        return boxes, scores, class_ids
    groups = torch.zeros_like(class_ids) if class_agnostic else class_ids
    keep = batched_nms(boxes.float(), scores.float(), groups, iou)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]


def boxes_to_frame(boxes: torch.Tensor, meta: LetterboxMeta) -> torch.Tensor:
    """Undo the letterbox: input pixels -> frame pixels, clipped to the frame."""
    out = boxes.clone()
    out[:, [0, 2]] = (out[:, [0, 2]] - meta.pad_x) / meta.scale
    out[:, [1, 3]] = (out[:, [1, 3]] - meta.pad_y) / meta.scale
    h, w = meta.frame_size
    out[:, [0, 2]] = out[:, [0, 2]].clamp(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clamp(0, h)
    return out


def to_detections(
    boxes: torch.Tensor, scores: torch.Tensor, class_ids: torch.Tensor, meta: LetterboxMeta, class_names: tuple[str, ...]
) -> Detections:
    """Input-pixel results -> frame-pixel ``Detections`` on the host."""
    frame_boxes = boxes_to_frame(boxes.float(), meta)
    return Detections(
        boxes=frame_boxes.cpu().numpy().astype(np.float32, copy=False),
        scores=scores.float().cpu().numpy(),
        class_ids=class_ids.cpu().numpy().astype(np.int64, copy=False),
        class_names=class_names,
    )


def detections_from_candidates(
    candidates: Candidates,
    *,
    conf: float = DEFAULT_CONF,
    iou: float = DEFAULT_IOU,
    max_det: int = DEFAULT_MAX_DET,
) -> Detections:
    """Re-apply thresholds to a frame's kept candidates (the slider path: no network run)."""
    boxes, scores, class_ids = apply_thresholds(
        torch.from_numpy(candidates.boxes),
        torch.from_numpy(candidates.scores),
        torch.from_numpy(candidates.class_ids),
        conf=conf,
        iou=iou,
        max_det=max_det,
    )
    return to_detections(boxes, scores, class_ids, candidates.meta, candidates.class_names)
