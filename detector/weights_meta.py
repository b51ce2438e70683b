"""What a LiveDet weights file or ONNX export says about itself, read without PyTorch.

The metadata (architecture, class names, input size) travels in the
safetensors header and in the ONNX graph's metadata under ``META_KEY``. Reading
it needs no torch, so a CPU start from a kept or given ONNX graph stays quick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from .errors import ModelError
from .models.config import ModelConfig
from .zoo import check_class_names, check_config, check_input_size

FORMAT = "livedet-weights"
FORMAT_VERSION = 1
META_KEY = "livedet"  # header key in safetensors files, metadata key in ONNX graphs


@dataclass(frozen=True)
class WeightsMeta:
    """What a weights file says about itself."""

    config: ModelConfig
    class_names: tuple[str, ...]
    input_size: int
    extra: dict  # free-form provenance (epochs, dataset, metrics)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "architecture": self.config.to_dict(),
                "class_names": list(self.class_names),
                "input_size": self.input_size,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> "WeightsMeta":
        """Parse and check the metadata, so that what it describes can be built; else a ``ModelError``."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ModelError(f"{source}: unreadable LiveDet metadata ({type(exc).__name__})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: unreadable LiveDet metadata (not a LiveDet weights file)")
        missing = [k for k in ("architecture", "class_names", "input_size") if k not in data]
        if missing:
            raise ModelError(f"{source}: unreadable LiveDet metadata (missing {', '.join(missing)})")
        config = check_config(data["architecture"], source)
        class_names = check_class_names(data["class_names"], source)
        if len(class_names) != config.num_classes:
            raise ModelError(
                f"{source}: {len(class_names)} class names but the architecture has {config.num_classes} classes"
            )
        extra = data.get("extra")
        return cls(
            config=config,
            class_names=class_names,
            input_size=check_input_size(data["input_size"], source),
            extra=dict(extra) if isinstance(extra, dict) else {},
        )


def utf8_name(path: Path) -> bool:
    """Whether ``path`` can be given to the safetensors library, which opens only UTF-8 names: a name in another
    encoding (an old Latin-1 archive, unpacked on Linux) was "not a readable safetensors file (truncated or
    corrupt?)". Such a file is read whole into memory instead."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _header_metadata(path: Path) -> dict:
    """The ``__metadata__`` of a safetensors file, read by hand: an 8-byte little-endian length, then JSON."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 2 <= size <= 100 * 2**20:
            raise ValueError(f"header length {size} is not a safetensors header's")
        header = json.loads(f.read(size))
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise ValueError("its header is not a safetensors header")
    return metadata


def read_safetensors_meta(path: Path) -> WeightsMeta | None:
    """The metadata in a safetensors header (None when it has none), without loading a tensor."""
    try:
        if utf8_name(path):
            with safe_open(str(path), framework="numpy") as f:
                header = f.metadata() or {}
        else:
            header = _header_metadata(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file (truncated or corrupt?): {exc}") from None
    return WeightsMeta.from_json(header[META_KEY], path.name) if META_KEY in header else None
