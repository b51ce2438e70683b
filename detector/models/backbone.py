"""MobileNetV3 feature extractor publishing stride-8, 16 and 32 maps.

torchvision builds the network (inverted residuals, squeeze-excitation,
h-swish); we cut its ``features`` into three stages by reading each block's
stride from its convolutions, so no layer index is hard-coded and both the
Small and Large variants split the same way. The final 1x1 expansion conv
(576/960 channels) only serves the ImageNet classifier and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchvision.models import mobilenetv3

from ..errors import ModelError, first_line
from .layers import BN_EPS, BN_MOMENTUM

BACKBONES = {
    "mobilenet_v3_small": (mobilenetv3.mobilenet_v3_small, mobilenetv3.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
    "mobilenet_v3_large": (mobilenetv3.mobilenet_v3_large, mobilenetv3.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
}  # keys: config.BACKBONE_NAMES, which manifests are checked against without torch (a test keeps them equal)
FEATURE_STRIDES = (8, 16, 32)

# torchvision's ImageNet weights expect inputs normalised with these (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_weights(name: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for backbone ``name``: downloaded once into the torch hub cache
    ($TORCH_HOME/hub/checkpoints), read from there afterwards. No network and no file there is a
    ``ModelError`` that says where to put the file (a raw URLError named no file and no way out)."""
    weights = BACKBONES[name][1]
    file_name = weights.url.rsplit("/", 1)[-1]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # URLError (no network), or a kept file cut short or not a checkpoint at all
        cause = getattr(exc, "reason", None)  # a URLError's, without its "<urlopen error …>" around it
        reason = str(cause) if cause else first_line(exc)
        if (folder / file_name).is_file():  # the hash is checked only as it downloads: a damaged file stays
            raise ModelError(f"the ImageNet weights of {name} in {folder / file_name} are damaged ({reason}): "
                             "delete the file, and they are downloaded again") from None
        raise ModelError(f"cannot get the ImageNet weights of {name} from {weights.url} ({reason}): without a "
                         f"network, copy {file_name} into {folder}, or train from scratch "
                         "(without --pretrained-backbone)") from None


@dataclass(frozen=True)
class FeatureInfo:
    """What one published feature map looks like."""

    channels: int
    stride: int  # input pixels per feature-map cell


def _block_stride(block: nn.Module) -> int:
    """Spatial downsampling factor of one block, read from its convolutions."""
    stride = 1
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            stride *= m.stride[0]
    return stride


def _block_out_channels(block: nn.Module) -> int:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


class MobileNetV3Features(nn.Module):
    """Input RGB in [0, 1], (B, 3, H, W) -> three maps at strides 8, 16, 32."""

    def __init__(self, name: str, *, pretrained: bool = False) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
        builder, _ = BACKBONES[name]
        norm_layer = partial(nn.BatchNorm2d, eps=BN_EPS, momentum=BN_MOMENTUM)
        # Built without weights, which are loaded afterwards: ``imagenet_weights`` turns a download that fails
        # (no internet, a proxy) into a ModelError that says what to do, where torchvision's would raise its own.
        net = builder(weights=None, norm_layer=norm_layer)
        if pretrained:
            net.load_state_dict(imagenet_weights(name))
        blocks = list(net.features.children())[:-1]  # drop the classifier's 1x1 expansion

        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        stages: list[nn.Sequential] = []
        infos: list[FeatureInfo] = []
        current: list[nn.Module] = []
        stride = 1
        for i, block in enumerate(blocks):
            stride *= _block_stride(block)
            current.append(block)
            next_stride = _block_stride(blocks[i + 1]) if i + 1 < len(blocks) else 2  # the end closes a stage too
            # A stage ends where the next block would halve the resolution again.
            if stride in FEATURE_STRIDES and next_stride > 1:
                stages.append(nn.Sequential(*current))
                infos.append(FeatureInfo(_block_out_channels(block), stride))
                current = []
        if [f.stride for f in infos] != list(FEATURE_STRIDES):
            raise RuntimeError(f"could not split {name} at strides {FEATURE_STRIDES}: got {infos}")
        self.stages = nn.ModuleList(stages)
        self.feature_info: tuple[FeatureInfo, ...] = tuple(infos)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
