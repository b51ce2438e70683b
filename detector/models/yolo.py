"""The whole detector: MobileNetV3 backbone + light PAN + decoupled YOLO head."""

from __future__ import annotations

import torch
from torch import nn

from .backbone import MobileNetV3Features
from .config import ModelConfig
from .head import YoloHead
from .layers import fuse_conv_bn, init_weights
from .neck import LightPAN


class YoloDetector(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> raw per-level outputs (B, 4 + C, H/s, W/s).

    H and W must be multiples of 32 (the letterbox takes care of that).
    """

    def __init__(self, config: ModelConfig, *, pretrained_backbone: bool = False) -> None:
        super().__init__()
        self.config = config
        self.backbone = MobileNetV3Features(config.backbone, pretrained=pretrained_backbone)
        in_channels = tuple(f.channels for f in self.backbone.feature_info)
        self.neck = LightPAN(in_channels, config.neck_width)
        self.head = YoloHead(config.neck_width, config.num_classes, len(in_channels), config.head_depth)
        init_weights(self.neck)
        init_weights(self.head)
        self.head.init_biases(self.strides)

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(f.stride for f in self.backbone.feature_info)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.head(self.neck(self.backbone(images)))

    def fuse(self, *, merge_head: bool = False) -> "YoloDetector":
        """Fold BatchNorm into the preceding convs (inference only, in place; the outputs stay the same).

        ``merge_head`` also runs each head level's two branches as one (``head.merged_level``): fewer
        kernels for more multiply-adds (8 % more for the small network), which pays where launching kernels
        is what costs time (a GPU), not where arithmetic does (a CPU)."""
        self.eval()
        fuse_conv_bn(self)
        if merge_head:
            self.head.merge_branches()
        return self


def build_model(config: ModelConfig, *, pretrained_backbone: bool = False) -> YoloDetector:
    return YoloDetector(config, pretrained_backbone=pretrained_backbone)
