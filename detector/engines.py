"""Backends that run the network: a batch of letterboxed images in, decoded boxes and scores out.

Both take and return host NumPy arrays. ``OnnxEngine`` runs ONNX Runtime,
which on a laptop CPU is several times faster than eager PyTorch for this
depthwise-heavy network, and needs no torch when its graph comes from a file
or the export cache (``detector.onnx_cache``). ``detector.torch_engine.TorchEngine`` runs on
CUDA/MPS/CPU (fp16 and channels_last on CUDA); it is imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import ModelError, first_line
from .loader import LoadedModel

if TYPE_CHECKING:
    import torch


class Engine(Protocol):
    name: str  # "torch" or "onnxruntime"
    device: str  # "cpu", "cuda", "cuda:1", "mps", ...
    half: bool  # fp16 inputs and weights

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3, H, W) float32 in [0, 1] -> boxes (B, N, 4) and scores (B, N, C), float32, on the host."""
        ...


class OnnxEngine:
    """ONNX Runtime on the CPU. A graph from a file is only trusted as far as the loader could check it:
    what it returns is checked on every call, and any failure is a ``ModelError`` naming the file."""

    name = "onnxruntime"
    device = "cpu"
    half = False

    def __init__(self, model: LoadedModel) -> None:
        import onnxruntime as ort

        spec = model.spec
        self.source = spec.weights_path.name if model.network is None and spec.weights_path else spec.name
        self.num_classes = len(model.class_names)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # Busy-waiting worker threads would steal the cores that decoding and NMS need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if model.onnx_bytes is not None:
            data = model.onnx_bytes
        else:  # exported in memory: keeping exports on disk is load_predictor's job, not the engine's
            from .export import onnx_bytes

            data = onnx_bytes(model)
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.source}: ONNX Runtime cannot run this model: {first_line(exc)}") from None

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {"images": np.ascontiguousarray(images, dtype=np.float32)}
        try:
            boxes, scores = self.session.run(["boxes", "scores"], feed)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.source}: failed to run in ONNX Runtime: {first_line(exc)}") from None
        self._check(images.shape[0], boxes, scores)
        return boxes, scores

    def _check(self, batch: int, boxes: np.ndarray, scores: np.ndarray) -> None:
        """The output contract of ``detector.export``; a graph that breaks it is a bad model file."""
        src = self.source
        for label, array in (("boxes", boxes), ("scores", scores)):
            if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                kind = getattr(array, "dtype", type(array).__name__)
                raise ModelError(f"{src}: output '{label}' is {kind}, expected float")
        if boxes.ndim != 3 or boxes.shape[0] != batch or boxes.shape[2] != 4:
            raise ModelError(f"{src}: output 'boxes' has shape {tuple(boxes.shape)}, expected (batch, N, 4) "
                             f"with batch {batch}")
        if scores.ndim != 3 or scores.shape[0] != batch:
            raise ModelError(f"{src}: output 'scores' has shape {tuple(scores.shape)}, expected (batch, N, classes) "
                             f"with batch {batch}")
        if scores.shape[2] != self.num_classes:
            raise ModelError(
                f"{src}: output 'scores' has {scores.shape[2]} classes but the model lists {self.num_classes}"
            )
        if scores.shape[1] != boxes.shape[1]:
            raise ModelError(f"{src}: output 'boxes' has {boxes.shape[1]} rows but 'scores' has {scores.shape[1]}")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def uses_onnxruntime(model: LoadedModel, device: torch.device | None, backend: str = "auto") -> bool:
    """``auto``: ONNX Runtime on the CPU when installed (always for an ONNX model, whose ``device`` is None),
    else torch on ``device``."""
    if backend not in ("auto", "torch", "onnxruntime"):
        raise ValueError(f"unknown backend {backend!r}")
    if model.network is None or backend == "onnxruntime":
        return True
    return backend == "auto" and device is not None and device.type == "cpu" and onnxruntime_available()


def make_engine(model: LoadedModel, device: torch.device | None, *, backend: str = "auto",
                half: bool | None = None) -> Engine:
    """The engine ``uses_onnxruntime`` picks."""
    if uses_onnxruntime(model, device, backend):
        return OnnxEngine(model)
    from .torch_engine import TorchEngine

    return TorchEngine(model, device, half=half)
