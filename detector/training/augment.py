"""Batched augmentation on the training device: mosaic, scale/translate, flip, colour jitter, letterbox, mixup.

All images of a dataset sit in device memory (``ImageBank``); each step
samples whole batches with ``grid_sample``, so the GPU never waits for CPU
workers. Every transform here is axis-aligned, so boxes stay exact.

Geometry, per output image: source tiles are placed on a canvas (a 2x2
mosaic on a 2s x 2s canvas, or one letterboxed image on an s x s canvas),
then the canvas is scaled by ``a`` about its centre and shifted by ``t`` into
the s x s output. Each output pixel is traced back to one source pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..preprocess import PAD_VALUE
from .pack import DecodedDataset


@dataclass(frozen=True)
class AugmentConfig:
    mosaic: float = 1.0  # probability that a batch is built from 2x2 mosaics
    scale: tuple[float, float] = (0.5, 1.5)  # random zoom range
    translate: float = 0.1  # max shift, fraction of the output side
    flip: float = 0.5  # horizontal flip probability
    hue: float = 0.015  # max hue rotation, fraction of a full turn
    saturation: float = 0.7  # max saturation gain change
    value: float = 0.4  # max brightness gain change
    min_box_side: float = 2.0  # output pixels; thinner boxes are dropped
    min_visible: float = 0.2  # drop boxes that lose more than 80% of their area to cropping
    mixup: float = 0.0  # probability that a mosaic batch is blended with a shifted copy of itself

    @classmethod
    def none(cls) -> "AugmentConfig":
        """Plain letterbox, for evaluation and over-fitting checks."""
        return cls(mosaic=0.0, scale=(1.0, 1.0), translate=0.0, flip=0.0, hue=0.0, saturation=0.0, value=0.0,
                   mixup=0.0)


class ImageBank:
    """A decoded dataset moved to one device: images padded to S x S (RGB uint8), boxes padded to G."""

    def __init__(self, data: DecodedDataset, device: torch.device | str) -> None:
        device = torch.device(device)
        n = len(data)
        side = max(max(im.shape[:2]) for im in data.images)
        self.side = side
        self.class_names = data.class_names
        images = np.full((n, side, side, 3), PAD_VALUE, np.uint8)
        sizes = np.zeros((n, 2), np.float32)
        for i, im in enumerate(data.images):
            h, w = im.shape[:2]
            images[i, :h, :w] = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
            sizes[i] = (h, w)
        g = max(1, max((len(b) for b in data.boxes), default=1))
        boxes = np.zeros((n, g, 4), np.float32)
        labels = np.full((n, g), -1, np.int64)
        for i, (b, lab) in enumerate(zip(data.boxes, data.labels)):
            boxes[i, : len(b)] = b
            labels[i, : len(lab)] = lab
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)  # (N, 3, S, S)
        self.sizes = torch.from_numpy(sizes).to(device)  # (N, 2) h, w
        self.boxes = torch.from_numpy(boxes).to(device)
        self.labels = torch.from_numpy(labels).to(device)
        self.device = device

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, s, s) float in [0, 1]
    boxes: torch.Tensor  # (B, G, 4) output pixels
    labels: torch.Tensor  # (B, G) class index, -1 for padding
    # how each output maps back to its (first) source image: src = (out - offset) / scale
    scale: torch.Tensor  # (B,)
    offset: torch.Tensor  # (B, 2) x, y


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (high - low) + low


def _color_matrices(b: int, cfg: AugmentConfig, gen: torch.Generator, device) -> torch.Tensor:
    """Per-image 3x3 RGB matrices: hue rotation and saturation in YIQ space, then brightness."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=device)
    from_yiq = torch.linalg.inv(to_yiq)
    theta = _uniform(b, -1, 1, gen, device) * cfg.hue * 2 * math.pi
    sat = 1 + _uniform(b, -1, 1, gen, device) * cfg.saturation
    val = 1 + _uniform(b, -1, 1, gen, device) * cfg.value
    m = torch.zeros(b, 3, 3, device=device)
    m[:, 0, 0] = 1
    m[:, 1, 1] = torch.cos(theta) * sat
    m[:, 1, 2] = -torch.sin(theta) * sat
    m[:, 2, 1] = torch.sin(theta) * sat
    m[:, 2, 2] = torch.cos(theta) * sat
    return val[:, None, None] * (from_yiq @ m @ to_yiq)


def make_batch(
    bank: ImageBank,
    indices: torch.Tensor,
    size: int,
    cfg: AugmentConfig,
    gen: torch.Generator,
    *,
    mosaic: bool | None = None,
    dtype: torch.dtype = torch.float32,
) -> Batch:
    """Build one augmented batch of ``len(indices)`` images of ``size`` x ``size``."""
    device = bank.device
    b = indices.numel()
    s = float(size)
    if mosaic is None:
        mosaic = bool(torch.rand(1, generator=gen, device=device).item() < cfg.mosaic)
    tiles = 4 if mosaic else 1
    idx = indices.to(device).view(b, 1)
    if mosaic:
        extra = torch.randint(0, len(bank), (b, 3), generator=gen, device=device)
        idx = torch.cat([idx, extra], dim=1)  # (b, 4)
    hw = bank.sizes[idx]  # (b, T, 2)
    h_k, w_k = hw[..., 0], hw[..., 1]
    r_k = s / torch.maximum(h_k, w_k)  # each tile's long side becomes s
    ph, pw = h_k * r_k, w_k * r_k
    if mosaic:
        xc = _uniform(b, 0.5 * s, 1.5 * s, gen, device)[:, None]
        yc = _uniform(b, 0.5 * s, 1.5 * s, gen, device)[:, None]
        right = torch.tensor([0, 1, 0, 1], device=device, dtype=torch.bool)
        bottom = torch.tensor([0, 0, 1, 1], device=device, dtype=torch.bool)
        left_x = torch.where(right, xc, xc - pw)  # tile top-left on the canvas
        top_y = torch.where(bottom, yc, yc - ph)
        canvas = 2 * s
        # quadrant of the canvas each tile may cover
        qx0 = torch.where(right, xc, torch.zeros_like(xc))
        qx1 = torch.where(right, torch.full_like(xc, canvas), xc)
        qy0 = torch.where(bottom, yc, torch.zeros_like(yc))
        qy1 = torch.where(bottom, torch.full_like(yc, canvas), yc)
    else:
        canvas = s
        left_x, top_y = (s - pw) / 2, (s - ph) / 2
        qx0 = qy0 = torch.zeros_like(left_x)
        qx1 = qy1 = torch.full_like(left_x, canvas)
    a = _uniform(b, *cfg.scale, gen, device)[:, None]  # zoom
    tx = _uniform(b, -cfg.translate, cfg.translate, gen, device)[:, None] * s
    ty = _uniform(b, -cfg.translate, cfg.translate, gen, device)[:, None] * s
    flip = torch.rand(b, generator=gen, device=device) < cfg.flip
    c = canvas / 2
    # output = (canvas - c) * a + s/2 + t   <=>   canvas = (output - s/2 - t) / a + c

    # ---- pixels: trace every output pixel back to each tile's source pixel
    centres = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    out_x = centres.view(1, 1, size).expand(b, 1, size)
    out_x = torch.where(flip.view(b, 1, 1), s - out_x, out_x)  # flipping = reading mirrored
    out_y = centres.view(1, size, 1).expand(b, size, 1)
    canvas_x = (out_x - s / 2 - tx[:, :, None]) / a[:, :, None] + c  # (b, 1, size)
    canvas_y = (out_y - s / 2 - ty[:, :, None]) / a[:, :, None] + c  # (b, size, 1)
    side = float(bank.side)
    result = torch.full((b, 3, size, size), PAD_VALUE / 255.0, device=device, dtype=dtype)
    covered = torch.zeros((b, 1, size, size), device=device, dtype=torch.bool)
    for k in range(tiles):
        src_x = (canvas_x - left_x[:, k, None, None]) / r_k[:, k, None, None]
        src_y = (canvas_y - top_y[:, k, None, None]) / r_k[:, k, None, None]
        inside_x = (canvas_x >= qx0[:, k, None, None]) & (canvas_x < qx1[:, k, None, None]) & (src_x >= 0) & (src_x < w_k[:, k, None, None])
        inside_y = (canvas_y >= qy0[:, k, None, None]) & (canvas_y < qy1[:, k, None, None]) & (src_y >= 0) & (src_y < h_k[:, k, None, None])
        mask = (inside_x & inside_y).unsqueeze(1)  # (b, 1, size, size)
        grid = torch.stack(
            (
                (src_x / side * 2 - 1).expand(b, size, size),
                (src_y / side * 2 - 1).expand(b, size, size),
            ),
            dim=-1,
        ).to(dtype)
        source = bank.images[idx[:, k]].to(dtype) / 255.0
        sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        result = torch.where(mask, sampled, result)
        covered |= mask
    if cfg.hue or cfg.saturation or cfg.value:
        colors = _color_matrices(b, cfg, gen, device).to(dtype)
        jittered = torch.einsum("bij,bjhw->bihw", colors, result).clamp_(0, 1)
        result = torch.where(covered, jittered, result)

    # ---- boxes: same geometry, forwards
    g = bank.boxes.shape[1]
    boxes = bank.boxes[idx]  # (b, T, g, 4) source pixels
    labels = bank.labels[idx]  # (b, T, g)
    bx = boxes * r_k[..., None, None]
    bx[..., [0, 2]] += left_x[..., None, None]
    bx[..., [1, 3]] += top_y[..., None, None]
    bx[..., [0, 2]] = torch.maximum(torch.minimum(bx[..., [0, 2]], qx1[..., None, None]), qx0[..., None, None])
    bx[..., [1, 3]] = torch.maximum(torch.minimum(bx[..., [1, 3]], qy1[..., None, None]), qy0[..., None, None])
    full = (boxes * r_k[..., None, None]) * a[..., None, None]  # unclipped size in output pixels
    ox = (bx[..., [0, 2]] - c) * a[..., None, None] + s / 2 + tx[..., None, None]
    oy = (bx[..., [1, 3]] - c) * a[..., None, None] + s / 2 + ty[..., None, None]
    ox, oy = ox.clamp(0, s), oy.clamp(0, s)
    ox = torch.where(flip.view(b, 1, 1, 1), (s - ox).flip(-1), ox)
    out_boxes = torch.stack((ox[..., 0], oy[..., 0], ox[..., 1], oy[..., 1]), dim=-1)
    bw, bh = out_boxes[..., 2] - out_boxes[..., 0], out_boxes[..., 3] - out_boxes[..., 1]
    full_area = (full[..., 2] - full[..., 0]) * (full[..., 3] - full[..., 1])
    valid = (labels >= 0) & (bw > cfg.min_box_side) & (bh > cfg.min_box_side) & (bw * bh > cfg.min_visible * full_area)
    out_boxes, labels = _targets_first(
        out_boxes.reshape(b, tiles * g, 4), torch.where(valid, labels, torch.full_like(labels, -1)).reshape(b, tiles * g)
    )

    # mapping from output back to the first source image (used for evaluation)
    scale_out = (r_k[:, 0] * a[:, 0])
    offset = torch.stack(((left_x[:, 0] - c) * a[:, 0] + s / 2 + tx[:, 0], (top_y[:, 0] - c) * a[:, 0] + s / 2 + ty[:, 0]), dim=1)
    return Batch(result, out_boxes, labels, scale_out, offset)


def _targets_first(boxes: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each image's real targets (label >= 0) to the front and cut the padding the whole batch shares."""
    order = torch.argsort((labels < 0).to(torch.int8), dim=1, stable=True)
    labels = labels.gather(1, order)
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    keep = max(1, int((labels >= 0).sum(1).max().item()))
    return boxes[:, :keep].contiguous(), labels[:, :keep].contiguous()


MIXUP_RATIO = (0.4, 0.6)  # weight of the first image; near 1/2, as Beta(32, 32) would draw


def mix_up(batch: Batch, gen: torch.Generator) -> Batch:
    """Blend each image with the next one in the batch and keep the boxes of both.

    Objects seen half-transparent over another scene cannot be learnt by
    remembering backgrounds, which helps when a small dataset is over-fitted.
    """
    device = batch.images.device
    b = batch.images.shape[0]
    ratio = _uniform(b, *MIXUP_RATIO, gen, device).view(b, 1, 1, 1).to(batch.images.dtype)
    other = torch.roll(torch.arange(b, device=device), -1)
    images = batch.images * ratio + batch.images[other] * (1 - ratio)
    boxes, labels = _targets_first(torch.cat((batch.boxes, batch.boxes[other]), dim=1),
                                   torch.cat((batch.labels, batch.labels[other]), dim=1))
    return Batch(images, boxes, labels, batch.scale, batch.offset)
