"""LiveDet's detector: a YOLO-style network on a MobileNetV3 backbone, and its inference API.

Public surface (everything else is private and may change)::

    from detector import load_predictor
    predictor = load_predictor("yolo-mnv3-small", device="auto")  # = Predictor(load_model(...), device=...)
    prediction = predictor.predict(frame_bgr, conf=0.25, iou=0.45)
    prediction.detections.boxes  # (N, 4) xyxy in frame pixels

Names are imported on first use (PEP 562): importing torch takes seconds, and the
desktop app shows its start-up window before anything asks for it. Inference on
the CPU needs no torch at all once a model's ONNX export is cached
(``load_predictor``, ``onnx_cache``): torch is imported only to build a network.

This package never imports Qt.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_HOME = {
    "DEFAULT_CONF": ".defaults",
    "DEFAULT_IOU": ".defaults",
    "DEFAULT_MAX_DET": ".defaults",
    "LiveDetError": ".errors",
    "ModelError": ".errors",
    "OutputError": ".errors",
    "SourceError": ".errors",
    "Candidates": ".types",
    "Detections": ".types",
    "LetterboxMeta": ".types",
    "Prediction": ".types",
    "StageTimings": ".types",
    "ModelSpec": ".zoo",
    "list_models": ".zoo",
    "manifest_problems": ".zoo",
    "missing_models_dir": ".zoo",
    "select_device": ".device",
    "LoadedModel": ".loader",
    "load_model": ".loader",
    "checkpoint_name": ".loader",
    "random_model": ".loader",
    "detections_from_candidates": ".ops.postprocess",
    "Predictor": ".predictor",
    "load_predictor": ".launch",
    "as_bgr_uint8": ".preprocess",
    "resolve_classes": ".classes",
    "class_ids_named": ".classes",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'detector' has no attribute '{name}'")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs read (PyInstaller's import analysis too)
    from .classes import class_ids_named, resolve_classes
    from .defaults import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET
    from .device import select_device
    from .errors import LiveDetError, ModelError, OutputError, SourceError
    from .launch import load_predictor
    from .loader import LoadedModel, checkpoint_name, load_model, random_model
    from .ops.postprocess import detections_from_candidates
    from .predictor import Predictor
    from .preprocess import as_bgr_uint8
    from .types import Candidates, Detections, LetterboxMeta, Prediction, StageTimings
    from .zoo import ModelSpec, list_models, manifest_problems, missing_models_dir
