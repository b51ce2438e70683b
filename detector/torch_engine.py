"""The torch backend: the fused network on CUDA, MPS or the CPU (fp16 and channels_last on CUDA)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from .export import DecodedNetwork
from .loader import LoadedModel


class TorchEngine:
    """Runs the fused network with its box decoding (``DecodedNetwork``); thresholds and NMS stay outside.

    A deep copy is fused, so the loaded model is left as it was (training and export need it unfused).
    """

    name = "torch"

    def __init__(self, model: LoadedModel, device: torch.device, *, half: bool | None = None,
                 merge_head: bool | None = None) -> None:
        if model.network is None:
            raise ValueError("TorchEngine needs a torch network")
        self.torch_device = device
        self.device = str(device)
        self.half = (device.type == "cuda") if half is None else half
        self.input_dtype = torch.float16 if self.half else torch.float32
        # on a GPU the time goes on kernel launches, so the head's branches run as one there (see fuse)
        merge_head = (device.type == "cuda") if merge_head is None else merge_head
        net = DecodedNetwork(copy.deepcopy(model.network).eval().fuse(merge_head=merge_head))
        net = net.to(device=device, dtype=self.input_dtype)
        self.channels_last = device.type == "cuda"
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images already on the device -> boxes and scores left there (the CUDA fast path's step)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images.to(self.input_dtype))

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = self.forward(torch.from_numpy(images).to(self.torch_device))
        return boxes.float().cpu().numpy(), scores.float().cpu().numpy()
