"""Speed of the full frame -> detections path, measured the same way for LiveDet and for Ultralytics.

Frames are decoded into memory once, so video decoding is not timed; every
timed call then includes pre-processing, the network and post-processing,
which is what a live view waits for. Ultralytics is optional and only timed
when it is importable (it is never a LiveDet dependency).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from .errors import LiveDetError
from .preprocess import letterbox_meta
from .video import FrameSource

MAX_FRAME_BYTES = 512 * 2**20  # decoded frames kept in memory; longer runs cycle through them
SYNTHETIC_SIZE = (720, 1280)  # (height, width) when no source is given


@dataclass(frozen=True)
class BenchResult:
    """Timings of one detector over the same frames: per-call latency, throughput, per-stage medians."""

    model: str
    batch: int
    frames: int  # frames timed (after warm-up)
    input_size: tuple[int, int] | None  # network input (height, width) for these frames
    latency_ms_p50: float  # one call: ``batch`` frames in, their detections out
    latency_ms_p90: float
    fps: float  # frames / wall time of the timed loop
    pre_ms_p50: float  # per-frame stage medians, as the detector reports them
    infer_ms_p50: float
    post_ms_p50: float
    detections_per_frame: float
    other_cpu_cores: float | None = None  # cores other processes kept busy meanwhile; > ~0.2 spoils the numbers

    def to_dict(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 3)
        # [width, height], as frame_size and "320×256" in the README say it (it was [height, width])
        data["input_size"] = [self.input_size[1], self.input_size[0]] if self.input_size else None
        return data


def synthetic_frames(count: int, size: tuple[int, int] = SYNTHETIC_SIZE, seed: int = 0) -> list[np.ndarray]:
    """Smooth random images (noise would make video-like frames unrealistically hard to encode)."""
    rng = np.random.default_rng(seed)
    h, w = size
    frames = []
    for _ in range(max(1, min(count, 8))):
        small = rng.integers(0, 256, (h // 32 + 1, w // 32 + 1, 3), dtype=np.uint8)
        frames.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
    return frames


def load_frames(source: str | None, count: int,
                on_skip: Callable[[str], None] | None = None) -> list[np.ndarray]:
    """Decode up to ``count`` frames of ``source`` into memory (fewer if they would not fit). ``on_skip``
    hears of each unreadable image in a folder, which is left out, as ``predict`` leaves it out."""
    if source is None:
        return synthetic_frames(count)
    frames: list[np.ndarray] = []
    with FrameSource(source, on_skip=on_skip) as frame_source:
        for _, frame, _ in frame_source:
            frames.append(frame)
            if len(frames) >= count or (len(frames) + 1) * frame.nbytes > MAX_FRAME_BYTES:
                break
    if not frames:
        raise LiveDetError(f"{source} gave no frames to benchmark")
    return frames


def timed_frame_count(count: int, batch: int) -> int:
    """The frames timed for ``--frames count --batch batch``: whole batches only, at least one."""
    return max(batch, (count // batch) * batch)


def _batches(frames: Sequence[np.ndarray], count: int, batch: int) -> list[list[np.ndarray]]:
    """``timed_frame_count`` frames (cycling through ``frames``) cut into batches of ``batch``."""
    total = timed_frame_count(count, batch)
    return [[frames[(start + i) % len(frames)] for i in range(batch)] for start in range(0, total, batch)]


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


class OtherCpuLoad:
    """Measures how many cores *other* processes kept busy while a block ran (Linux only, else None).

    A training run or a build in the background can halve the numbers, and the
    load average lags by a minute, so this is measured over the timed loop itself.
    """

    cores: float | None = None

    @staticmethod
    def _busy_seconds() -> float | None:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "OtherCpuLoad":
        self._start = (self._busy_seconds(), time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        busy0, own0, wall0 = self._start
        busy1, own1, wall1 = self._busy_seconds(), time.process_time(), time.perf_counter()
        if busy0 is not None and busy1 is not None and wall1 > wall0:
            self.cores = round(max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall1 - wall0), 2)


def _time_calls(call: Callable[[list[np.ndarray]], list], batches: list[list[np.ndarray]], warmup: int):
    """Run ``call`` on every batch after ``warmup`` untimed ones.

    Returns latencies (ms), wall time, outputs, and the other processes' CPU load meanwhile.
    """
    for i in range(warmup):
        call(batches[i % len(batches)])
    latencies, outputs = [], []
    with OtherCpuLoad() as load:
        start = time.perf_counter()
        for frames in batches:
            t0 = time.perf_counter()
            outputs.append(call(frames))
            latencies.append((time.perf_counter() - t0) * 1e3)
        elapsed = time.perf_counter() - start
    return latencies, elapsed, outputs, load.cores


def bench_predictor(predictor, frames: Sequence[np.ndarray], *, count: int, batch: int = 1, warmup: int = 10,
                    conf: float = 0.25, iou: float = 0.45) -> BenchResult:
    """Time ``Predictor.predict_batch`` (``predict`` at batch 1) on in-memory frames."""
    if batch == 1:
        def call(chunk):
            return [predictor.predict(chunk[0], conf=conf, iou=iou)]
    else:
        def call(chunk):
            return predictor.predict_batch(chunk, conf=conf, iou=iou)
    batches = _batches(frames, count, batch)
    latencies, elapsed, outputs, other_load = _time_calls(call, batches, warmup)
    predictions = [p for out in outputs for p in out]
    input_size = letterbox_meta(frames[0].shape[:2], predictor.imgsz, rect=predictor.rect).input_size
    return BenchResult(
        model=predictor.model.name,
        batch=batch,
        frames=len(predictions),
        input_size=tuple(input_size),
        latency_ms_p50=_percentile(latencies, 50),
        latency_ms_p90=_percentile(latencies, 90),
        fps=len(predictions) / elapsed if elapsed > 0 else 0.0,
        pre_ms_p50=_percentile([p.timings.pre_ms for p in predictions], 50),
        infer_ms_p50=_percentile([p.timings.infer_ms for p in predictions], 50),
        post_ms_p50=_percentile([p.timings.post_ms for p in predictions], 50),
        detections_per_frame=float(np.mean([len(p.detections) for p in predictions])),
        other_cpu_cores=other_load,
    )


def _rss_mb() -> float | None:
    """Resident memory of this process (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class MemoryResult:
    """Memory before and after ``frames`` predictions: resident set, and tensors the GPU allocator holds."""

    frames: int
    rss_mb_start: float | None
    rss_mb_end: float | None
    rss_mb_max: float | None
    gpu_mb_start: float | None  # torch.cuda.memory_allocated; None without CUDA
    gpu_mb_end: float | None
    gpu_mb_max: float | None

    def to_dict(self) -> dict:
        data = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        for kind in ("rss", "gpu"):
            start, end = getattr(self, f"{kind}_mb_start"), getattr(self, f"{kind}_mb_end")
            data[f"{kind}_mb_growth"] = round(end - start, 1) if start is not None and end is not None else None
        return data


def memory_soak(predictor, frames: Sequence[np.ndarray], *, count: int, conf: float = 0.25, iou: float = 0.45,
                samples: int = 50) -> MemoryResult:
    """Predict ``count`` frames (cycling through ``frames``) and sample memory ``samples`` times.

    Measured after a warm-up pass over every frame size, so what is reported is growth, not set-up.
    """
    cuda = predictor.device_type == "cuda"
    if cuda:
        import torch

    def gpu_mb() -> float | None:
        return torch.cuda.memory_allocated(predictor.device) / 2**20 if cuda else None

    one_of_each_size = {frame.shape: frame for frame in reversed(frames)}.values()  # a folder of photos: all sizes
    for frame in [*frames[: min(len(frames), 20)], *one_of_each_size]:
        predictor.predict(frame, conf=conf, iou=iou)
    gc.collect()  # what the warm-up left for the collector is not growth
    rss_start, gpu_start = _rss_mb(), gpu_mb()
    rss_seen, gpu_seen = [rss_start], [gpu_start]
    every = max(1, count // max(1, samples))
    for i in range(count):
        predictor.predict(frames[i % len(frames)], conf=conf, iou=iou)
        if (i + 1) % every == 0:
            rss_seen.append(_rss_mb())
            gpu_seen.append(gpu_mb())
    gc.collect()
    rss_end, gpu_end = _rss_mb(), gpu_mb()

    def peak(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    return MemoryResult(count, rss_start, rss_end, peak(rss_seen + [rss_end]), gpu_start, gpu_end,
                        peak(gpu_seen + [gpu_end]))


def ultralytics_available() -> bool:
    return importlib.util.find_spec("ultralytics") is not None


def ultralytics_device(device: str) -> str:
    """A torch device as Ultralytics names it: ``cpu``, ``cuda:N`` (plain ``cuda`` is GPU 0)."""
    return "cpu" if device == "cpu" else ("cuda:0" if device == "cuda" else device)


def bench_ultralytics(frames: Sequence[np.ndarray], *, model: str, imgsz: int, device: str, count: int,
                      batch: int = 1, warmup: int = 10, conf: float = 0.25, iou: float = 0.45,
                      threads: int | None = None, half: bool = False) -> tuple[BenchResult, dict]:
    """Time Ultralytics' own ``predict`` (its pre- and post-processing included) on the same frames.

    ``model`` is a weights file or a model yaml such as ``yolo11n.yaml`` (random
    weights: the speed is the same, nothing is downloaded). ``half``: fp16, as LiveDet runs on a GPU (its
    own default is fp32, so it was timed at another precision). Ultralytics sets torch
    to cores - 1 threads on the CPU; ``threads`` overrides that after its set-up, so
    both detectors can be timed on the same cores. Returns the result and facts
    (version, torch threads used).
    """
    import torch

    if not ultralytics_available():
        raise LiveDetError("--compare-ultralytics needs the ultralytics package: run bench from a separate venv "
                           "holding LiveDet and ultralytics")
    os.environ.setdefault("YOLO_VERBOSE", "False")  # its logger writes to stdout, where our JSON goes
    os.environ.setdefault("YOLO_OFFLINE", "True")
    with contextlib.redirect_stdout(sys.stderr):
        import ultralytics
        from ultralytics import YOLO

        try:
            yolo = YOLO(model)
        except Exception as exc:  # missing file, no network for a download, bad yaml
            raise LiveDetError(f"Ultralytics could not load {model}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        ul_device = ultralytics_device(device)

        def call(chunk):
            return yolo.predict(list(chunk) if len(chunk) > 1 else chunk[0], imgsz=imgsz, device=ul_device,
                                conf=conf, iou=iou, half=half, verbose=False)

        batches = _batches(frames, count, batch)
        call(batches[0])  # Ultralytics builds its predictor (and sets torch's thread count) on the first call
        default_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            latencies, elapsed, outputs, other_load = _time_calls(call, batches, max(0, warmup - 1))
            used_threads = torch.get_num_threads()
        finally:
            torch.set_num_threads(default_threads)
    results = [r for out in outputs for r in out]
    facts = {"version": ultralytics.__version__, "torch_threads": used_threads, "half": half,
             "torch_threads_ultralytics_default": default_threads}

    def stage(key: str) -> float:
        return _percentile([float(r.speed.get(key) or 0.0) for r in results], 50)

    return BenchResult(
        model=f"ultralytics:{model}",
        batch=batch,
        frames=len(results),
        input_size=None,  # Ultralytics does not expose it; it pads to a multiple of 32 like LiveDet's rect mode
        latency_ms_p50=_percentile(latencies, 50),
        latency_ms_p90=_percentile(latencies, 90),
        fps=len(results) / elapsed if elapsed > 0 else 0.0,
        pre_ms_p50=stage("preprocess"),
        infer_ms_p50=stage("inference"),
        post_ms_p50=stage("postprocess"),
        detections_per_frame=float(np.mean([len(r.boxes) for r in results])) if results else 0.0,
        other_cpu_cores=other_load,
    ), facts


def cpu_facts() -> dict:
    """How many cores this process may use (containers often allow fewer than the machine has)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_count": os.cpu_count(), "cpu_usable": usable}
