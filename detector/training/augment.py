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
    """The augmentation recipe; saved in each checkpoint, so a resumed run augments as it began."""

    mosaic: float = 1.0  # probability that a batch is built from 2x2 mosaics
    scale: tuple[float, float] = (0.5, 1.5)  # random zoom range
    translate: float = 0.1  # max shift, fraction of the output side
    flip: float = 0.5  # horizontal flip probability
    hue: float = 0.015  # max hue rotation, fraction of a full turn
    saturation: float = 0.7  # max saturation gain change
    value: float = 0.4  # max brightness gain change
    min_box_side: float = 2.0  # output pixels; thinner boxes are dropped
    min_visible: float = 0.2  # drop boxes that lose more than 80% of their area to cropping
    mixup: float = 0.0  # probability that a mosaic batch's images are each blended with the next one in it
    blank: float = 0.0  # probability that an image is replaced by a plain frame without boxes (``blank_some``)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """Plain letterbox, for evaluation and over-fitting checks."""
        return cls(mosaic=0.0, scale=(1.0, 1.0), translate=0.0, flip=0.0, hue=0.0, saturation=0.0, value=0.0,
                   mixup=0.0, blank=0.0)


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
        self.ignored = [data.ignored(i) for i in range(n)]  # host arrays: only evaluation reads them
        self.device = device

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, s, s) float in [0, 1]
    boxes: torch.Tensor  # (B, G, 4) output pixels
    labels: torch.Tensor  # (B, G) class index, -1 for padding
    # how each output maps back to its (first) source image: src = (out - offset) / scale, for an
    # unflipped output (evaluation never flips; a flipped one is mirrored about the output's centre first)
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


@dataclass
class _Layout:
    """Where a batch's tiles land, as (batch, tile) tensors: a tile's scale ``r`` and top-left on the canvas, the
    quadrant of the canvas it may cover, and the zoom ``a``, shift ``t`` and flip that take the canvas to the output."""

    idx: torch.Tensor  # (b, T) bank index of each tile
    h: torch.Tensor  # (b, T) source height, pixels
    w: torch.Tensor  # (b, T) source width
    r: torch.Tensor  # (b, T) source -> canvas scale
    left_x: torch.Tensor  # (b, T) tile top-left on the canvas
    top_y: torch.Tensor
    qx0: torch.Tensor  # (b, T) the quadrant each tile may cover
    qx1: torch.Tensor
    qy0: torch.Tensor
    qy1: torch.Tensor
    canvas: float  # canvas side: 2s for a mosaic, s for one image
    a: torch.Tensor  # (b, 1) zoom about the canvas centre
    tx: torch.Tensor  # (b, 1) shift, output pixels
    ty: torch.Tensor
    flip: torch.Tensor  # (b,) mirrored left to right

    @property
    def tiles(self) -> int:
        return self.idx.shape[1]


def _lay_out(bank: ImageBank, indices: torch.Tensor, s: float, cfg: AugmentConfig, gen: torch.Generator,
             mosaic: bool) -> _Layout:
    """Draw the batch's geometry: which images, where on the canvas, and the canvas-to-output transform."""
    device = bank.device
    b = indices.numel()
    idx = indices.to(device).view(b, 1)
    if mosaic:
        extra = torch.randint(0, len(bank), (b, 3), generator=gen, device=device)
        idx = torch.cat([idx, extra], dim=1)  # (b, 4)
    hw = bank.sizes[idx]  # (b, T, 2)
    h, w = hw[..., 0], hw[..., 1]
    r = s / torch.maximum(h, w)  # each tile's long side becomes s
    ph, pw = h * r, w * r
    if mosaic:
        xc = _uniform(b, 0.5 * s, 1.5 * s, gen, device)[:, None]
        yc = _uniform(b, 0.5 * s, 1.5 * s, gen, device)[:, None]
        right = torch.tensor([0, 1, 0, 1], device=device, dtype=torch.bool)
        bottom = torch.tensor([0, 0, 1, 1], device=device, dtype=torch.bool)
        canvas = 2 * s
        left_x, top_y = torch.where(right, xc, xc - pw), torch.where(bottom, yc, yc - ph)
        qx0 = torch.where(right, xc, torch.zeros_like(xc))
        qx1 = torch.where(right, torch.full_like(xc, canvas), xc)
        qy0 = torch.where(bottom, yc, torch.zeros_like(yc))
        qy1 = torch.where(bottom, torch.full_like(yc, canvas), yc)
    else:
        canvas = s
        left_x, top_y = (s - pw) / 2, (s - ph) / 2
        qx0 = qy0 = torch.zeros_like(left_x)
        qx1 = qy1 = torch.full_like(left_x, canvas)
    a = _uniform(b, *cfg.scale, gen, device)[:, None]
    tx = _uniform(b, -cfg.translate, cfg.translate, gen, device)[:, None] * s
    ty = _uniform(b, -cfg.translate, cfg.translate, gen, device)[:, None] * s
    flip = torch.rand(b, generator=gen, device=device) < cfg.flip
    return _Layout(idx, h, w, r, left_x, top_y, qx0, qx1, qy0, qy1, canvas, a, tx, ty, flip)


def _draw_pixels(bank: ImageBank, lay: _Layout, size: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """The output images: every output pixel traced back to the source pixel of the tile covering it."""
    device, b, s, c = bank.device, lay.idx.shape[0], float(size), lay.canvas / 2
    centres = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    out_x = centres.view(1, 1, size).expand(b, 1, size)
    out_x = torch.where(lay.flip.view(b, 1, 1), s - out_x, out_x)  # flipping = reading mirrored
    out_y = centres.view(1, size, 1).expand(b, size, 1)
    canvas_x = (out_x - s / 2 - lay.tx[:, :, None]) / lay.a[:, :, None] + c  # (b, 1, size)
    canvas_y = (out_y - s / 2 - lay.ty[:, :, None]) / lay.a[:, :, None] + c  # (b, size, 1)
    side = float(bank.side)
    result = torch.full((b, 3, size, size), PAD_VALUE / 255.0, device=device)
    covered = torch.zeros((b, 1, size, size), device=device, dtype=torch.bool)
    for k in range(lay.tiles):
        left, top, r, qx0, qx1, qy0, qy1, w, h = (  # tile k of each image, shaped to broadcast over pixels
            t[:, k, None, None] for t in (lay.left_x, lay.top_y, lay.r, lay.qx0, lay.qx1, lay.qy0, lay.qy1, lay.w, lay.h))
        src_x = (canvas_x - left) / r
        src_y = (canvas_y - top) / r
        inside_x = (canvas_x >= qx0) & (canvas_x < qx1) & (src_x >= 0) & (src_x < w)
        inside_y = (canvas_y >= qy0) & (canvas_y < qy1) & (src_y >= 0) & (src_y < h)
        mask = (inside_x & inside_y).unsqueeze(1)  # (b, 1, size, size)
        grid = torch.stack(((src_x / side * 2 - 1).expand(b, size, size), (src_y / side * 2 - 1).expand(b, size, size)),
                           dim=-1)
        source = bank.images[lay.idx[:, k]].float() / 255.0
        sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        result = torch.where(mask, sampled, result)
        covered |= mask
    if cfg.hue or cfg.saturation or cfg.value:
        colors = _color_matrices(b, cfg, gen, device)
        jittered = torch.einsum("bij,bjhw->bihw", colors, result).clamp_(0, 1)
        result = torch.where(covered, jittered, result)
    return result


def _move_boxes(bank: ImageBank, lay: _Layout, size: int, cfg: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The boxes, moved forwards by the same geometry; those cropped to slivers are dropped (label -1)."""
    b, g, s, c = lay.idx.shape[0], bank.boxes.shape[1], float(size), lay.canvas / 2
    boxes = bank.boxes[lay.idx]  # (b, T, g, 4) source pixels
    labels = bank.labels[lay.idx]  # (b, T, g)

    def per_box(t: torch.Tensor) -> torch.Tensor:
        return t[..., None, None]

    bx = boxes * per_box(lay.r)
    bx[..., [0, 2]] += per_box(lay.left_x)
    bx[..., [1, 3]] += per_box(lay.top_y)
    bx[..., [0, 2]] = torch.maximum(torch.minimum(bx[..., [0, 2]], per_box(lay.qx1)), per_box(lay.qx0))
    bx[..., [1, 3]] = torch.maximum(torch.minimum(bx[..., [1, 3]], per_box(lay.qy1)), per_box(lay.qy0))
    full = (boxes * per_box(lay.r)) * per_box(lay.a)  # unclipped size in output pixels
    ox = (bx[..., [0, 2]] - c) * per_box(lay.a) + s / 2 + per_box(lay.tx)
    oy = (bx[..., [1, 3]] - c) * per_box(lay.a) + s / 2 + per_box(lay.ty)
    ox, oy = ox.clamp(0, s), oy.clamp(0, s)
    ox = torch.where(lay.flip.view(b, 1, 1, 1), (s - ox).flip(-1), ox)
    out_boxes = torch.stack((ox[..., 0], oy[..., 0], ox[..., 1], oy[..., 1]), dim=-1)
    bw, bh = out_boxes[..., 2] - out_boxes[..., 0], out_boxes[..., 3] - out_boxes[..., 1]
    full_area = (full[..., 2] - full[..., 0]) * (full[..., 3] - full[..., 1])
    valid = (labels >= 0) & (bw > cfg.min_box_side) & (bh > cfg.min_box_side) & (bw * bh > cfg.min_visible * full_area)
    return _targets_first(out_boxes.reshape(b, lay.tiles * g, 4),
                          torch.where(valid, labels, torch.full_like(labels, -1)).reshape(b, lay.tiles * g))


def make_batch(
    bank: ImageBank,
    indices: torch.Tensor,
    size: int,
    cfg: AugmentConfig,
    gen: torch.Generator,
    *,
    mosaic: bool | None = None,
) -> Batch:
    """Build one augmented batch of ``len(indices)`` images of ``size`` x ``size``.

    The canvas maps to the output as ``output = (canvas - c) * a + s/2 + t`` (``c`` the canvas centre):
    pixels are traced backwards through it (``_draw_pixels``), boxes forwards (``_move_boxes``).
    """
    s = float(size)
    if mosaic is None:
        mosaic = bool(torch.rand(1, generator=gen, device=bank.device).item() < cfg.mosaic)
    lay = _lay_out(bank, indices, s, cfg, gen, mosaic)
    images = _draw_pixels(bank, lay, size, cfg, gen)
    boxes, labels = _move_boxes(bank, lay, size, cfg)
    # how the output maps back to its first source image (used for evaluation)
    c = lay.canvas / 2
    scale_out = lay.r[:, 0] * lay.a[:, 0]
    offset = torch.stack(((lay.left_x[:, 0] - c) * lay.a[:, 0] + s / 2 + lay.tx[:, 0],
                          (lay.top_y[:, 0] - c) * lay.a[:, 0] + s / 2 + lay.ty[:, 0]), dim=1)
    return Batch(images, boxes, labels, scale_out, offset)


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


BLANK_NOISE = 0.03  # the most sensor noise on a plain frame, as a fraction of full scale (standard deviation)
BLANK_GLOW = 0.3  # the brightest glow added to half the plain frames (light around a lens cover), full scale = 1


def blank_some(batch: Batch, p: float, gen: torch.Generator) -> Batch:
    """Replace each image, with probability ``p``, by a plain frame without boxes: one colour, mostly dark
    (a fade to black, a covered lens), with a little noise; half of them with a soft round glow somewhere
    (light leaking around a lens cover, a vignette): a smooth gradient, no edges.

    VOC holds no such pictures, and a model trained on it alone took a black frame for a cat (0.47), and
    a dark frame with a glow peaking at 40 of 255 for one (0.43), which the predictor's flat-frame rule
    (``detector.featureless``) does not catch.
    """
    images = batch.images
    b, device = images.shape[0], images.device
    height, width = images.shape[-2:]

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(b, *shape, generator=gen, device=device)

    chosen = (draw() < p).view(b, 1, 1, 1)
    level = draw(1, 1, 1) ** 3  # cubed: most are dark, some bright
    tint = 1 + (draw(3, 1, 1) - 0.5) * 0.2  # not quite grey
    noise = torch.randn(images.shape, generator=gen, device=device, dtype=images.dtype) \
        * draw(1, 1, 1) * BLANK_NOISE
    centre_x, centre_y, radius = draw(1, 1, 1) * 2 - 1, draw(1, 1, 1) * 2 - 1, 0.5 + draw(1, 1, 1) * 1.5
    xs = torch.linspace(-1, 1, width, device=device).view(1, 1, 1, width)
    ys = torch.linspace(-1, 1, height, device=device).view(1, 1, height, 1)
    falloff = (1 - ((xs - centre_x) ** 2 + (ys - centre_y) ** 2).sqrt() / radius).clamp_(min=0)
    glow = (draw(1, 1, 1) < 0.5) * draw(1, 1, 1) * BLANK_GLOW * falloff
    plain = ((level + glow) * tint + noise).clamp_(0, 1).to(images.dtype)
    labels = torch.where(chosen.view(b, 1), torch.full_like(batch.labels, -1), batch.labels)
    boxes, labels = _targets_first(batch.boxes, labels)
    return Batch(torch.where(chosen, plain, images), boxes, labels, batch.scale, batch.offset)
