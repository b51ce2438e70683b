"""The GPU fast path: one pinned-memory upload, then letterbox, network, decode and top-k replayed as one CUDA graph.

Eager PyTorch launches a few hundred small kernels per frame for this network,
and on a fast GPU launching them takes longer than running them. Every step
from the uploaded uint8 frame to the ``k`` best candidates has a fixed shape,
so it is captured once per (batch, height, width) and letterbox plan, and then
replayed with a single launch. What depends on the data (the score floor, the user's
thresholds, NMS) runs afterwards on the host, on at most ``k`` rows.

Frames go up through a pinned (page-locked) staging buffer and the candidates'
boxes, scores and classes come back through three pinned buffers: a call costs
a copy into the staging buffer, one upload, three small downloads, one wait and
a copy out of the reused buffers.

With ``use_graph=False`` the same steps run eagerly: that is how they are
tested on machines without CUDA, and what a failed capture falls back to.

``compile=True`` first hands the step to ``torch.compile`` (Inductor), which fuses
the activations, squeeze-excite gates, letterbox and decode arithmetic into fewer
kernels; the graph then replays those. It costs a compile per frame size (tens of
seconds), so it is an option for long jobs, not the default.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import first_line
from .ops.postprocess import CANDIDATE_TOP_K
from .preprocess import letterbox_on_device
from .types import LetterboxMeta

MAX_CACHED_SHAPES = 4  # a camera keeps one frame size; a folder of images may cycle through a few
CAPTURE_WARMUP_RUNS = 3  # eager runs before capture, so cuDNN and the allocator have settled

TopK = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (B, K, 4), scores (B, K), class ids (B, K)


def topk_candidates(
    boxes: torch.Tensor, scores: torch.Tensor, k: int = CANDIDATE_TOP_K
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed-shape candidate selection for a batch: (B, N, 4), (B, N, C) -> the ``k`` best boxes per image.

    Returns boxes (B, K, 4), scores (B, K) best first, class ids (B, K), K = min(k, N).
    No step depends on the data's values, so it can run inside a CUDA graph; the
    score floor is applied afterwards, on the host, to K rows instead of N.
    """
    best, class_ids = scores.max(dim=2)
    top_scores, order = best.topk(min(k, best.shape[1]), dim=1)
    top_boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, boxes.shape[-1]))
    return top_boxes, top_scores, class_ids.gather(1, order)


@dataclass(frozen=True)
class FastPathTimings:
    """Milliseconds of one call: copying frames into the staging buffer, and the device round trip."""

    staging_ms: float
    device_ms: float


def _pinned(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Page-locked host memory when the device is a GPU (transfers skip a bounce buffer)."""
    return torch.empty(shape, dtype=dtype, pin_memory=device.type == "cuda")


def capture_cuda_graph(step: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], static_input: torch.Tensor):
    """Warm ``step`` up on a side stream, then capture it; returns (graph, static outputs).

    ``thread_local`` capture: the app's other threads may use CUDA meanwhile (e.g.
    a model loading in the background) without invalidating this capture.
    """
    device = static_input.device
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(CAPTURE_WARMUP_RUNS):
            step(static_input)
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
        outputs = step(static_input)
    return graph, outputs


def _recompile_limit_message() -> str:
    """Why a frame size past torch.compile's limit runs uncompiled.

    Dynamo keeps a bounded number of compiled versions of one function (``recompile_limit``, 8
    by default) and past it would run the step uncompiled without a word; the fast path asks it
    to fail instead, so that the user is told.
    """
    limit = torch._dynamo.config.recompile_limit
    return (f"torch.compile keeps at most {limit} frame sizes in one process; the sizes compiled so far stay "
            "compiled, new ones run uncompiled")


class _ShapeRunner:
    """Static buffers (and, on CUDA, the captured graph) for one (batch, height, width)."""

    def __init__(self, step: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], device: torch.device,
                 shape: tuple[int, int, int], use_graph: bool, run_once: bool = False) -> None:
        batch, height, width = shape
        self.step = step
        self.device = device
        self.host_in = _pinned((batch, height, width, 3), torch.uint8, device)
        self.device_in = self.host_in if device.type == "cpu" else torch.empty_like(self.host_in, device=device)
        self.graph = None
        self.device_out: tuple[torch.Tensor, ...] | None = None
        if use_graph:
            with torch.inference_mode():
                self.graph, self.device_out = capture_cuda_graph(step, self.device_in)
        elif run_once:  # a step to compile fails here, where its caller can fall back, not on a frame
            with torch.inference_mode():
                step(self.device_in.zero_())
        self.host_out: tuple[torch.Tensor, ...] | None = None
        self.done = torch.cuda.Event() if device.type == "cuda" else None

    def run(self, frames: Sequence[np.ndarray]) -> tuple[TopK, FastPathTimings]:
        t0 = time.perf_counter()
        staging = self.host_in.numpy()
        for i, frame in enumerate(frames):
            staging[i] = frame
        t1 = time.perf_counter()
        with torch.inference_mode():
            if self.device_in is not self.host_in:
                self.device_in.copy_(self.host_in, non_blocking=True)
            if self.graph is not None:
                self.graph.replay()
                outputs = self.device_out
            else:
                outputs = self.step(self.device_in)
            if self.done is None:  # CPU: the outputs already are host tensors, fresh on every call
                arrays = tuple(t.numpy() for t in outputs)
            else:
                if self.host_out is None:
                    self.host_out = tuple(_pinned(tuple(t.shape), t.dtype, self.device) for t in outputs)
                for host, dev in zip(self.host_out, outputs):
                    host.copy_(dev, non_blocking=True)
                self.done.record(torch.cuda.current_stream(self.device))  # this GPU's (on cuda:1 the current
                # device's stream would be cuda:0's, and the wait would not wait for these copies)
                self.done.synchronize()
                arrays = tuple(t.numpy().copy() for t in self.host_out)  # the buffers are reused next call
        t2 = time.perf_counter()
        return arrays, FastPathTimings(staging_ms=(t1 - t0) * 1e3, device_ms=(t2 - t1) * 1e3)


class FastPath:
    """BGR uint8 frames of one size -> the ``k`` best (box, score, class) per frame, in input pixels.

    ``network`` maps (B, 3, h, w) images in [0, 1] to decoded boxes (B, N, 4) and
    scores (B, N, C), e.g. ``TorchEngine.forward``. ``use_graph`` defaults to True on CUDA.
    If a capture fails (an old driver, an op that cannot be captured), the path
    keeps working eagerly and ``graph_error`` says why; likewise a step that will not
    compile runs uncompiled and ``compile_error`` says why.
    """

    def __init__(self, network: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                 dtype: torch.dtype = torch.float32, *, k: int = CANDIDATE_TOP_K, use_graph: bool | None = None,
                 compile: bool = False) -> None:
        self.network = network
        self.device = device
        self.dtype = dtype
        # one call at a time: a runner's staging and output buffers are reused by every call of its frame size, so
        # two threads predicting at once got each other's detections (43 of 300 calls, three threads)
        self._lock = threading.Lock()
        self.k = k
        self.use_graph = (device.type == "cuda") if use_graph is None else use_graph
        if self.use_graph and device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.compile = compile
        self.graph_error: str | None = None
        self.compile_error: str | None = None
        self._past_compile_limit = False
        self._runners: OrderedDict[tuple[tuple[int, int, int], LetterboxMeta], _ShapeRunner] = OrderedDict()

    @property
    def graphs_active(self) -> bool:
        return self.use_graph and self.graph_error is None

    @property
    def compile_active(self) -> bool:
        return self.compile and self.compile_error is None

    @property
    def compile_problem(self) -> str | None:
        """What to tell a user who asked for ``compile`` about frame sizes that run uncompiled."""
        if self.compile_error is None or self._past_compile_limit:
            return self.compile_error
        return f"torch.compile failed, running uncompiled: {self.compile_error}"

    def _step(self, meta: LetterboxMeta) -> Callable[[torch.Tensor], tuple[torch.Tensor, ...]]:
        def step(frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
            boxes, scores = self.network(letterbox_on_device(frames, meta, self.dtype))
            top_boxes, top_scores, class_ids = topk_candidates(boxes, scores, self.k)
            return top_boxes.float(), top_scores.float(), class_ids

        return step

    def _runner(self, shape: tuple[int, int, int], meta: LetterboxMeta) -> _ShapeRunner:
        key = (shape, meta)  # the letterbox is baked into the step: frames of one size planned for another input
        runner = self._runners.get(key)  # size (another imgsz) need a runner of their own
        if runner is not None:
            self._runners.move_to_end(key)
            return runner
        step = self._step(meta)
        runner = None
        if self.compile_active:
            try:  # compiling happens in the runner's first (warm-up) calls
                with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
                    runner = _ShapeRunner(torch.compile(step, dynamic=False), self.device, shape,
                                          self.graphs_active, run_once=True)
            except torch._dynamo.exc.FailOnRecompileLimitHit:
                self.compile_error, self._past_compile_limit = _recompile_limit_message(), True
            except Exception as exc:  # no Triton or C compiler, an op Inductor cannot lower: run it uncompiled
                self.compile_error = first_line(exc, 200)
        if runner is None:
            try:
                runner = _ShapeRunner(step, self.device, shape, self.graphs_active)
            except RuntimeError as exc:  # capture refused: stay correct, just slower
                self.graph_error = first_line(exc, 200)
                runner = _ShapeRunner(step, self.device, shape, use_graph=False)
        self._runners[key] = runner
        while len(self._runners) > MAX_CACHED_SHAPES:
            self._runners.popitem(last=False)
        return runner

    def __call__(self, frames: Sequence[np.ndarray], meta: LetterboxMeta) -> tuple[TopK, FastPathTimings]:
        """``frames``: BGR uint8 (H, W, 3), all of the size ``meta`` was planned for."""
        height, width = meta.frame_size
        with self._lock:
            return self._runner((len(frames), height, width), meta).run(frames)
