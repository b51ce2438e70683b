"""Backends that run the network: a batch of letterboxed images in, decoded boxes and scores out.

``TorchEngine`` runs on CUDA/MPS/CPU (fp16 and channels_last on CUDA);
``OnnxEngine`` runs ONNX Runtime, which on a laptop CPU is several times
faster than eager PyTorch for this depthwise-heavy network.
"""

from __future__ import annotations

import copy
from typing import Protocol

import numpy as np
import torch

from .errors import ModelError
from .export import DecodedNetwork, onnx_bytes
from .loader import LoadedModel


class Engine(Protocol):
    name: str  # "torch" or "onnxruntime"
    device: torch.device
    input_dtype: torch.dtype

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) float in [0, 1] on ``device`` -> boxes (B, N, 4), scores (B, N, C)."""
        ...


class TorchEngine:
    name = "torch"

    def __init__(self, model: LoadedModel, device: torch.device, *, half: bool | None = None) -> None:
        if model.network is None:
            raise ValueError("TorchEngine needs a torch network")
        self.device = device
        self.half = (device.type == "cuda") if half is None else half
        self.input_dtype = torch.float16 if self.half else torch.float32
        net = DecodedNetwork(copy.deepcopy(model.network).eval().fuse())
        net = net.to(device=device, dtype=self.input_dtype)
        self.channels_last = device.type == "cuda"
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images.to(self.input_dtype))


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


class OnnxEngine:
    """ONNX Runtime on the CPU. A graph from a file is only trusted as far as the loader could check it:
    what it returns is checked on every call, and any failure is a ``ModelError`` naming the file."""

    name = "onnxruntime"
    device = torch.device("cpu")
    input_dtype = torch.float32

    def __init__(self, model: LoadedModel, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        spec = model.spec
        self.source = spec.weights_path.name if model.network is None and spec.weights_path else spec.name
        self.num_classes = len(model.class_names)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # Busy-waiting worker threads would steal the cores that decoding and NMS need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        data = onnx_bytes(model)
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.source}: ONNX Runtime cannot run this model: {_first_line(exc)}") from None

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = {"images": np.ascontiguousarray(images.numpy(), dtype=np.float32)}
        try:
            boxes, scores = self.session.run(["boxes", "scores"], feed)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.source}: failed to run in ONNX Runtime: {_first_line(exc)}") from None
        self._check(images.shape[0], boxes, scores)
        return torch.from_numpy(boxes), torch.from_numpy(scores)

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


def make_engine(model: LoadedModel, device: torch.device, *, backend: str = "auto", half: bool | None = None) -> Engine:
    """``auto``: ONNX Runtime on the CPU when installed (or when the model is ONNX), else torch."""
    if backend not in ("auto", "torch", "onnxruntime"):
        raise ValueError(f"unknown backend {backend!r}")
    if model.network is None or backend == "onnxruntime":
        return OnnxEngine(model)
    if backend == "auto" and device.type == "cpu" and onnxruntime_available():
        return OnnxEngine(model)
    return TorchEngine(model, device, half=half)
