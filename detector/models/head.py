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
from torch.nn.utils import skip_init

from .layers import DepthwiseSeparable, conv_bn_act

# Initial class probability per cell and class: about 5 objects per 640x640 image, spread over
# the cells of a level. The BCE is summed over every cell and class, so a prior much above
# this would drown the few positives in the loss of the first epochs.
OBJECTS_PER_IMAGE = 5
REFERENCE_SIDE = 640  # YOLOv8's bias prior, kept as is: at 320 px it is 1.25 objects per image on each level
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

    def merge_branches(self) -> None:
        """Replace every level by ``merged_level`` of it (inference only, after BatchNorm is folded)."""
        self.levels = nn.ModuleList(merged_level(level) for level in self.levels)


def merged_level(level: HeadLevel) -> nn.Sequential:
    """The same level as one branch twice as wide: 7 layers instead of 13 (at depth 1), the same outputs.

    Why: on a GPU this network's time goes on launching many small kernels, not on arithmetic (see
    ``detector.fastpath``), and the two branches run the same layer shapes side by side. Merged, the
    stem is computed twice over (its weights stacked), so the box branch reads the first half of the
    channels and the class branch the second; a depthwise conv already keeps channels apart, a pointwise
    conv does with two groups, and one output conv whose weights are zero across the halves reads boxes
    from the first half and class logits from the second, in the output's order (no concatenation).
    The price is arithmetic: a stem twice as wide and an output conv reading both halves add 37 % to
    the small model's head (8 % to the whole network; large: 22 % and 4 %), so it is for a GPU, where
    launches cost more than arithmetic. BatchNorm must be folded first (``fuse_conv_bn``): every conv
    needs its bias.
    """
    convs = [level.stem[0], level.box_out, level.cls_out]
    convs += [layer[0] for block in (*level.box_branch, *level.cls_branch) for layer in block]
    if any(conv.bias is None for conv in convs):
        raise ValueError("fold BatchNorm into the convs (fuse_conv_bn) before merging the head's branches")
    stem = level.stem[0]
    layers: list[nn.Module] = [_conv(stem, torch.cat([stem.weight, stem.weight]), torch.cat([stem.bias, stem.bias])),
                               nn.Hardswish(inplace=True)]
    for box_block, cls_block in zip(level.box_branch, level.cls_branch):
        for box_conv, cls_conv in ((box_block[0][0], cls_block[0][0]), (box_block[1][0], cls_block[1][0])):
            depthwise = box_conv.groups == box_conv.in_channels
            layers += [_conv(box_conv, torch.cat([box_conv.weight, cls_conv.weight]),
                             torch.cat([box_conv.bias, cls_conv.bias]),
                             groups=2 * box_conv.groups if depthwise else 2),
                       nn.Hardswish(inplace=True)]
    box_out, cls_out = level.box_out, level.cls_out
    width = box_out.in_channels
    weight = box_out.weight.new_zeros((box_out.out_channels + cls_out.out_channels, 2 * width, 1, 1))
    weight[: box_out.out_channels, :width] = box_out.weight
    weight[box_out.out_channels :, width:] = cls_out.weight
    layers.append(_conv(box_out, weight, torch.cat([box_out.bias, cls_out.bias])))
    return nn.Sequential(*layers)


def _conv(like: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor, groups: int = 1) -> nn.Conv2d:
    """A conv with ``like``'s kernel, stride and padding, and the given weights and groups."""
    conv = skip_init(nn.Conv2d, weight.shape[1] * groups, weight.shape[0], like.kernel_size, like.stride,
                     like.padding, groups=groups, device=weight.device, dtype=weight.dtype)  # no draw from the RNG
    conv.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
    return conv
