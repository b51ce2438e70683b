"""Frame in, detections out: the one inference entry point shared by the CLI and the GUI.

``Predictor`` owns the device, precision and backend choice, warms up, and
times each stage. It neither draws nor reads or writes files: it takes a loaded
model (``detector.launch.load_predictor`` finds the quickest way to one).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Collection, Sequence

import numpy as np

from .classes import class_indices
from .defaults import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET, MAX_IMGSZ, is_input_size
from .device import check_device_name, select_device
from .engines import Engine, make_engine
from .errors import LiveDetError
from .featureless import is_featureless
from .loader import LoadedModel
from .ops.postprocess import (
    CANDIDATE_TOP_K,
    CandidateRows,
    apply_thresholds,
    candidate_floor,
    check_thresholds,
    select_candidates,
    to_detections,
)
from .preprocess import as_bgr_uint8, letterbox, letterbox_meta, to_input_array
from .types import Candidates, Detections, LetterboxMeta, Prediction, StageTimings

if TYPE_CHECKING:
    from .fastpath import FastPath


def check_gpu_only_options(device_type: str, *, half: bool | None, cuda_graph: bool | None,
                           compile: bool | None = None) -> None:
    """One clear refusal for options only a GPU can honour (``load_predictor`` asks before any slow load)."""
    if half and device_type == "cpu":
        raise LiveDetError("fp16 (--half) needs a GPU; on the CPU LiveDet runs fp32")
    if cuda_graph and device_type != "cuda":
        raise LiveDetError(f"CUDA graphs (--cuda-graph) need a CUDA GPU, but the device is {device_type}")
    if compile and device_type != "cuda":
        raise LiveDetError(f"--compile compiles the CUDA fast path and needs a CUDA GPU, but the device is {device_type}")


class Predictor:
    """Runs one model on BGR uint8 frames of any size.

    ``device``: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda" or "mps".
    ``backend``: "auto" (ONNX Runtime on CPU, torch elsewhere), "torch" or "onnxruntime".
    ``half``: fp16 on CUDA by default.
    torch is imported only for a torch network: an ONNX model (a file, or an export
    kept by ``onnx_cache``, see ``load_predictor``) runs on the CPU without it.
    On CUDA the frame -> candidates step runs on the device behind pinned transfers
    (``detector.fastpath``); ``cuda_graph`` replays it as one CUDA graph per frame size
    (default on; off runs the same step eagerly, to see what the graph buys);
    ``compile`` runs that step through ``torch.compile`` first (off by default: each
    frame size costs a compile of tens of seconds).
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
        compile: bool | None = None,
    ) -> None:
        self.model = model
        if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, (int, np.integer))):
            raise ValueError(f"imgsz must be a whole number of pixels, got {imgsz!r}")  # 320.5 and "320" became 320
        self._imgsz = int(imgsz or model.spec.input_size)
        if not is_input_size(self._imgsz):
            raise ValueError(f"--imgsz must be a positive multiple of 32 up to {MAX_IMGSZ}, got {self._imgsz}")
        check_device_name(device, cuda_needed=False)  # "gpu" was refused for weights but taken for an ONNX graph, which runs on the CPU
        self._rect = rect
        torch_device = select_device(device) if model.network is not None else None  # an ONNX graph runs on the CPU
        device_type = torch_device.type if torch_device is not None else "cpu"
        check_gpu_only_options(device_type, half=half, cuda_graph=cuda_graph, compile=compile)
        self.engine: Engine = make_engine(model, torch_device, backend=backend, half=half)
        self.device: str = self.engine.device  # "cpu", "cuda", "cuda:1", "mps"
        self.fast_path: FastPath | None = None
        if self.device_type == "cuda" and self.engine.name == "torch":
            from .fastpath import FastPath

            self.fast_path = FastPath(self.engine.forward, self.engine.torch_device, self.engine.input_dtype,
                                      use_graph=cuda_graph is not False, compile=bool(compile))
        elif cuda_graph or compile:
            raise LiveDetError(f"--cuda-graph and --compile speed up the torch backend on CUDA, not {self.device_label}")
        self._meta_cache: dict[tuple[int, int], LetterboxMeta] = {}
        if warmup:
            self.warmup()

    # -- facts for the UI and logs ---------------------------------------------------------
    @property
    def imgsz(self) -> int:
        """The network input's long side. Fixed: letterbox plans and CUDA graphs are kept per frame size
        for it (another size is another ``Predictor``, as the app makes one)."""
        return self._imgsz

    @property
    def rect(self) -> bool:
        """Whether the input keeps the frame's aspect (a 320x256 input for a 4:3 frame) instead of a square."""
        return self._rect

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    @property
    def backend(self) -> str:
        return self.engine.name

    @property
    def device_type(self) -> str:
        """"cpu", "cuda" or "mps"."""
        return self.device.split(":")[0]

    @property
    def device_label(self) -> str:
        """Short human description, e.g. "cuda fp16 (torch, CUDA graphs)" or "cpu (onnxruntime)"."""
        precision = " fp16" if self.engine.half else ""
        fast = self.fast_path
        graph = ", CUDA graphs" if fast is not None and fast.graphs_active else ""
        compiled = ", compiled" if fast is not None and fast.compile_active else ""
        return f"{self.device_type}{precision} ({self.backend}{graph}{compiled})"

    # -- inference -------------------------------------------------------------------------
    def warmup(self) -> None:
        """Run two square frames so allocation and kernel selection are not timed later. The GPU fast path
        still captures a CUDA graph on the first frame of each new size (a video's first frame): ``bench``
        warms up on the frames it times."""
        dummy = np.full((self._imgsz, self._imgsz, 3), 114, np.uint8)
        for _ in range(2):
            self.predict(dummy)

    def _meta(self, frame_hw: tuple[int, int]) -> LetterboxMeta:
        meta = self._meta_cache.get(frame_hw)
        if meta is None:
            meta = self._meta_cache[frame_hw] = letterbox_meta(frame_hw, self._imgsz, rect=self._rect)
        return meta

    def _prepare(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[LetterboxMeta]]:
        metas = [self._meta(f.shape[:2]) for f in frames]
        return to_input_array([letterbox(f, m) for f, m in zip(frames, metas)]), metas

    def predict(
        self,
        frame: np.ndarray,
        *,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
        keep_candidates: bool = False,
        classes: str | Collection[int | str] | None = None,
    ) -> Prediction:
        """Detect objects in one frame. ``keep_candidates`` also returns the pre-threshold
        boxes so thresholds can be re-applied later without the network; ``classes`` keeps
        only those classes (indices, or names as ``detector.resolve_classes`` matches them)."""
        return self.predict_batch([frame], conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates,
                                  classes=classes)[0]

    def predict_batch(
        self,
        frames: Sequence[np.ndarray] | np.ndarray,
        *,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
        keep_candidates: bool = False,
        multi_label: bool = False,
        classes: str | Collection[int | str] | None = None,
    ) -> list[Prediction]:
        """Detect objects in several frames at once (frames of one size share one batch): a list of frames or
        an (N, H, W, C) array. ``classes``: class indices or names (see ``detector.classes.class_indices``)."""
        if isinstance(frames, np.ndarray) and frames.ndim != 4:  # one frame would be split into its rows
            raise ValueError(f"predict_batch takes a list of frames or an (N, H, W, C) array, got an array of shape "
                             f"{frames.shape}; use predict() for one frame")
        if len(frames) == 0:
            return []
        t0 = time.perf_counter()
        check_thresholds(conf, iou, max_det)  # before the network runs, not after
        classes = class_indices(classes, self.class_names)
        frames = [as_bgr_uint8(f) for f in frames]
        shapes = {f.shape[:2] for f in frames}
        # what runs after the network, the same for every path
        finish = dict(conf=conf, iou=iou, max_det=max_det, keep_candidates=keep_candidates, classes=classes)
        if len(shapes) > 1:  # mixed sizes: letterboxes differ, run them one by one
            return [p for f in frames for p in self.predict_batch([f], multi_label=multi_label, **finish)]
        # a frame with no picture in it gets no detections (the network finds a cat in black frames); it still
        # runs in the batch, which keeps the batch's shape (and a CUDA graph's) the same
        blank = [is_featureless(f) for f in frames]
        if self.fast_path is not None and not multi_label:  # the device keeps one class per box (its best);
            # evaluation's multi-label keeps every class above the floor, so it takes the path below
            return self._predict_fast(frames, t0, blank, **finish)
        images, metas = self._prepare(frames)
        t1 = time.perf_counter()
        boxes, scores = self.engine(images)
        t2 = time.perf_counter()
        floor = candidate_floor(conf)
        results = []
        for i, meta in enumerate(metas):
            cand = select_candidates(boxes[i], scores[i], score_floor=floor, top_k=CANDIDATE_TOP_K, multi_label=multi_label)
            results.append(self._finish(_none_of(cand) if blank[i] else cand, meta, **finish))
        t3 = time.perf_counter()
        return _predictions(results, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)

    def _finish(self, cand: CandidateRows, meta: LetterboxMeta, *, conf: float, iou: float, max_det: int,
                keep_candidates: bool, classes: Collection[int] | None) -> tuple[Detections, Candidates | None]:
        """One frame's candidates -> its detections, plus the candidates themselves for re-thresholding
        (all of them: a class filter changed later must find the other classes still there)."""
        kept = apply_thresholds(*cand, conf=conf, iou=iou, max_det=max_det, classes=classes)
        candidates = Candidates(*cand, meta, self.class_names, candidate_floor(conf)) if keep_candidates else None
        return to_detections(*kept, meta, self.class_names), candidates

    def _predict_fast(self, frames: list[np.ndarray], t0: float, blank: list[bool], *, conf: float, iou: float,
                      max_det: int, keep_candidates: bool, classes: Collection[int] | None) -> list[Prediction]:
        """The CUDA path: the device returns each frame's best ``CANDIDATE_TOP_K`` boxes; the floor,
        thresholds and NMS run here on those few rows. ``pre`` is validation and staging, ``infer`` the
        device round trip (upload, letterbox, network, decode, top-k, download)."""
        meta = self._meta(frames[0].shape[:2])
        t_checked = time.perf_counter()
        (boxes, scores, class_ids), timing = self.fast_path(frames, meta)
        t2 = time.perf_counter()
        floor = candidate_floor(conf)
        results = []
        for i in range(len(frames)):
            keep = scores[i] >= floor  # inclusive, as select_candidates and apply_thresholds are
            cand = (boxes[i][keep], scores[i][keep], class_ids[i][keep].astype(np.int64))
            results.append(self._finish(_none_of(cand) if blank[i] else cand, meta, conf=conf, iou=iou,
                                        max_det=max_det, keep_candidates=keep_candidates, classes=classes))
        t3 = time.perf_counter()
        return _predictions(results, (t_checked - t0) * 1e3 + timing.staging_ms, timing.device_ms, (t3 - t2) * 1e3)


def _none_of(cand: CandidateRows) -> CandidateRows:
    """The same candidate rows, emptied."""
    boxes, scores, class_ids = cand
    return boxes[:0], scores[:0], class_ids[:0]


def _predictions(results: list[tuple[Detections, Candidates | None]], pre_ms: float, infer_ms: float,
                 post_ms: float) -> list[Prediction]:
    """Package a batch's results; each frame is charged its share of the batch's stage times."""
    n = len(results)
    timings = StageTimings(pre_ms=pre_ms / n, infer_ms=infer_ms / n, post_ms=post_ms / n)
    return [Prediction(detections=d, timings=timings, candidates=c) for d, c in results]
