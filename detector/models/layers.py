"""Small building blocks shared by the neck and the head.

Every conv built here is followed by BatchNorm inside one ``nn.Sequential`` so that
``fuse_conv_bn`` can fold them the same way it folds torchvision's blocks (the head's two output
convs are plain, with a bias: nothing follows them to fold).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

BN_EPS = 1e-3  # as torchvision's MobileNetV3 (ImageNet weights load with the statistics they were trained with)
BN_MOMENTUM = 0.1  # PyTorch default; running stats keep up with short, fast-moving runs


def conv_bn_act(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> h-swish."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM),
        nn.Hardswish(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv then 1x1 pointwise conv: a 3x3 receptive field at a fraction of the cost."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__(
            conv_bn_act(c_in, c_in, kernel=3, stride=stride, groups=c_in),
            conv_bn_act(c_in, c_out, kernel=1),
        )


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a Conv2d in a Sequential into the conv.

    Inference-only: the folded conv gets a bias and the BatchNorm becomes Identity,
    saving one memory pass per layer. Works in place and returns ``module``.
    """
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        names = list(child._modules.keys())
        for first, second in zip(names, names[1:]):
            conv, bn = child._modules[first], child._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                child._modules[first] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                child._modules[second] = nn.Identity()
    return module


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs and unit BatchNorm, as torchvision does for MobileNetV3."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
