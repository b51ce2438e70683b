"""Light PAN: top-down then bottom-up fusion of the three backbone maps.

All levels are projected to one width so the head can treat them alike; every
3x3 conv is depthwise-separable to keep the neck cheap on a laptop CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import DepthwiseSeparable, conv_bn_act


class LightPAN(nn.Module):
    """(C3, C4, C5) at strides 8/16/32 -> (P3, N4, N5), each ``width`` channels (N: after the bottom-up pass)."""

    def __init__(self, in_channels: tuple[int, int, int], width: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn_act(c, width, kernel=1) for c in in_channels)
        self.top_down = nn.ModuleList(DepthwiseSeparable(width, width) for _ in range(2))
        self.downsample = nn.ModuleList(DepthwiseSeparable(width, width, stride=2) for _ in range(2))
        self.bottom_up = nn.ModuleList(DepthwiseSeparable(width, width) for _ in range(2))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        c3, c4, c5 = (lat(f) for lat, f in zip(self.lateral, features))
        # top-down: coarse semantics flow to the fine maps
        p5 = c5
        p4 = self.top_down[0](c4 + F.interpolate(p5, size=c4.shape[-2:], mode="nearest"))
        p3 = self.top_down[1](c3 + F.interpolate(p4, size=c3.shape[-2:], mode="nearest"))
        # bottom-up: precise localisation flows back to the coarse maps
        n4 = self.bottom_up[0](p4 + self.downsample[0](p3))
        n5 = self.bottom_up[1](p5 + self.downsample[1](n4))
        return [p3, n4, n5]
