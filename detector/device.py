"""Pick the compute device: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from .errors import LiveDetError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def select_device(requested: str = "auto") -> torch.device:
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
