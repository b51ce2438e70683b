"""Frame -> network input: validate, letterbox (keep aspect, pad to a multiple of 32), scale to [0, 1].

The CPU path uses OpenCV; the GPU path does the same resize on the device so
only the raw uint8 frame crosses the bus.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .errors import SourceError
from .types import LetterboxMeta

if TYPE_CHECKING:
    import torch  # the GPU path imports it when it runs: frames on the CPU need none

PAD_VALUE = 114  # grey padding, as the model saw in training
STRIDE = 32  # the coarsest feature stride: input sides must be multiples of it
STORED_BIT_DEPTHS = (10, 12, 14, 16)  # how cameras fill 16-bit words (see picture_to_8_bits)
UNIT_RANGE_MAX = 1.5  # a float picture no brighter than this is a 0–1 one (see _float_to_uint8)
UNIT_RANGE_QUANTILE = 0.99  # ... and one of fractions whose 99th percentile is at most 1.0


def as_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    """Accept what cameras and files really deliver and return contiguous BGR uint8.

    Grayscale (H, W) or (H, W, 1), BGRA, and 16-bit or float (0–1 or 0–255) frames are converted;
    anything else raises ``SourceError`` with a message a user can act on.
    """
    if not isinstance(frame, np.ndarray):
        raise SourceError(f"expected an image array, got {type(frame).__name__}")
    if frame.ndim not in (2, 3) or frame.size == 0 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise SourceError(f"unusable frame of shape {frame.shape}")
    if frame.dtype == np.uint16:  # full 16-bit: a video's depth is not guessed frame by frame (see picture_to_8_bits)
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype in (np.float16, np.float32, np.float64):
        frame = _float_to_uint8(frame)
    elif frame.dtype != np.uint8:
        raise SourceError(f"unsupported pixel type {frame.dtype}")
    if frame.ndim == 2 or frame.shape[2] == 1:
        frame = cv2.cvtColor(frame.reshape(frame.shape[0], frame.shape[1]), cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    elif frame.shape[2] != 3:
        if frame.shape[0] in (1, 3, 4):
            raise SourceError(f"a frame of shape {frame.shape} looks channels-first (C, H, W), as PyTorch keeps "
                              "images; expected (H, W, 3) BGR, e.g. frame.transpose(1, 2, 0)")
        raise SourceError(f"unsupported channel count {frame.shape[2]}")
    return np.ascontiguousarray(frame)


def picture_to_8_bits(picture: np.ndarray) -> np.ndarray:
    """A 16-bit picture file's pixels, scaled from the depth they use: the smallest of 10, 12, 14 and 16 bits
    that holds the brightest one. Machine-vision and scientific cameras, and DICOM or raw-converter exports,
    store 10- or 12-bit pixels in 16-bit words; read as 16-bit, a 12-bit picture's white was grey level 15
    (black to the eye and to the model). A 16-bit picture that is simply dark (its brightest pixel under a
    64th of white) comes out up to 64 times brighter. For a picture file only, judged whole: a video's
    frames would change brightness as their brightest pixel crossed a depth."""
    if picture.dtype != np.uint16:
        return picture
    brightest = int(picture.max())
    bits = next((bits for bits in STORED_BIT_DEPTHS if brightest < 1 << bits), 16)
    return (picture >> (bits - 8)).astype(np.uint8)


def _float_to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float pictures come as 0–1 (OpenCV, TIFF, HDR) or as 0–255, and say not which: judged in this order.

    - brightest at most UNIT_RANGE_MAX: 0–1 (a bicubic resize overshoots 1.0 by some 15 %; one pixel at 1.5
      or one NaN made a 0–1 picture count as 0–255 before, so it came out black, and the model saw a cat);
    - whole numbers only: 0–255 (``frame.astype(np.float32)``), however dark, as long as its brightest is over
      UNIT_RANGE_MAX (a black-and-white 0/1 picture and a near-black 0–255 one of levels 0 and 1 are the same
      numbers: it is read as the former);
    - 99 % of it at most 1.0: 0–1 with a few HDR highlights (which are clipped to white);
    - else 0–255. A dark 0–255 picture of fractions with a few bright spots is the case this gets wrong.
    """
    values = np.nan_to_num(frame.astype(np.float32, copy=False), nan=0.0, posinf=255.0, neginf=0.0)
    brightest = float(values.max())
    if brightest <= UNIT_RANGE_MAX:
        unit_range = True
    elif np.array_equal(values, np.round(values)):
        unit_range = False
    else:
        unit_range = float(np.quantile(values[::4, ::4], UNIT_RANGE_QUANTILE)) <= 1.0
    # rounded: truncated, ``u8 / 255`` in float16 came back one level darker in half its pixels
    return np.rint(np.clip(values * (255.0 if unit_range else 1.0), 0, 255)).astype(np.uint8)


def _resized_hw(frame_size: tuple[int, int], imgsz: int) -> tuple[int, int]:
    """Size of the frame after the aspect-keeping resize: the long side becomes ``imgsz``."""
    h, w = frame_size
    ratio = imgsz / max(h, w)
    return max(1, round(h * ratio)), max(1, round(w * ratio))


def letterbox_meta(frame_size: tuple[int, int], imgsz: int, *, rect: bool = True) -> LetterboxMeta:
    """Plan the resize: the long side becomes ``imgsz``; pad to ``imgsz`` square, or
    (``rect``) only up to the next multiple of 32, which saves work on 16:9 video."""
    h, w = frame_size
    if imgsz % STRIDE:
        raise ValueError(f"input size must be a multiple of {STRIDE}, got {imgsz}")
    new_h, new_w = _resized_hw(frame_size, imgsz)
    if rect:
        in_w, in_h = math.ceil(new_w / STRIDE) * STRIDE, math.ceil(new_h / STRIDE) * STRIDE
    else:
        in_w = in_h = imgsz
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    return LetterboxMeta(
        scale_x=new_w / w,
        scale_y=new_h / h,
        pad_x=float(pad_x),
        pad_y=float(pad_y),
        input_size=(in_h, in_w),
        frame_size=(h, w),
    )


def _resized_size(meta: LetterboxMeta) -> tuple[int, int]:
    """The planned resize, re-derived from the plan: float error in side * scale must not change a size."""
    return _resized_hw(meta.frame_size, max(meta.input_size))


def letterbox(frame: np.ndarray, meta: LetterboxMeta) -> np.ndarray:
    """BGR uint8 frame -> padded BGR uint8 image of ``meta.input_size`` (OpenCV, CPU)."""
    new_h, new_w = _resized_size(meta)
    if (new_h, new_w) != frame.shape[:2]:
        # Bilinear. Training saw pictures shrunk with INTER_AREA (when packed) and then sampled bilinearly; here
        # INTER_AREA scored VOC val a little higher (mAP50 0.3987 against 0.3948, 2026-12-07) but takes ~10x the
        # time on video frames, and the GPU path's letterbox (tested against this one) is bilinear too
        frame = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    in_h, in_w = meta.input_size
    top, left = int(meta.pad_y), int(meta.pad_x)
    return cv2.copyMakeBorder(
        frame, top, in_h - new_h - top, left, in_w - new_w - left, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )


def to_input_array(padded_bgr: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """One or more padded BGR uint8 images -> (B, 3, H, W) float32 RGB in [0, 1]."""
    batch = np.stack(padded_bgr) if isinstance(padded_bgr, list) else padded_bgr[None]
    return np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def letterbox_on_device(frames: torch.Tensor, meta: LetterboxMeta, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Same as ``letterbox`` + ``to_input_array`` for BGR uint8 frames already on the device:
    one (H, W, 3) frame or a (B, H, W, 3) batch of frames of one size -> (B, 3, h, w).

    Bilinear without antialiasing, like OpenCV's ``INTER_LINEAR``, and rounded to whole levels as OpenCV's uint8
    result is (unrounded, levels differed by up to 0.75 and a kept box moved on 1 of 40 street frames; tested
    against the CPU path). Every step has a fixed shape, so it can be captured in a CUDA graph.
    """
    import torch
    import torch.nn.functional as F

    dtype = dtype or torch.float32
    new_h, new_w = _resized_size(meta)
    x = frames if frames.dim() == 4 else frames.unsqueeze(0)
    x = x.permute(0, 3, 1, 2).flip(1).to(dtype)  # BGR NHWC -> RGB NCHW
    if (new_h, new_w) != tuple(x.shape[2:]):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False).round()
    in_h, in_w = meta.input_size
    top, left = int(meta.pad_y), int(meta.pad_x)
    x = F.pad(x, (left, in_w - new_w - left, top, in_h - new_h - top), value=float(PAD_VALUE))
    return x / 255.0
