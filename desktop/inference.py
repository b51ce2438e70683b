"""The inference thread: takes the newest captured frame, runs the model, hands the result to the GUI.

One worker lives as long as the window. Sources come and go (``set_input``)
and models are swapped between two frames (``set_model``), so neither a new
camera nor a new model stops the stream. Thresholds are read per frame, so a
slider change shows on the next frame; the pre-threshold candidates travel
with each result so a paused frame can be re-thresholded without the network.
A paused frame has no next frame, so a model loaded meanwhile runs it again (``rerun``).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PySide6.QtCore import QThread, Signal

from detector import DEFAULT_CONF, DEFAULT_IOU, Candidates, Detections, StageTimings, class_ids_named

if TYPE_CHECKING:
    from detector import Predictor  # imported with the first model, on the loader's thread

from .capture import PUT_POLL_S, FramePacket
from .mailbox import Mailbox
from .stats import PipelineStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """What turns a frame's candidates into the boxes shown: the sliders and the class filter."""

    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    classes: frozenset[str] | None = None  # class names to show (None: all); names, so they outlive a model switch

    def class_ids(self, class_names: Sequence[str]) -> frozenset[int] | None:
        """The filter as this model's class indices; None (show all) when it names none of its classes."""
        return _class_ids(self.classes, tuple(class_names))


@functools.lru_cache(maxsize=16)
def _class_ids(classes: frozenset[str] | None, class_names: tuple[str, ...]) -> frozenset[int] | None:
    """Asked for every frame, by inference and by the display: worked out once per filter and model."""
    return class_ids_named(classes, class_names)


@dataclass(frozen=True)
class ActiveModel:
    """A loaded predictor and how to name it on screen."""

    predictor: Predictor
    name: str
    device: str  # e.g. "cpu (onnxruntime)"
    source: str  # the name or path it was loaded from (remembered in settings)


@dataclass(frozen=True)
class FrameResult:
    """One frame after inference, on its way to the GUI."""

    packet: FramePacket
    detections: Detections
    candidates: Candidates | None  # None when no model ran
    timings: StageTimings | None
    model: str | None
    device: str | None
    thresholds: Thresholds
    rerun: bool = False  # the frame on screen, detected again by a model loaded while paused (``rerun``)

    @property
    def generation(self) -> int:
        return self.packet.generation

    @property
    def index(self) -> int:
        return self.packet.index

    @property
    def frame(self) -> np.ndarray:
        return self.packet.frame


@dataclass(frozen=True)
class _Input:
    inbox: Mailbox[FramePacket]
    stats: PipelineStats
    generation: int


class InferenceWorker(QThread):
    """Frame in (from the capture mailbox), ``FrameResult`` out (into ``outbox``)."""

    result_ready = Signal()  # a result waits in the outbox (sent only when the slot was empty)
    model_failed = Signal(str)

    def __init__(self, outbox: Mailbox[FrameResult]) -> None:
        super().__init__()
        self.outbox = outbox
        self._lock = threading.Lock()  # the mutex for the fields below
        self._abort = False
        self._input: _Input | None = None
        self._model: ActiveModel | None = None
        self._thresholds = Thresholds()
        self._lossless = False
        self._rerun: FramePacket | None = None  # a frame to detect again before taking the next one

    # -- control, from any thread ----------------------------------------------------------
    def stop(self) -> None:
        with self._lock:
            self._abort = True
            current = self._input
        if current is not None:
            current.inbox.close()
        self.outbox.close()

    def set_input(self, inbox: Mailbox[FramePacket], stats: PipelineStats, generation: int) -> None:
        with self._lock:
            self._input = _Input(inbox, stats, generation)
            self._rerun = None

    def clear_input(self) -> None:
        with self._lock:
            self._input = None
            self._rerun = None

    def rerun(self, packet: FramePacket) -> None:
        """Detect ``packet`` again with the current model: the paused frame after a model, device or input
        size change, which no next frame would show. Its result comes back with ``rerun`` set."""
        with self._lock:
            self._rerun = packet

    def set_model(self, model: ActiveModel | None) -> None:
        """Swap models between two frames; the frame being processed finishes on the old one."""
        with self._lock:
            self._model = model

    @property
    def model(self) -> ActiveModel | None:
        with self._lock:
            return self._model

    def set_thresholds(self, thresholds: Thresholds) -> None:
        with self._lock:
            self._thresholds = thresholds

    def set_lossless(self, lossless: bool) -> None:
        """True while every frame must reach the GUI (recording a file, or max-speed file playback)."""
        with self._lock:
            self._lossless = lossless

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - report, and let QThread.finished fire
            log.exception("inference worker stopped unexpectedly")
            self.model_failed.emit("the inference thread stopped unexpectedly; restart LiveDet (details in the log)")

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._abort:
                    return
                current = self._input
                rerun, self._rerun = self._rerun, None
            if current is None or current.inbox.closed:
                self.msleep(20)
                continue
            packet = rerun or current.inbox.take(timeout=PUT_POLL_S)
            if packet is None or packet.generation != current.generation:
                continue
            with self._lock:
                model, thresholds, lossless = self._model, self._thresholds, self._lossless
            result = self._infer(packet, model, thresholds, current.stats)
            if rerun is not None:
                result = replace(result, rerun=True)
            self._hand_over(result, current, lossless)

    def _infer(self, packet: FramePacket, model: ActiveModel | None, thresholds: Thresholds,
               stats: PipelineStats) -> FrameResult:
        if model is not None:
            try:
                prediction = model.predictor.predict(packet.frame, conf=thresholds.conf, iou=thresholds.iou,
                                                     classes=thresholds.class_ids(model.predictor.class_names),
                                                     keep_candidates=True)
            except Exception as exc:  # noqa: BLE001 - a model that fails must not stop the video
                log.exception("model %s failed on a frame", model.name)
                with self._lock:
                    current = self._model is model
                    if current:
                        self._model = None
                if current:  # a model the user has already switched away from says nothing over the new one
                    self.model_failed.emit(f"{model.name} failed on a frame ({exc}); detection is off until you "
                                           "pick a model")
            else:
                stats.count_inferred()
                return FrameResult(packet, prediction.detections, prediction.candidates, prediction.timings,
                                   model.name, model.device, thresholds)
        return FrameResult(packet, Detections(), None, None, None, None, thresholds)

    def _hand_over(self, result: FrameResult, current: _Input, lossless: bool) -> None:
        while lossless:
            if self.outbox.put(result, timeout=PUT_POLL_S):
                self.result_ready.emit()
                return
            with self._lock:
                if self._abort or self._input is not current:
                    return
                lossless = self._lossless  # the recording stopped or failed meanwhile: the newest wins again
        if self.outbox.offer(result):
            current.stats.count_dropped()  # the GUI had not shown the previous one: it is dropped
        else:
            self.result_ready.emit()
