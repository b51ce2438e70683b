"""Network definitions. Import from here; the submodules are private."""

from .yolo import ModelConfig, YoloDetector, build_model

__all__ = ["ModelConfig", "YoloDetector", "build_model"]
