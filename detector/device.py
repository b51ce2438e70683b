"""Pick the compute device: CUDA, then Apple MPS, then CPU.

torch is imported inside the functions that need it: ``gpu_may_be_present``
answers without it, so a machine with no GPU can start on ONNX Runtime alone.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
from typing import TYPE_CHECKING

from .errors import LiveDetError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

# GPU driver libraries whose absence means torch cannot find a GPU either (NVIDIA CUDA; AMD ROCm builds
# of torch answer to torch.cuda too).
_GPU_DRIVER_LIBRARIES = ("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "libcuda.so", "libamdhip64.so")


def _torch_is_cpu_only_build() -> bool:
    """PyTorch's CPU-only wheels (what release bundles use) carry "+cpu" in their version."""
    try:
        return importlib.metadata.version("torch").endswith("+cpu")
    except importlib.metadata.PackageNotFoundError:
        return False


def gpu_may_be_present() -> bool:
    """False only when torch certainly has no GPU here: a CPU-only torch build, GPUs hidden with
    ``CUDA_VISIBLE_DEVICES=""`` (as --cpu-only bundles do), or no GPU driver library loads; a Mac always
    may (Apple's MPS needs no driver). Costs milliseconds where importing torch to ask costs seconds."""
    if _torch_is_cpu_only_build():
        return False
    if sys.platform == "darwin":
        return True
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    for name in _GPU_DRIVER_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def check_device_name(requested: str | None, *, cuda_needed: bool = True) -> None:
    """Refuse a device name that no machine has, and (``cuda_needed``) CUDA where no GPU driver is installed,
    before seconds of importing torch and building a network (``device="gpu"``, or ``"cuda"`` on a laptop,
    failed only then). An ONNX graph needs no CUDA: it runs on the CPU whatever the device."""
    name = (requested or "auto").lower()
    index = name.partition(":")[2]
    if name not in DEVICE_CHOICES and not (name.startswith("cuda:") and index.isascii() and index.isdigit()):
        raise LiveDetError(f"unknown device '{requested}' (choose from {', '.join(DEVICE_CHOICES)}, or cuda:N)")
    if cuda_needed and name.startswith("cuda") and not gpu_may_be_present():
        raise LiveDetError("CUDA was requested but no CUDA GPU is available; use --device cpu")


def runs_on_cpu(requested: str = "auto") -> bool:
    """Whether ``select_device(requested)`` is sure to pick the CPU, known without importing torch."""
    requested = (requested or "auto").lower()
    return requested == "cpu" or (requested == "auto" and not gpu_may_be_present())


def select_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; a device asked for by name that this
    machine lacks is a ``LiveDetError`` (said to the user) rather than a silent fall back to the CPU."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise LiveDetError("CUDA was requested but no CUDA GPU is available; use --device cpu")
        return torch.device(requested)
    if requested == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise LiveDetError("MPS was requested but is not available on this machine; use --device cpu")
        return torch.device("mps")
    if requested == "cpu":
        return torch.device("cpu")
    raise LiveDetError(f"unknown device '{requested}' (choose from {', '.join(DEVICE_CHOICES)})")
