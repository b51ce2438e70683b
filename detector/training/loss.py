"""Detection loss: BCE with the task-aligned targets as soft class labels, plus CIoU on positive
boxes weighted by those targets; both normalised by the targets' sum (so the loss scale does not
depend on how many objects a batch holds)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..ops.boxes import anchor_points, complete_iou, distances_to_boxes, flatten_levels
from .assign import TaskAlignedAssigner


@dataclass(frozen=True)
class LossWeights:
    """The box weight is YOLOv8's; its class weight is 0.5, and 1.0 here has not been compared with it."""

    box: float = 7.5
    cls: float = 1.0


class DetectionLoss:
    """The training loss of the head's raw outputs against padded ground truth (labels -1 are padding).

    A plain callable, not an ``nn.Module``: it holds no weights, so nothing of it is saved with the model.
    """

    def __init__(self, strides: tuple[int, ...]) -> None:
        self.strides = strides
        self.weights = LossWeights()
        self.assigner = TaskAlignedAssigner()

    def __call__(self, raw: list[torch.Tensor], gt_boxes: torch.Tensor, gt_labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``raw``: the head's per-level outputs. Returns the total loss and its detached parts."""
        sizes = [(r.shape[2], r.shape[3]) for r in raw]
        flat = flatten_levels(raw).float()  # (B, N, 4 + C)
        points, point_strides = anchor_points(sizes, self.strides, device=flat.device)
        box_raw, cls_logits = flat[..., :4], flat[..., 4:]
        pred_boxes = distances_to_boxes(box_raw, points, point_strides)
        assignment = self.assigner(cls_logits.detach().sigmoid(), pred_boxes.detach(), points, gt_boxes, gt_labels)

        target_scores = assignment.target_scores
        normaliser = target_scores.sum().clamp(min=1.0)
        cls_loss = F.binary_cross_entropy_with_logits(cls_logits, target_scores, reduction="sum") / normaliser

        fg = assignment.foreground
        if fg.any():
            weight = target_scores.sum(-1)[fg]
            ciou = complete_iou(pred_boxes[fg], assignment.target_boxes[fg])
            box_loss = ((1.0 - ciou) * weight).sum() / normaliser
        else:
            box_loss = pred_boxes.sum() * 0.0
        total = self.weights.box * box_loss + self.weights.cls * cls_loss
        # detached tensors, not floats: reading them would stall the GPU every step
        return total, {"box": box_loss.detach(), "cls": cls_loss.detach(), "positives": fg.sum()}
