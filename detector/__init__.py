"""LiveDet's detector: a YOLO-style network on a MobileNetV3 backbone, and its inference API.

Public surface (everything else is private and may change)::

    from detector import load_model, Predictor
    predictor = Predictor(load_model("yolo-mnv3-small"), device="auto")
    prediction = predictor.predict(frame_bgr, conf=0.25, iou=0.45)
    prediction.detections.boxes  # (N, 4) xyxy in frame pixels

This package never imports Qt.
"""

from .device import select_device
from .errors import LiveDetError, ModelError, OutputError, SourceError
from .loader import LoadedModel, load_model, random_model
from .ops.postprocess import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET, detections_from_candidates
from .predictor import Predictor
from .preprocess import as_bgr_uint8
from .types import Candidates, Detections, LetterboxMeta, Prediction, StageTimings
from .zoo import ModelSpec, list_models

__version__ = "0.1.0"

__all__ = [
    "Candidates",
    "as_bgr_uint8",
    "DEFAULT_CONF",
    "DEFAULT_IOU",
    "DEFAULT_MAX_DET",
    "Detections",
    "LetterboxMeta",
    "LiveDetError",
    "LoadedModel",
    "ModelError",
    "ModelSpec",
    "OutputError",
    "Prediction",
    "Predictor",
    "SourceError",
    "StageTimings",
    "detections_from_candidates",
    "list_models",
    "load_model",
    "random_model",
    "select_device",
]
