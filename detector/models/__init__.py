"""Network definitions: the networks and ``build_model`` from here; presets, configs and backbone facts
from their submodules (``presets``, ``config``, ``backbone``).

``ModelConfig`` is plain data and loads at once; the networks (torch) load on first use,
so reading manifests (the app's model picker) does not wait for torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from .config import ModelConfig

__all__ = ["ModelConfig", "YoloDetector", "build_model"]


def __getattr__(name: str):
    if name in ("YoloDetector", "build_model"):
        value = getattr(import_module(".yolo", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'detector.models' has no attribute '{name}'")


if TYPE_CHECKING:
    from .yolo import YoloDetector, build_model
