"""File throughput: the ceiling that the ``predict`` job (video in, annotated MP4 out) is measured against.

The ceiling is the same video decoded and written back, unannotated, with the
same writer and codec through the same three-stage pipeline, with no model in
between. No detector can process a file faster than that on this machine, so
the job's FPS divided by the ceiling's says how much the model still costs.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Sequence

import numpy as np

from .outputs import AnnotatedVideo
from .pipeline import run_pipeline
from .types import Detections, Prediction, StageTimings
from .video import FrameSource


@dataclass(frozen=True)
class FileJobResult:
    frames: int
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _no_model(frames: Sequence[np.ndarray]) -> list[Prediction]:
    empty = Prediction(detections=Detections(), timings=StageTimings())
    return [empty] * len(frames)


def decode_encode_ceiling(source: str, *, max_frames: int | None = None, workdir: Path | None = None) -> FileJobResult:
    """Decode ``source`` and write every frame back unannotated: the writer, codec and three-stage
    pipeline of ``predict --output``, with no model."""
    with FrameSource(source) as frames, tempfile.TemporaryDirectory(dir=workdir) as folder:
        info = frames.info
        writer = AnnotatedVideo(Path(folder) / "ceiling.mp4", info.fps, (info.width, info.height))
        try:
            stream = frames if max_frames is None else islice(frames, max_frames)
            stats = run_pipeline(stream, _no_model, lambda result: writer.write(result.frame, result.name))
        finally:
            writer.close()
    return FileJobResult(frames=stats.frames, elapsed_s=stats.elapsed_s)


def ultralytics_file_job(source: str, *, model: str, imgsz: int, device: str, conf: float = 0.25, iou: float = 0.45,
                         max_frames: int | None = None, threads: int | None = None, half: bool = False,
                         workdir: Path | None = None) -> FileJobResult:
    """The same job the way Ultralytics users do it: ``predict(stream=True)`` and ``result.plot()`` into an
    mp4v ``cv2.VideoWriter``. Ultralytics must be importable (it is never a LiveDet dependency).

    ``threads``: torch threads once Ultralytics has set itself up (it picks cores - 1), so both
    detectors get the same cores; ``half``: fp16, as LiveDet runs on a GPU."""
    import cv2
    import torch
    from ultralytics import YOLO

    yolo = YOLO(model)
    with FrameSource(source) as probe:
        info = probe.info
        first = next(iter(probe))[1]
    yolo.predict(first, imgsz=imgsz, device=device, conf=conf, iou=iou, half=half, verbose=False)  # set-up, untimed
    default_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        writer = cv2.VideoWriter(str(Path(folder) / "ultralytics.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), info.fps,
                                 (info.width, info.height))
        try:
            start = time.perf_counter()
            results = yolo.predict(source=source, stream=True, imgsz=imgsz, device=device, conf=conf, iou=iou,
                                   half=half, verbose=False)
            frames = 0
            for result in islice(results, max_frames):
                writer.write(result.plot())
                frames += 1
            elapsed = time.perf_counter() - start
        finally:
            writer.release()
            torch.set_num_threads(default_threads)
    return FileJobResult(frames=frames, elapsed_s=elapsed)
