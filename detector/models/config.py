"""A variant's architecture as plain data: what manifests hold, readable without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

BACKBONE_NAMES = ("mobilenet_v3_small", "mobilenet_v3_large")  # torchvision builders (see ``backbone``)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one variant; lives in the manifest as plain YAML."""

    backbone: str = "mobilenet_v3_small"  # torchvision builder name
    num_classes: int = 20
    neck_width: int = 64  # channels of every PAN level and of the head
    head_depth: int = 1  # depthwise-separable convs per head branch

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown architecture keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)
