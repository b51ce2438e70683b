"""Anchor points, box decoding and IoU-family overlaps.

The head predicts, per feature-map cell, distances from the cell centre to the
four box sides in units of that level's stride. These functions turn raw head
outputs into boxes; training, inference and ONNX export all use them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def anchor_points(
    feature_sizes: list[tuple[int, int]], strides: tuple[int, ...], *, device=None, dtype=torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres in input pixels, (N, 2) as (x, y), and each cell's stride, (N, 1).

    Cells are ordered level by level, row-major, matching ``flatten_levels``.
    """
    points, point_strides = [], []
    for (h, w), stride in zip(feature_sizes, strides):
        ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * stride
        xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * stride
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((xx, yy), dim=-1).reshape(-1, 2))
        point_strides.append(torch.full((h * w, 1), float(stride), device=device, dtype=dtype))
    return torch.cat(points), torch.cat(point_strides)


def flatten_levels(raw: list[torch.Tensor]) -> torch.Tensor:
    """Per-level (B, K, H, W) maps -> one (B, N, K) tensor, level by level."""
    return torch.cat([r.flatten(2) for r in raw], dim=2).transpose(1, 2)


def distances_to_boxes(box_raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Raw (..., N, 4) left/top/right/bottom -> (..., N, 4) x1, y1, x2, y2 in input pixels."""
    dist = F.softplus(box_raw) * strides
    return torch.cat((points - dist[..., :2], points + dist[..., 2:]), dim=-1)


def decode_outputs(
    raw: list[torch.Tensor], strides: tuple[int, ...], *, anchors: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw head outputs -> boxes (B, N, 4) in input pixels and class scores (B, N, C) in [0, 1].

    ``anchors``: these maps' ``anchor_points``, when the caller keeps them (computed here otherwise)."""
    flat = flatten_levels(raw)
    if anchors is None:
        sizes = [(r.shape[2], r.shape[3]) for r in raw]
        anchors = anchor_points(sizes, strides, device=flat.device, dtype=flat.dtype)
    points, point_strides = anchors
    boxes = distances_to_boxes(flat[..., :4], points, point_strides)
    return boxes, flat[..., 4:].sigmoid()


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """IoU of every box in ``a`` (..., N, 4) with every box in ``b`` (..., M, 4) -> (..., N, M)."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[..., :, None] + box_area(b)[..., None, :] - inter
    return inter / (union + eps)


def complete_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Element-wise CIoU of matched boxes (..., 4): IoU minus centre-distance and aspect penalties.

    Unlike plain IoU it still has a gradient when boxes do not overlap, and it
    pulls centres together, which speeds up early training.
    """
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    pw, ph = (px2 - px1).clamp(min=eps), (py2 - py1).clamp(min=eps)
    tw, th = (tx2 - tx1).clamp(min=eps), (ty2 - ty1).clamp(min=eps)
    inter = (torch.minimum(px2, tx2) - torch.maximum(px1, tx1)).clamp(min=0) * (
        torch.minimum(py2, ty2) - torch.maximum(py1, ty1)
    ).clamp(min=0)
    union = pw * ph + tw * th - inter + eps
    iou = inter / union
    cw = torch.maximum(px2, tx2) - torch.minimum(px1, tx1)
    ch = torch.maximum(py2, ty2) - torch.minimum(py1, ty1)
    diag2 = cw**2 + ch**2 + eps
    centre2 = ((px1 + px2 - tx1 - tx2) ** 2 + (py1 + py2 - ty1 - ty2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(tw / th) - torch.atan(pw / ph)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre2 / diag2 + v * alpha)
