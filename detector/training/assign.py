"""Task-aligned assignment (TOOD / YOLOv8 style): which anchors learn which ground-truth box.

For every ground-truth box, anchors whose centre lies inside it are ranked by
``score**alpha * iou**beta`` (how well the current prediction already agrees in
class *and* location), and the top-k of them become positives, however low their score. Targets are soft: the
class target is the normalised alignment, so well-localised anchors are
taught to score high, which makes the score a good ranking for NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ops.boxes import pairwise_iou


@dataclass
class Assignment:
    foreground: torch.Tensor  # (B, N) bool
    target_boxes: torch.Tensor  # (B, N, 4) input pixels
    target_scores: torch.Tensor  # (B, N, C) soft class targets in [0, 1]


class TaskAlignedAssigner:
    """Positives and soft targets for one batch (see the module's text); no gradients flow through it.

    ``top_k`` anchors per box at most; ``alpha`` and ``beta`` weigh class score against IoU in the ranking.
    """

    def __init__(self, top_k: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9) -> None:
        self.top_k, self.alpha, self.beta, self.eps = top_k, alpha, beta, eps

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: torch.Tensor,  # (B, N, C) sigmoid
        pred_boxes: torch.Tensor,  # (B, N, 4)
        points: torch.Tensor,  # (N, 2)
        gt_boxes: torch.Tensor,  # (B, G, 4)
        gt_labels: torch.Tensor,  # (B, G), -1 = padding
    ) -> Assignment:
        b, n, c = pred_scores.shape
        g = gt_boxes.shape[1]
        device = pred_scores.device
        gt_valid = gt_labels >= 0  # (B, G)
        if g == 0 or not bool(gt_valid.any()):
            return Assignment(
                torch.zeros(b, n, dtype=torch.bool, device=device),
                torch.zeros(b, n, 4, device=device),
                torch.zeros(b, n, c, device=device),
            )
        pred_scores, pred_boxes, gt_boxes = pred_scores.float(), pred_boxes.float(), gt_boxes.float()
        # anchors whose centre is inside the box
        px, py = points[:, 0].view(1, 1, n), points[:, 1].view(1, 1, n)
        inside = (
            (px > gt_boxes[..., 0:1]) & (px < gt_boxes[..., 2:3]) & (py > gt_boxes[..., 1:2]) & (py < gt_boxes[..., 3:4])
        )
        candidate = inside & gt_valid[..., None]  # (B, G, N)

        iou = pairwise_iou(gt_boxes, pred_boxes).clamp(min=0) * candidate  # (B, G, N)
        labels = gt_labels.clamp(min=0)
        cls_score = pred_scores.gather(2, labels[:, None, :].expand(b, n, g)).transpose(1, 2)  # (B, G, N)
        align = cls_score.pow(self.alpha) * iou.pow(self.beta) * candidate

        # the k best anchors inside each box, however small their alignment: early in training a big
        # object's IoU**6 with every (still small) prediction is ~1e-9, and it must not become background
        k = min(self.top_k, n)
        _, top_idx = align.masked_fill(~candidate, -1.0).topk(k, dim=2)
        chosen = torch.zeros_like(candidate).scatter_(2, top_idx, True) & candidate

        # an anchor claimed by several boxes keeps, of those, the one it overlaps most (the best box of all
        # may be one that did not choose it: taking that one left the anchor to no box, trained as background)
        multiple = chosen.sum(1, keepdim=True) > 1  # (B, 1, N)
        best_gt = iou.masked_fill(~chosen, -1.0).argmax(1, keepdim=True)  # (B, 1, N)
        only_best = torch.zeros_like(chosen).scatter_(1, best_gt, True)
        chosen = torch.where(multiple, only_best & chosen, chosen)

        foreground = chosen.any(1)  # (B, N)
        gt_index = chosen.to(torch.int8).argmax(1)  # (B, N)
        target_boxes = gt_boxes.gather(1, gt_index[..., None].expand(b, n, 4))
        target_labels = labels.gather(1, gt_index)

        # soft targets: alignment normalised per box so its best anchor gets that box's best IoU
        align = align * chosen
        max_align = align.amax(2, keepdim=True)
        max_iou = (iou * chosen).amax(2, keepdim=True)
        norm_align = (align * max_iou / (max_align + self.eps)).amax(1)  # (B, N)
        target_scores = torch.zeros(b, n, c, device=device)
        target_scores.scatter_(2, target_labels[..., None], norm_align[..., None])
        target_scores *= foreground[..., None]
        return Assignment(foreground, target_boxes, target_scores)
