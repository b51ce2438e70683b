"""Frame in, detections out: the one inference entry point shared by the CLI and the GUI.

``Predictor`` owns the device, precision and backend choice, warms up, and
times each stage. It neither draws nor reads or writes files.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from .defaults import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET
from .device import select_device
from .engines import Engine, TorchEngine, make_engine
from .errors import LiveDetError
from .fastpath import FastPath
from .loader import LoadedModel
from .ops.postprocess import (
    CANDIDATE_FLOOR,
    CANDIDATE_TOP_K,
    apply_thresholds,
    select_candidates,
    to_detections,
)
from .preprocess import as_bgr_uint8, letterbox, letterbox_meta, letterbox_on_device, to_input_array
from .types import Candidates, Detections, LetterboxMeta, Prediction, StageTimings


def select_candidates_cpu(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    score_floor: float = CANDIDATE_FLOOR,
    top_k: int = CANDIDATE_TOP_K,
    multi_label: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``select_candidates`` for CPU tensors, done in NumPy: the same candidates (ties aside).

    torch runs a per-row ``max`` on its OpenMP pool (grain size 1), and the pool's
    threads then busy-wait on the cores ONNX Runtime and the video threads need:
    on two cores that turned 0.2 ms of post-processing into 5-15 ms.
    """
    s = scores.numpy()
    if multi_label:
        box_idx, class_ids = np.nonzero(s > score_floor)
        kept = s[box_idx, class_ids]
    else:
        class_ids = s.argmax(axis=1)  # first maximum, as torch.max
        kept = np.take_along_axis(s, class_ids[:, None], axis=1)[:, 0]
        box_idx = np.flatnonzero(kept > score_floor)
        kept, class_ids = kept[box_idx], class_ids[box_idx]
    if kept.size > top_k:
        best = np.argpartition(-kept, top_k - 1)[:top_k]
        order = best[np.argsort(-kept[best], kind="stable")]  # best first, as torch.topk
        box_idx, class_ids, kept = box_idx[order], class_ids[order], kept[order]
    return (
        torch.from_numpy(np.ascontiguousarray(boxes.numpy()[box_idx])),
        torch.from_numpy(np.ascontiguousarray(kept)),
        torch.from_numpy(class_ids.astype(np.int64)),
    )


class Predictor:
    """Runs one model on BGR uint8 frames of any size.

    ``device``: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda" or "mps".
    ``backend``: "auto" (ONNX Runtime on CPU, torch elsewhere), "torch" or "onnxruntime".
    ``half``: fp16 on CUDA by default.
    On CUDA the frame -> candidates step runs on the device behind pinned transfers
    (``detector.fastpath``); ``cuda_graph`` replays it as one CUDA graph per frame size
    (default on; off runs the same step eagerly, to see what the graph buys).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        device: str = "auto",
        imgsz: int | None = None,
        backend: str = "auto",
        half: bool | None = None,
        rect: bool = True,
        warmup: bool = True,
        cuda_graph: bool | None = None,
    ) -> None:
        self.model = model
        self.imgsz = int(imgsz or model.spec.input_size)
        if self.imgsz <= 0 or self.imgsz % 32:
            raise ValueError(f"--imgsz must be a positive multiple of 32, got {self.imgsz}")
        self.rect = rect
        self.device = select_device(device) if model.network is not None else torch.device("cpu")
        if half and self.device.type == "cpu":
            raise LiveDetError("fp16 (--half) needs a GPU; on the CPU LiveDet runs fp32")
        if cuda_graph and self.device.type != "cuda":
            raise LiveDetError(f"CUDA graphs (--cuda-graph) need a CUDA GPU, but the device is {self.device.type}")
        self.engine: Engine = make_engine(model, self.device, backend=backend, half=half)
        self.device = self.engine.device
        self.fast_path: FastPath | None = None
        if self.device.type == "cuda" and isinstance(self.engine, TorchEngine):
            self.fast_path = FastPath(self.engine, self.device, self.engine.input_dtype, use_graph=cuda_graph is not False)
        self._meta_cache: dict[tuple[int, int], LetterboxMeta] = {}
        if warmup:
            self.warmup()

    # -- facts for the UI and logs ---------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    @property
    def backend(self) -> str:
        return self.engine.name

    @property
    def device_label(self) -> str:
        """Short human description, e.g. "cuda fp16 (torch)" or "cpu (onnxruntime)"."""
        precision = " fp16" if self.engine.input_dtype == torch.float16 else ""
        graph = ", CUDA graphs" if self.fast_path is not None and self.fast_path.graphs_active else ""
        return f"{self.device.type}{precision} ({self.backend}{graph})"

    # -- inference -------------------------------------------------------------------------
    def warmup(self, runs: int = 2) -> None:
        """Run a few frames so allocation, kernel selection and graph setup are not timed later."""
        dummy = np.full((self.imgsz, self.imgsz, 3), 114, np.uint8)
        for _ in range(runs):
            self.predict(dummy)

    def _meta(self, frame_hw: tuple[int, int]) -> LetterboxMeta:
        meta = self._meta_cache.get(frame_hw)
        if meta is None:
            meta = self._meta_cache[frame_hw] = letterbox_meta(frame_hw, self.imgsz, rect=self.rect)
        return meta

    def _prepare(self, frames: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[LetterboxMeta]]:
        metas = [self._meta(f.shape[:2]) for f in frames]
        if self.device.type == "cuda":  # frames of one size (see predict_batch)
            uploaded = torch.from_numpy(np.stack(frames)).to(self.device)
            return letterbox_on_device(uploaded, metas[0], self.engine.input_dtype), metas
        images = to_input_array([letterbox(f, m) for f, m in zip(frames, metas)])
        return torch.from_numpy(images).to(self.device), metas

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def predict(
        self,
        frame: np.ndarray,
        *,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
        keep_candidates: bool = False,
    ) -> Prediction:
        """Detect objects in one frame. ``keep_candidates`` also returns the pre-threshold
        boxes so thresholds can be re-applied later without the network."""
        return self.predict_batch([frame], conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates)[0]

    def predict_batch(
        self,
        frames: Sequence[np.ndarray],
        *,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
        keep_candidates: bool = False,
        multi_label: bool = False,
    ) -> list[Prediction]:
        """Detect objects in several frames at once (frames of one size share one batch)."""
        t0 = time.perf_counter()
        frames = [as_bgr_uint8(f) for f in frames]
        shapes = {f.shape[:2] for f in frames}
        if len(shapes) > 1:  # mixed sizes: letterboxes differ, run them one by one
            return [p for f in frames for p in self.predict_batch([f], conf=conf, iou=iou, max_det=max_det,
                                                                   keep_candidates=keep_candidates, multi_label=multi_label)]
        if self.fast_path is not None and not multi_label:  # evaluation's multi-label keeps more than top-k rows
            return self._predict_fast(frames, t0, conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates)
        images, metas = self._prepare(frames)
        self._sync()
        t1 = time.perf_counter()
        boxes, scores = self.engine(images)
        self._sync()
        t2 = time.perf_counter()
        floor = min(CANDIDATE_FLOOR, conf)
        results = []
        for i, meta in enumerate(metas):
            select = select_candidates_cpu if scores.device.type == "cpu" else select_candidates
            cand = select(boxes[i], scores[i], score_floor=floor, top_k=CANDIDATE_TOP_K, multi_label=multi_label)
            results.append(self._finish(cand, meta, conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates))
        t3 = time.perf_counter()
        return _predictions(results, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)

    def _finish(self, cand: tuple[torch.Tensor, torch.Tensor, torch.Tensor], meta: LetterboxMeta, *, conf: float,
                iou: float, max_det: int, keep_candidates: bool) -> tuple[Detections, Candidates | None]:
        """One frame's candidates -> its detections, plus the candidates themselves for re-thresholding."""
        kept = apply_thresholds(*cand, conf=conf, iou=iou, max_det=max_det)
        candidates = None
        if keep_candidates:
            c_boxes, c_scores, c_ids = (t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in cand)
            candidates = Candidates(c_boxes, c_scores, c_ids.astype(np.int64), meta, self.class_names)
        return to_detections(*kept, meta, self.class_names), candidates

    def _predict_fast(self, frames: list[np.ndarray], t0: float, *, conf: float, iou: float, max_det: int,
                      keep_candidates: bool) -> list[Prediction]:
        """The CUDA path: the device returns each frame's best ``CANDIDATE_TOP_K`` boxes; the floor,
        thresholds and NMS run here on those few rows. ``pre`` is validation and staging, ``infer`` the
        device round trip (upload, letterbox, network, decode, top-k, download)."""
        meta = self._meta(frames[0].shape[:2])
        t_checked = time.perf_counter()
        (boxes, scores, class_ids), timing = self.fast_path(frames, meta)
        t2 = time.perf_counter()
        floor = min(CANDIDATE_FLOOR, conf)
        results = []
        for i in range(len(frames)):
            keep = scores[i] > floor
            cand = (torch.from_numpy(boxes[i][keep]), torch.from_numpy(scores[i][keep]), torch.from_numpy(class_ids[i][keep]))
            results.append(self._finish(cand, meta, conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates))
        t3 = time.perf_counter()
        return _predictions(results, (t_checked - t0) * 1e3 + timing.staging_ms, timing.device_ms, (t3 - t2) * 1e3)


def _predictions(results: list[tuple[Detections, Candidates | None]], pre_ms: float, infer_ms: float,
                 post_ms: float) -> list[Prediction]:
    """Package a batch's results; each frame is charged its share of the batch's stage times."""
    n = len(results)
    timings = StageTimings(pre_ms=pre_ms / n, infer_ms=infer_ms / n, post_ms=post_ms / n)
    return [Prediction(detections=d, timings=timings, candidates=c) for d, c in results]
