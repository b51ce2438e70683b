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


class OnnxEngine:
    name = "onnxruntime"
    device = torch.device("cpu")
    input_dtype = torch.float32

    def __init__(self, model: LoadedModel, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Busy-waiting worker threads would steal the cores that decoding and NMS need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx_bytes(model), options, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = {"images": np.ascontiguousarray(images.numpy(), dtype=np.float32)}
        boxes, scores = self.session.run(["boxes", "scores"], feed)
        return torch.from_numpy(boxes), torch.from_numpy(scores)


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
