"""The named variants' recipes: architecture and input side.

A shipped model is described by its manifest in ``assets/models``; a preset is
what ``train --model NAME`` builds, so a variant can be trained before (or
without) any weights being shipped for it.
"""

from __future__ import annotations

from .config import ModelConfig

PRESETS: dict[str, tuple[ModelConfig, int]] = {
    "yolo-mnv3-small": (ModelConfig(backbone="mobilenet_v3_small", neck_width=64, head_depth=1), 320),
    "yolo-mnv3-large": (ModelConfig(backbone="mobilenet_v3_large", neck_width=96, head_depth=2), 416),
}
