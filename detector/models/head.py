"""Decoupled, anchor-free YOLO head: per level, one branch classifies, one regresses.

It only predicts. Each level returns raw numbers, (B, 4 + C, H, W): four box
distances (left, top, right, bottom, before softplus, in units of the stride)
followed by C class logits. Turning them into boxes is ``detector.ops.boxes``'s
job, so export, training and inference all share one decoder.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import DepthwiseSeparable, conv_bn_act

# Initial class probability per cell and class: about 5 objects per 640x640 image, spread over
# the cells of a level. The BCE is summed over every cell and class, so a prior much above
# this would drown the few positives in the loss of the first epochs.
OBJECTS_PER_IMAGE = 5
REFERENCE_SIDE = 640
BOX_BIAS = 1.0  # softplus(1.0) ~ 1.3 strides per side: a sensible initial box


class HeadLevel(nn.Module):
    """One pyramid level's head: a shared 1x1 stem, then separate class and box branches.

    Decoupled because classifying wants features that ignore small shifts and regressing wants the opposite:
    YOLOX found a shared branch slower to converge and lower in AP, and YOLOv8 keeps them apart too.
    """

    def __init__(self, width: int, num_classes: int, depth: int) -> None:
        super().__init__()
        self.stem = conv_bn_act(width, width, kernel=1)
        self.cls_branch = nn.Sequential(*(DepthwiseSeparable(width, width) for _ in range(depth)))
        self.box_branch = nn.Sequential(*(DepthwiseSeparable(width, width) for _ in range(depth)))
        self.cls_out = nn.Conv2d(width, num_classes, 1)
        self.box_out = nn.Conv2d(width, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return torch.cat([self.box_out(self.box_branch(x)), self.cls_out(self.cls_branch(x))], dim=1)


class YoloHead(nn.Module):
    """One ``HeadLevel`` per feature map (strides 8, 16, 32): raw outputs only, decoded outside (``ops.boxes``)."""

    def __init__(self, width: int, num_classes: int, num_levels: int = 3, depth: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.levels = nn.ModuleList(HeadLevel(width, num_classes, depth) for _ in range(num_levels))

    @torch.no_grad()
    def init_biases(self, strides: tuple[int, ...]) -> None:
        """Start class scores at the rare-object prior and boxes at about a stride per side (see the constants)."""
        for level, stride in zip(self.levels, strides):
            prior = OBJECTS_PER_IMAGE / self.num_classes / (REFERENCE_SIDE / stride) ** 2
            nn.init.normal_(level.cls_out.weight, std=0.01)
            nn.init.constant_(level.cls_out.bias, math.log(prior / (1 - prior)))
            nn.init.normal_(level.box_out.weight, std=0.01)
            nn.init.constant_(level.box_out.bias, BOX_BIAS)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [level(f) for level, f in zip(self.levels, features)]
