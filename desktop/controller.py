"""The session: one source, one model, thresholds and a recording, wired together on the GUI thread.

It owns the worker threads and the mailboxes between them, and turns each
inference result into the annotated frame the window shows (and the recorder
writes). It has no widgets: the window calls its methods and listens to its
signals, and tests can do the same.

    CaptureWorker --[mailbox]--> InferenceWorker --[mailbox]--> controller (GUI) --[mailbox]--> RecorderWorker

The recorder's mailbox refuses a frame while the last one is still there (``put(timeout=0)``), and the
recorder's ``accepted`` signal says when it has room again: back-pressure instead of a queue.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from detector import Candidates, Detections, OutputError, SourceError, detections_from_candidates
from detector.frame_text import class_label
from detector.live_clock import (
    FILE_STILL_LIMIT_S,
    HOLD_BYTES,
    MAX_COPIES,
    FileClock,
    LiveClock,
    recording_fps,
)
from detector.video import SourceInfo, missing_file_message, same_file
from detector.video_writer import next_free_path, without_saved_note

from .capture import CaptureWorker, FramePacket, PlaybackOptions, openers_finish
from .file_check import GUI_WAIT_S, DiskSilent, silent_folder_message, within
from .inference import ActiveModel, FrameResult, InferenceWorker, Thresholds
from .mailbox import Mailbox
from .model_loader import SHARED_CACHE, ModelCache, ModelRequest, ModelSwitcher
from .overlay import Fractions, HudInfo, mirrored, render_overlay
from .recording import (
    DETECTION_FORMATS,
    RECORDING_SUFFIXES,
    RecordedFrame,
    RecorderWorker,
    RecordingPlan,
    RecordingSummary,
    make_record_folder,
    unused_name,
)
from .settings import default_record_folder
from .snapshot import QUIT_WAIT_S as SNAPSHOT_QUIT_WAIT_S
from .snapshot import SnapshotWriter
from .sources import CAMERA, IMAGE, URL, VIDEO, SourceSpec, parse_source
from .stats import PipelineStats, StatsSnapshot

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 1.5  # quitting never waits longer than this for capture, inference and model loads
RECORDING_QUIT_WAIT_S = 30.0  # nor longer than this for a recording's disk (closing a file takes well under 1 s)
QUIT_WAIT_SLICE_S = 0.1  # quit waits in steps this long: a stop signal's Python handler runs only between them
END_DRAIN_LIMIT_MS = 5_000  # a file's recording waits this long at most for its last frames to be shown
_STRAGGLERS: list = []  # threads still stuck in a driver at quit: referenced until the process ends


@dataclass(frozen=True)
class ShownFrame:
    """What the window displays."""

    image: np.ndarray  # annotated BGR frame
    result: FrameResult
    detections: Detections  # the boxes drawn (re-thresholded when a slider moved)
    fresh: bool  # False when the same frame was drawn again after a threshold change


# A stream first hands over what it buffered while connecting, all at once. The capture rate is
# measured over the second half of what came (``settled_rate``), so after this long the burst is
# behind it; a live recording started sooner holds its frames until then (or until HOLD_BYTES).
LIVE_RATE_PROBE_S = 1.0


def _there(path: str) -> bool:
    """Whether a file to open is there: asked in the window's thread, so a network folder that does not answer
    within GUI_WAIT_S counts as there (its capture thread then finds out, as before)."""
    try:
        return within(lambda: os.path.exists(path), GUI_WAIT_S)
    except DiskSilent:
        return True


def _rethreshold(candidates: Candidates, thresholds: Thresholds) -> Detections:
    """A frame's kept candidates at other thresholds (or another class filter), without the network."""
    return detections_from_candidates(candidates, conf=thresholds.conf, iou=thresholds.iou,
                                      classes=thresholds.class_ids(candidates.class_names))


def _photo_not_recorded(label: str) -> str:
    """The reason first: a long file name in the middle is what the status bar shortens (it cut 'is a photo')."""
    return f"Record makes videos; {label} is a photo: Snapshot (S) saves it with its boxes"


def _timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


class SessionController(QObject):
    frame_shown = Signal(object)  # ShownFrame
    source_opening = Signal(object)  # SourceSpec (busy until opened or failed)
    source_opened = Signal(object)  # SourceInfo
    source_failed = Signal(str)
    source_ended = Signal()
    source_closed = Signal(object)  # SourceSpec the user closed: nothing plays, a camera is released
    source_damaged = Signal(str)  # a file ran out well before the frames its header states; it still plays
    true_length = Signal(int)  # ... and the frames it does hold: the position bar ends there
    pause_changed = Signal(bool)
    paused_frame_shown = Signal(int)  # after a pause, the last captured frame is on screen
    model_loading = Signal(str)
    model_ready = Signal(object)  # ActiveModel
    model_failed = Signal(str)
    model_idle = Signal()  # no load in progress any more
    recording_changed = Signal(bool)
    recording_started = Signal(str)  # path of the video being written
    needs_source = Signal(str)  # Record or Snapshot with nothing open yet: an error the next source resolves
    recording_finished = Signal(object)  # RecordingSummary
    recording_failed = Signal(str)  # a recording or snapshot that could not be made or finished
    snapshot_saved = Signal(str)  # path of the PNG
    message = Signal(str)  # information for the status bar

    def __init__(self, *, device: str = "auto", model_cache: ModelCache | None = SHARED_CACHE,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device = device
        self.input_size = 0  # the network's input side in pixels; 0: each model's own
        self.record_folder: Path = default_record_folder()
        self.detections_format = ""
        # fills in a camera's name and the mode to ask it for; the window, which knows the cameras
        # and the user's choices, sets it
        self.camera_setup: Callable[[SourceSpec], SourceSpec] = lambda spec: spec
        self._display_box: Mailbox[FrameResult] = Mailbox()
        self._inference = InferenceWorker(self._display_box)
        self._inference.result_ready.connect(self._show_next_result)
        self._inference.model_failed.connect(self._on_inference_failed)
        self._models = ModelSwitcher(model_cache, self)
        self._models.loading.connect(self.model_loading)
        self._models.ready.connect(self._on_model_ready)
        self._models.failed.connect(self._on_model_failed)
        self._models.idle.connect(self.model_idle)
        self._wanted_model: str | None = None  # the model asked for last, while it loads

        self._generation = 0
        self._stats = PipelineStats()
        self._source: SourceSpec | None = None
        self._source_info: SourceInfo | None = None
        self._source_started = 0.0
        self._capture: CaptureWorker | None = None
        self._retired: set[CaptureWorker] = set()
        self._thresholds = Thresholds()
        self._mirror = False  # show (and record) the picture flipped left to right
        self._info_panel = True  # the corner panel with count, FPS, latency and model
        self._covered: Fractions | None = None  # what the screen paints over the picture: tags keep clear of it
        self._playback = PlaybackOptions()
        self._pause_index: int | None = None
        self._step_target: int | None = None  # the frame a step asked for, until it is on screen
        self._ended = False  # the file played to its end (Play starts it again), until a seek or Play
        self._frames_at_most: int | None = None  # a damaged file's frames, as far as known (its header says more)
        self._live_resumed_at: float | None = None  # when a paused live source was played again
        self._last_result: FrameResult | None = None
        self._last_shown: ShownFrame | None = None
        self._recorder: RecorderWorker | None = None
        self._finishing: set[RecorderWorker] = set()
        self._record_request: Path | None = None  # recording asked for; starts with the next frame shown
        self._record_waits_for_play = False  # asked for while paused: it starts with the first frame after Play
        self._looked_at: FramePacket | None = None  # a frame sought or stepped to while paused: not recorded
        self._record_exclusive = True  # its name was chosen as unused: another process's file there is not overwritten
        self._named_recording: Path | None = None  # the file name given for the recording (--record), if any
        self._end_recording_when_drained = False  # the file ended: its last frames are still on their way
        self._drain_limit = QTimer(self, singleShot=True, interval=END_DRAIN_LIMIT_MS)  # a model that stopped
        self._drain_limit.timeout.connect(self._finish_ended_recording)
        self._claimed_names: set[Path] = set()  # recording and snapshot names handed out this session
        self._snapshots = SnapshotWriter(self._claimed_names, self)
        self._snapshots.saved.connect(self._on_snapshot_saved)
        self._snapshots.failed.connect(self.recording_failed)
        self._live_clock: LiveClock | None = None  # recording a live source: how many copies of each frame
        self._file_clock: FileClock | None = None  # recording a file: how many copies, by the frames' own times
        self._file_held: RecordedFrame | None = None  # the file's last frame shown: its copies come with the next
        self._recorded_frames, self._recording_fps = 0, 0.0  # video frames handed to the recorder, and their rate
        self._held: list[RecordedFrame] | None = None  # a live recording's first frames, until its rate is known
        self._held_bytes = 0
        self._closed = False
        self._stopping: list = []  # the threads shutdown() asked to stop
        self.quit_cut_by: str | None = None  # the stop signal that ended the quit's waits ("ctrl-c", "sigterm")
        self.unfinished_recordings: list[Path] = []  # recordings still being finished when the quit ended
        self.unsaved_snapshots = 0  # and snapshots still being written
        self.failed_source: SourceSpec | None = None  # the last source that failed or was lost (to reconnect)
        self.lost_while_playing = False  # that source had opened and played, then stopped: lost, not refused
        self.lost_while_recording = False  # and it was being recorded (the file is finalised)
        self._inference.start()

    # -- facts -----------------------------------------------------------------------------
    @property
    def source(self) -> SourceSpec | None:
        return self._source

    @property
    def source_info(self) -> SourceInfo | None:
        return self._source_info

    @property
    def model(self) -> ActiveModel | None:
        return self._inference.model

    @property
    def model_loading_now(self) -> bool:
        return self._models.busy

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    @property
    def paused(self) -> bool:
        return self._playback.paused

    @property
    def recording(self) -> bool:
        return self._recorder is not None or self._record_request is not None

    @property
    def last_shown(self) -> ShownFrame | None:
        return self._last_shown

    def stats(self) -> StatsSnapshot:
        return self._stats.snapshot()

    def report(self) -> dict:
        """The ``--exit-after-frames`` JSON: counts, whole-run FPS, model and device."""
        model = self.model
        return self._stats.snapshot().report(model.name if model else None, model.device if model else None)

    # -- sources ---------------------------------------------------------------------------
    def open_source(self, source: SourceSpec | str) -> bool:
        """Start opening a source on a new capture thread (returns at once; see source_opened/failed)."""
        if self._closed:
            return False
        self.lost_while_playing = self.lost_while_recording = False
        try:
            spec = source if isinstance(source, SourceSpec) else parse_source(source)
        except SourceError as exc:
            self.source_failed.emit(str(exc))
            return False
        if spec.kind == CAMERA and spec.camera_mode is None:
            spec = self.camera_setup(spec)
        if self._source is not None and spec.kind in (VIDEO, IMAGE) and not _there(spec.value):
            # a typo in the address box, or a recent file deleted since: what plays, and its recording, go on
            self.needs_source.emit(f"{missing_file_message(spec.value)}; {self._source.label} plays on")
            return False
        self.stop_recording()  # a new source finalises the recording of the old one
        self._retire_capture()
        self._generation += 1
        self._stats = PipelineStats()
        self._source, self._source_info = spec, None
        self._last_result = self._last_shown = None
        self._pause_index = self._step_target = self._frames_at_most = self._live_resumed_at = None
        self._playback.paused = self._ended = False
        inbox: Mailbox[FramePacket] = Mailbox()
        self._display_box.clear()
        worker = CaptureWorker(spec, inbox, self._stats, generation=self._generation,
                               options=PlaybackOptions(False, self._playback.loop, self._playback.realtime,
                                                       self._lossless()))
        worker.opened.connect(self._on_source_opened)
        worker.failed.connect(self._on_source_failed)
        worker.reached_end.connect(self._on_source_ended)
        worker.paused_at.connect(self._on_paused_at)
        worker.ended_early.connect(self._on_ended_early)
        worker.sought_past_end.connect(self._on_sought_past_end)
        worker.length_found.connect(self._on_length_found)
        worker.done.connect(self._on_capture_done)
        self._inference.set_input(inbox, self._stats, self._generation)
        self._inference.set_lossless(self._lossless())
        self._capture = worker
        self._source_started = time.perf_counter()
        self.source_opening.emit(spec)
        self.pause_changed.emit(False)
        worker.start()
        return True

    def close_source(self) -> None:
        """Stop playing, as the user asked: the recording is finalised, the capture thread lets the camera
        go (its light goes off), and frames still on their way are not shown."""
        source = self._source
        if source is None:
            self.failed_source = None  # closed while lost: a camera plugged back in stays off
            return
        self.stop_recording()
        self._retire_capture()
        self._inference.clear_input()
        self._generation += 1  # results of the closed source are dropped on arrival
        self._display_box.clear()
        self.failed_source = None  # closed by the user: plugging in a device must not turn it back on
        self._source = self._source_info = None
        self._last_result = self._last_shown = None
        self._pause_index = self._step_target = self._frames_at_most = None
        self._playback.paused = self._ended = False
        self.pause_changed.emit(False)
        self.source_closed.emit(source)

    def _retire_capture(self) -> None:
        """Stop the current capture thread without waiting for it (a stuck camera must not freeze the GUI)."""
        worker, self._capture = self._capture, None
        if worker is None:
            return
        worker.stop()
        self._retired.add(worker)

    def _on_capture_done(self, generation: int) -> None:
        for worker in [w for w in self._retired if w.generation == generation]:
            worker.wait()  # run() is returning: this is immediate
            self._retired.discard(worker)
            worker.deleteLater()

    def _on_source_opened(self, generation: int, info: SourceInfo) -> None:
        if generation == self._generation:
            self._source_info = info
            self.failed_source = None  # back, or another chosen: a camera list change must not reopen it later
            if self._source is not None and self._source.kind == URL and not info.is_live:
                self._source = replace(self._source, remote_file=True)  # plays, seeks and records as a file
                self._apply_lossless()
            photo_found = self._source is not None and info.kind == IMAGE and self._source.kind != IMAGE
            if photo_found:  # a photo without a suffix, known by its bytes only now
                self._source = replace(self._source, kind=IMAGE)
            self.source_opened.emit(info)
            if photo_found and self.recording:  # asked for before it opened (--record, or R while "Opening…")
                self.stop_recording()
                self.recording_failed.emit(_photo_not_recorded(self._source.label))

    def _on_source_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.lost_while_playing = self._source_info is not None
        self.lost_while_recording = self.recording  # also asked for while it was opening (R during a reconnect)
        self.stop_recording()  # finalise: what was recorded so far stays playable
        self._retire_capture()
        self._inference.clear_input()
        self._generation += 1  # as on Close: a redraw (a slider, M) showed the lost source's last frame over
        self._display_box.clear()  # the Reconnect page, and a frame still on its way could too
        self._last_result = self._last_shown = None
        self.failed_source = self._source
        self._source = self._source_info = None
        self.source_failed.emit(message)

    def _on_source_ended(self, generation: int) -> None:
        if generation != self._generation:
            return
        # The end is known when the last frame is read, before the frames behind it in the pipeline are
        # detected and shown: stopping now lost the recording's last 1-2 frames and their detection lines.
        if self._pipeline_drained():
            self.stop_recording(at_end=True)
        else:
            self._end_recording_when_drained = True
            self._drain_limit.start()
        self._playback.paused = True
        self._ended = True
        self.pause_changed.emit(True)
        self._detect_still_frame_again(only_if_undetected=True)  # a photo that came before the model did
        self.source_ended.emit()

    def _pipeline_drained(self) -> bool:
        """Every frame captured has been shown or dropped (a recorded file drops none)."""
        stats = self._stats.snapshot()
        return stats.frames_displayed + stats.frames_dropped >= stats.frames_captured

    # -- playback --------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        if self._capture is None or paused == self._playback.paused:
            return
        self._finish_ended_recording()  # played again: the recording of the ended file stops where it ended
        self._open_held_recording()  # first: a pause would count as a gap in the held frames' times
        self._playback.paused = paused
        # R on a paused file, then a seek or step to where the clip should begin: it begins with the frame on screen
        # (it began with the next one, leaving out the frame chosen). So does a recording paused, then sought or stepped
        # on: it goes on from there (a cut). Only where the capture waits right after it: a seek still on its way, or a
        # file at its end (it plays again from the start), resumes elsewhere
        shown = self._last_shown
        waiting = self._record_waits_for_play and self._record_request is not None
        first = (shown if not paused and shown is not None and (waiting or shown.result.packet is self._looked_at)
                 and self._source is not None and self._source.is_file and not self._ended
                 and self._pause_index is not None and shown.result.index == self._pause_index else None)
        if not paused:
            self._record_waits_for_play = self._ended = False
            self._looked_at = None
        if first is not None:
            self._record(first)
        self._pause_index = self._step_target = None
        if not paused and self._source is not None and self._source.is_live:
            self._live_resumed_at = time.perf_counter()
        if self._live_clock is not None:  # a live recording leaves the paused time out
            now_s = time.perf_counter() - self._source_started
            if paused:
                self._live_clock.pause(now_s)
            else:
                self._live_clock.resume(now_s)
        self._capture.set_paused(paused)
        self.pause_changed.emit(paused)

    def toggle_pause(self) -> None:
        self.set_paused(not self._playback.paused)

    def seek(self, index: int) -> None:
        if self._capture is not None and self._source is not None and self._source.is_file:
            self._finish_ended_recording()
            if self._file_clock is not None and self._file_held is not None:  # recording, during a still (or not)
                self._file_clock.settle(self._file_clock.copies_shown_for(self._held_played_s()))
            self._pause_index = self._step_target = None
            self._ended = False  # a seek after the end goes on from where it lands
            self._capture.request_seek(index)

    def step(self, frames: int) -> None:
        """Pause and show the frame ``frames`` away from the one on screen (files only), to look at the
        detections one frame at a time. Steps pressed faster than frames arrive add up."""
        if self._capture is None or self._source is None or not self._source.is_file or self._last_result is None:
            return
        start = self._step_target if self._step_target is not None else self._last_result.index
        last = (self._source_info.frame_count or 0) - 1 if self._source_info is not None else -1
        if self._frames_at_most is not None:  # a damaged file: its header's count is not to be reached
            last = min(last, self._frames_at_most - 1)
        target = max(0, start + frames)
        if last >= 0:
            target = min(target, last)
        self.set_paused(True)
        self.seek(target)
        self._step_target = target

    def set_loop(self, loop: bool) -> None:
        self._playback.loop = loop
        if self._capture is not None:
            self._capture.set_loop(loop)

    def set_realtime(self, realtime: bool) -> None:
        """Files at their own FPS (True) or as fast as the pipeline goes, without dropping frames (False)."""
        self._playback.realtime = realtime
        if self._capture is not None:
            self._capture.set_realtime(realtime)
        self._apply_lossless()

    @property
    def loop(self) -> bool:
        return self._playback.loop

    @property
    def realtime(self) -> bool:
        return self._playback.realtime

    def _on_ended_early(self, generation: int, frames: int, stated: int) -> None:
        if generation == self._generation and self._source is not None:
            self._frames_at_most = frames
            self.source_damaged.emit(f"{self._source.label} ends at frame {frames} of the {stated} its header "
                                     "states: the file is damaged or was cut short")
            self.true_length.emit(frames)

    def _on_length_found(self, generation: int, frames: int) -> None:
        """A variable-rate file played to its end: whole, its frames fewer than its header counts. The bar read
        "31 / 136" at its end, and a step or seek towards 136 met no frame."""
        if generation == self._generation and self._source is not None:
            self._frames_at_most = frames
            self.true_length.emit(frames)

    def _on_sought_past_end(self, generation: int, index: int, back_to: int, variable_rate: bool) -> None:
        """It said "ends at frame 600 of 795" after a seek to 600 of a file holding 287, and started over at 1."""
        if generation == self._generation and self._source is not None:
            self._frames_at_most = min(index, self._frames_at_most or index)
            if self._step_target is not None:  # a step past the end: the next step counts from the frame shown
                self._step_target = back_to
            stated = self._source_info.frame_count if self._source_info is not None else None
            header = f" of the {stated} its header states" if stated else ""
            going_on = "showing" if self._playback.paused else "playing on from"
            if variable_rate:  # whole: its header counts its duration at its nominal rate, not its frames
                self.message.emit(f"{self._source.label} has a variable frame rate and fewer frames than the "
                                  f"{stated} its header counts: no frame {index + 1}; {going_on} frame {back_to + 1}, "
                                  "the furthest read so far")
                return
            self.source_damaged.emit(f"{self._source.label} has no frame {index + 1}{header}: the file is damaged or "
                                     f"was cut short; {going_on} frame {back_to + 1}, the furthest read so far")

    def _on_paused_at(self, generation: int, index: int) -> None:
        if generation != self._generation or not self._playback.paused:
            return
        self._pause_index = index
        if self._last_result is not None and self._last_result.index == index:
            self._redraw()  # its panel says "paused" instead of the rates from before the pause
            self.paused_frame_shown.emit(index)

    def _lossless(self) -> bool:
        """Every frame must reach the screen: a file being recorded, or played as fast as possible."""
        is_file = self._source is not None and self._source.is_file
        return is_file and (self.recording or not self._playback.realtime)

    def _apply_lossless(self) -> None:
        lossless = self._lossless()
        if self._capture is not None:
            self._capture.set_lossless(lossless)
        self._inference.set_lossless(lossless)

    # -- models ----------------------------------------------------------------------------
    def load_model(self, name_or_path: str) -> None:
        """Load on a worker thread; the stream keeps its current model until the new one is ready."""
        if not self._closed:
            self._wanted_model = str(name_or_path)
            self._models.request(ModelRequest(str(name_or_path), self.device, self.input_size))

    def _reload_wanted_model(self) -> None:
        """The model asked for last (it may still be loading), again with the current device and input size:
        reloading the one running instead dropped a model chosen a moment before without a word."""
        model = self.model
        wanted = self._wanted_model if self._models.busy else None
        if wanted is not None or model is not None:
            self.load_model(wanted or model.source)

    def set_device(self, device: str) -> None:
        """Run detection on ``device`` ("auto", "cpu", "cuda", "mps"): the model in use is loaded again there,
        in the background; if that fails, the one running keeps running where it was."""
        self.device = device
        self._reload_wanted_model()

    def set_input_size(self, size: int) -> None:
        """Run the network at ``size`` pixels (0: the model's own). Larger finds smaller, more distant objects
        and takes longer. The model in use is prepared again at that size in the background, as for a device."""
        self.input_size = int(size)
        self._reload_wanted_model()

    def _on_model_failed(self, message: str) -> None:
        self._wanted_model = None  # the one running, if any, is what a device or size change reloads now
        self.model_failed.emit(message)

    def _on_model_ready(self, model: ActiveModel, seconds: float) -> None:
        self._inference.set_model(model)
        self._detect_still_frame_again()
        # said first: what the window says on model_ready (a class filter naming none of its classes) must not
        # be covered for 8 s by this news
        self.message.emit(f"Model {model.name} ready on {model.device}, input {model.predictor.imgsz} px "
                          f"({seconds:.1f} s)")
        self.model_ready.emit(model)

    def _detect_still_frame_again(self, *, only_if_undetected: bool = False) -> None:
        """A paused (or ended) frame shows no next frame: run the model just loaded on it, so its boxes
        are the new model's, as the status bar says. ``only_if_undetected``: only when it was shown
        before any model was ready (a photo opened at start-up)."""
        result = self._last_result
        if not self._playback.paused or result is None or result.generation != self._generation:
            return
        if only_if_undetected and (result.model is not None or self.model is None):
            return
        self._inference.rerun(result.packet)

    def _on_inference_failed(self, message: str) -> None:
        self.model_failed.emit(message)

    # -- thresholds ------------------------------------------------------------------------
    def set_thresholds(self, conf: float, iou: float) -> None:
        """Used from the next frame on; the frame on screen is re-thresholded at once, without the network."""
        self._apply_thresholds(replace(self._thresholds, conf=float(conf), iou=float(iou)))

    def set_class_filter(self, names: Iterable[str] | None) -> None:
        """Show only these classes (None or nothing: all), at once on the frame on screen, like the sliders."""
        chosen = frozenset(names) if names else None
        self._apply_thresholds(replace(self._thresholds, classes=chosen))

    def _apply_thresholds(self, thresholds: Thresholds) -> None:
        self._thresholds = thresholds
        self._inference.set_thresholds(thresholds)
        self._redraw()

    def set_mirror(self, mirror: bool) -> None:
        """Show (and record) the picture flipped left to right; the frame on screen is redrawn at once."""
        self._mirror = bool(mirror)
        self._redraw()

    def set_info_panel(self, shown: bool) -> None:
        """Draw the corner panel (count, FPS, latency, model) or only the boxes, on screen and in recordings."""
        self._info_panel = bool(shown)
        self._redraw()

    def keep_tags_clear_of(self, covered: Fractions | None) -> None:
        """The part of the picture the screen paints over (fullscreen's REC badge), as fractions of it, or None:
        the tags are placed off it from this frame on, the frame on screen drawn again at once."""
        if covered != self._covered:
            self._covered = covered
            self._redraw()

    def _redraw(self) -> None:
        """Draw the frame on screen again after a threshold or view setting changed (without the network)."""
        result = self._last_result
        if result is None or result.generation != self._generation:
            return
        detections = _rethreshold(result.candidates, self._thresholds) if result.candidates is not None \
            else result.detections
        self._last_shown = self._shown(result, detections, fresh=False)
        self.frame_shown.emit(self._last_shown)

    # -- display ---------------------------------------------------------------------------
    def _shown(self, result: FrameResult, detections: Detections, *, fresh: bool) -> ShownFrame:
        """The frame as displayed, recorded and logged: mirrored when asked, boxes and all."""
        frame = result.frame
        if self._mirror:
            frame, detections = mirrored(frame, detections)
        return ShownFrame(self._render(result, frame, detections), result, detections, fresh=fresh)

    def _render(self, result: FrameResult, frame: np.ndarray, detections: Detections) -> np.ndarray:
        snap = self._stats.snapshot()
        shown_classes = ()
        if result.candidates is not None:
            ids = self._thresholds.class_ids(result.candidates.class_names)
            # as the tags name them: "#2" for a name the picture's font cannot draw ("only ," said nothing)
            shown_classes = tuple(class_label(result.candidates.class_names[i], i) for i in sorted(ids or ()))
        hud = HudInfo(snap.capture_fps, snap.inference_fps, snap.display_fps,
                      result.timings.total_ms if result.timings else None, result.model, result.device,
                      shown_classes, paused=self._playback.paused,
                      still=self._source is not None and self._source.kind == IMAGE)
        return render_overlay(frame, detections, hud if self._info_panel else None, covered=self._covered)

    def _show_next_result(self) -> None:
        """Take the newest result and show it; called when one arrives and when the recorder frees its slot."""
        recorder = self._recorder
        if recorder is not None and recorder.busy():
            return  # back-pressure: the recorder's "accepted" signal calls this again
        result = self._display_box.take_nowait()
        if result is None or result.generation != self._generation:
            return
        detections = result.detections
        if result.candidates is not None and result.thresholds != self._thresholds:  # a slider moved meanwhile
            detections = _rethreshold(result.candidates, self._thresholds)
        if result.rerun:  # the frame on screen, detected by a new model: drawn again, not recorded or logged again
            if self._last_result is not None and result.packet is self._last_result.packet:
                self._last_result, self._last_shown = result, self._shown(result, detections, fresh=False)
                self.frame_shown.emit(self._last_shown)
            return
        shown = self._shown(result, detections, fresh=True)
        self._last_result, self._last_shown = result, shown
        if result.index == self._step_target:
            self._step_target = None
        self._stats.count_displayed(result.packet.captured_at)
        self._record(shown)  # before announcing it: a listener may end the session on this very frame
        if self._end_recording_when_drained and self._pipeline_drained():
            self._finish_ended_recording()
        elif self._end_recording_when_drained:  # the limit is for a pipeline that stopped, not a slow model:
            self._drain_limit.start()  # counted from the file's end, it cut a 3-s-a-frame model's last frames
        self.frame_shown.emit(shown)
        if self._playback.paused and self._pause_index == result.index:
            self.paused_frame_shown.emit(result.index)
        self._detect_still_frame_again(only_if_undetected=True)  # its model came while it was on its way

    # -- recording -------------------------------------------------------------------------
    def new_recording_path(self) -> Path:
        """``livedet-<date>-<time>.mp4`` in the record folder, never the name of an earlier recording."""
        base = unused_name(self.record_folder, f"livedet-{_timestamp()}", RECORDING_SUFFIXES, self._claimed_names)
        return base.with_name(f"{base.name}.mp4")

    def set_detections_format(self, fmt: str) -> None:
        self.detections_format = fmt if fmt in DETECTION_FORMATS else ""

    def start_recording(self, path: str | Path | None = None, *, continuing: bool = False) -> bool:
        """Record the annotated video from the next displayed frame on (returns False with a message if it cannot).

        ``continuing``: the recording before it ended as its source reopened (``continue_recording``).
        """
        if self.recording:
            return True
        if self._source is None:
            self.needs_source.emit("Open a camera, video or stream before recording")
            return False
        if self._source.kind == IMAGE:
            self.recording_failed.emit(_photo_not_recorded(self._source.label))
            return False
        source = self._source
        try:  # the folder may be on a network share that does not answer: the window waits for it only so long
            target = within(lambda: self._recording_target(path, source))
        except DiskSilent:
            self.recording_failed.emit(silent_folder_message(Path(path).parent if path else self.record_folder))
            return False
        except OutputError as exc:
            self.recording_failed.emit(str(exc))
            return False
        if continuing:  # its own first part holds the name: not a clash with an earlier recording
            self.message.emit(f"The recording goes on in {target.name}")
        elif path and target != Path(path):
            said = f"{Path(path).name} exists (an earlier recording): recording to {target.name}"
            log.warning(said)  # a script's --record hears it on stderr
            self.message.emit(said)
        self._record_request = target
        self._named_recording = Path(path) if path else None
        self._record_waits_for_play = self._playback.paused  # R on a paused video "starts on Play"
        self._record_exclusive = not path or source.is_live  # a name chosen as unused: never written over
        self._live_clock = None
        self._apply_lossless()
        self.recording_changed.emit(True)
        return True

    def continue_recording(self) -> bool:
        """Record again once the source has reopened (a camera at a new resolution, a source back after a loss):
        under the name given for the recording, numbered (``clip-2.mp4`` after ``clip.mp4``), else in a new file in
        the recording folder. (A name given with --record went to ``livedet-<date>.mp4`` in another folder.)"""
        return self.start_recording(self._named_recording, continuing=self._named_recording is not None)

    def forget_recording_name(self) -> None:
        """R pressed: what is recorded from now on goes to a new file in the recording folder, as R's always does
        (a recording stopped with R, then asked for while its camera reconnected, went on under the old name)."""
        self._named_recording = None

    def _recording_target(self, path: str | Path | None, source: SourceSpec) -> Path:
        """The file a recording goes to, its folder made (asked off the GUI thread: see ``start_recording``)."""
        target = Path(path) if path else self.new_recording_path()
        make_record_folder(target.parent)
        if source.kind == VIDEO and same_file(target, source.value):
            raise OutputError(f"Cannot record to {target.name}: it is the video being played, and recording "
                              "would destroy it. Choose another file name.")
        if path and source.is_live:  # a camera's earlier footage cannot be filmed again: as `predict`, NAME-2.mp4
            target = next_free_path(target)  # (a name of the app's own is unused already)
        return target

    def _finish_ended_recording(self) -> None:
        if self._end_recording_when_drained:
            self.stop_recording(at_end=True)

    def stop_recording(self, *, at_end: bool = False) -> None:
        """Finalise the file: the recorder writes what it was handed, then closes it (off the GUI thread).

        ``at_end``: the file ended, and its last frame is written once; stopped before, the frame on screen
        lasts as long as it has played (a still of a screen recording: it was written once, its seconds lost).
        """
        self._end_recording_when_drained = False
        self._drain_limit.stop()  # an earlier file end's limit must not cut a later recording short
        self._open_held_recording()  # a recording stopped within a stream's first second keeps its frames
        recorder, self._recorder = self._recorder, None
        held = self._file_held
        if held is not None and self._file_clock is not None and not at_end:
            held = replace(held, repeats=self._file_clock.copies_shown_for(self._held_played_s()))
        self._file_held = self._file_clock = None
        was_recording = recorder is not None or self._record_request is not None
        if recorder is None and self._record_request is not None and self._record_waits_for_play:
            self.message.emit("Nothing recorded: a recording asked for on a paused video starts when it plays")
        self._record_request = None
        if recorder is not None:
            recorder.finish(held)
            if recorder.busy():  # its slot full (a write stalled on a silent share): the results waiting for that
                # slot would wait on; only its "accepted", which may never come, showed them. Queued: this may run
                # inside _show_next_result itself
                QTimer.singleShot(0, self._show_next_result)
        self._apply_lossless()
        if was_recording:
            self.recording_changed.emit(False)

    def _record(self, shown: ShownFrame) -> None:
        packet = shown.result.packet  # a file's frame is logged at its time in the file, a live one's since it opened
        time_s = packet.file_ms / 1000 if packet.file_ms is not None else packet.captured_at - self._source_started
        if self._record_request is not None and self._record_waits_for_play:
            return  # R on a paused video "starts on Play": the frames a seek or step shows meanwhile are scrubbing
            # (R while playing starts with the next frame, even one shown after the file ended and paused it)
        if packet.stepped and self._playback.paused:  # a seek or step while paused: the recording pauses too, and
            self._looked_at = packet  # Play goes on from this frame; a drag wrote each frame it showed, and a step
            return  # each frame it passed (the frame before keeps the copies it had played: ``seek`` settled them)
        if self._record_request is not None and self._recorder is None and self._held is None:
            if self._source is not None and self._source.is_live and not self._rate_known():
                self._held = []
            else:
                self._begin_recording(self._record_request, shown.image)
        if self._held is not None:
            self._held.append(RecordedFrame(shown.image, shown.result.index, time_s, shown.detections,
                                            model=shown.result.model or ""))
            self._held_bytes += shown.image.nbytes
            if self._rate_known() or self._held_bytes >= HOLD_BYTES:
                self._open_held_recording()
            return
        recorder = self._recorder
        if recorder is None:
            return
        frame = RecordedFrame(shown.image, shown.result.index, time_s, shown.detections, model=shown.result.model or "")
        if self._live_clock is not None:
            frame = replace(frame, repeats=max(0, min(self._live_clock.copies(time_s), MAX_COPIES)))
        elif self._file_clock is not None and packet.file_ms is not None:
            # a frame lasts until the next one's time: this one is held, the one before goes with its copies
            copies = self._file_clock.copies_before(shown.result.index, time_s)
            frame, self._file_held = (replace(self._file_held, repeats=copies) if self._file_held else None), frame
            if frame is None:
                return
        if recorder.submit(frame):  # (repeats 0: came early, the video is ahead of the clock; its rows are logged)
            self._recorded_frames += frame.repeats

    @property
    def recorded_seconds(self) -> float:
        """Length of the video recorded so far (0 before its first frame): the REC clock shows it. A file's frame
        on screen counts as long as it has played: the clock stood still through a still of a screen recording."""
        if not self._recording_fps:
            return 0.0
        held_s = 0.0
        if self._file_clock is not None and self._file_held is not None:
            settled = self._file_clock.settled_copies
            held_s = settled / self._recording_fps if settled is not None else self._held_played_s()
        return self._recorded_frames / self._recording_fps + held_s

    def _held_played_s(self) -> float:
        """How long the file's frame held back has played (0 when not known): the capture times it, waiting for the
        next frame's time (and keeps the last few waits: a slow model shows that frame a while later)."""
        held, capture = self._file_held, self._capture
        played = capture.played_s(held.source_index) if held is not None and capture is not None else None
        return min(played or 0.0, FILE_STILL_LIMIT_S)

    def _rate_known(self) -> bool:
        """A live source has sent long enough for its real rate to be told from its connect burst, and since a
        pause: the rate is measured over the last seconds, and a paused source captures nothing."""
        sending_s = self._stats.seconds_capturing()
        if self._live_resumed_at is not None:
            sending_s = min(sending_s, time.perf_counter() - self._live_resumed_at)
        return sending_s >= LIVE_RATE_PROBE_S

    def _open_held_recording(self) -> None:
        """Start the file of a live recording whose first frames were held, with them in front."""
        held, self._held, self._held_bytes = self._held, None, 0
        if held and self._record_request is not None:
            self._begin_recording(self._record_request, held[0].image, held)

    def _begin_recording(self, path: Path, first_image: np.ndarray, held: Sequence[RecordedFrame] = ()) -> None:
        self._record_request = None
        fps = self._source_info.fps if self._source_info is not None else 30.0
        lead_in: list[RecordedFrame] = []
        if self._source is not None and self._source.is_live:  # by the clock, at the rate it really sends
            fps = recording_fps(fps, self._stats.capture_rate())
            self._live_clock = LiveClock(fps)
            lead_in = [replace(frame, repeats=max(0, min(self._live_clock.copies(frame.time_s), MAX_COPIES)))
                       for frame in held]
            if self._playback.paused:
                self._live_clock.pause(time.perf_counter() - self._source_started)
        else:  # a file: by the times its frames carry (a variable-rate one's are unevenly apart)
            self._file_clock, self._file_held = FileClock(fps), None
        source_video = Path(self._source.value) if self._source is not None and self._source.kind == VIDEO else None
        plan = RecordingPlan(path, fps, (first_image.shape[1], first_image.shape[0]), self.detections_format,
                             source_video, exclusive=self._record_exclusive)
        recorder = RecorderWorker(plan, lead_in)
        self._recorded_frames, self._recording_fps = sum(frame.repeats for frame in lead_in), fps
        recorder.started_writing.connect(self.recording_started)
        recorder.accepted.connect(self._show_next_result)
        recorder.failed.connect(lambda message, r=recorder: self._on_recorder_failed(r, message))
        recorder.summary_ready.connect(lambda summary, r=recorder: self._on_recording_summary(r, summary))
        self._recorder = recorder
        self._finishing.add(recorder)
        recorder.start()

    def _on_recorder_failed(self, recorder: RecorderWorker, message: str) -> None:
        if recorder is self._recorder:
            self._recorder = None
            self._apply_lossless()
            self.recording_changed.emit(False)
            self._show_next_result()  # a result held back for it would wait for an "accepted" that never comes
        self.recording_failed.emit(message)

    def _on_recording_summary(self, recorder: RecorderWorker, summary: RecordingSummary) -> None:
        if recorder in self._finishing:
            recorder.wait()
            self._finishing.discard(recorder)
            recorder.deleteLater()
        if summary.video_path is not None and summary.frames_written:
            extra = f" and {summary.detections_path.name}" if summary.detections_path else ""
            frames = "1 frame" if summary.frames_written == 1 else f"{summary.frames_written} frames"
            saved = f"{frames} to {summary.video_path}{extra}"
            if summary.restored:
                saved += f" (its folder {summary.video_path.parent} was deleted while recording: made again)"
            if summary.error:  # the error stays in view: "Saved …" in its place read as if all went well
                self.recording_failed.emit(f"{without_saved_note(summary.error)} (what came before is saved: {saved})")
            else:
                self.message.emit(f"Saved {saved}")
        self.recording_finished.emit(summary)

    # -- snapshot --------------------------------------------------------------------------
    def save_snapshot(self, path: str | Path | None = None) -> None:
        """The frame on screen, as drawn, to PNG, off the GUI thread: ``snapshot_saved`` or ``recording_failed``
        (``needs_source`` before any frame)."""
        shown = self._last_shown
        if shown is None:
            self.needs_source.emit("No frame to save yet: open a camera, video or stream first")
            return
        stem = f"livedet-{_timestamp()}-{shown.result.index + 1}"  # the frame's number as the position bar shows it
        self._snapshots.save(shown.image, self.record_folder, stem, Path(path) if path else None)

    def _on_snapshot_saved(self, path: str) -> None:
        self.snapshot_saved.emit(path)
        self.message.emit(f"Snapshot saved to {path}")

    # -- shutdown --------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Finalise any recording, stop every thread and join them (called once, on quit).

        Recordings are waited for: losing a file is worse than a slow quit; but not for ever,
        as a network folder that stopped answering mid-write never returns (what reached it
        stays playable: the file is written in self-contained fragments). Snapshots still being
        written get a few seconds. The other threads get ``timeout_s`` together; one still stuck
        in a driver, a model load or a silent disk is left behind (kept referenced, so Qt never
        destroys it running) and False is returned, so ``main`` can end the process without
        waiting for it. A stop signal meanwhile (``cut_quit_wait``) ends every wait at once; the
        recordings left unfinished are then in ``unfinished_recordings``.
        """
        if self._closed:
            return self._all_stopped()
        self._closed = True
        self.stop_recording()
        recorders = list(self._finishing)
        recording_deadline = time.monotonic() + RECORDING_QUIT_WAIT_S
        for recorder in recorders:
            if not self._wait_for(recorder, recording_deadline) and not self.quit_cut_by:
                log.warning("the recording's disk has not answered for %.0f s: quitting without it (%s keeps what "
                            "reached it)", RECORDING_QUIT_WAIT_S, recorder.video_path)
        self.unfinished_recordings = [recorder.video_path for recorder in recorders if _running(recorder)]
        if not self._snapshots.wait(stop=lambda: self.quit_cut_by is not None):  # a PNG being written is finished,
            self.unsaved_snapshots = self._snapshots.unsaved()  # not cut off; unless 5 s pass, or a stop signal
            self._snapshots.abandon_unsaved()
            if not self.quit_cut_by:
                log.warning("%d snapshot(s) still being saved after %.0f s: quitting without them",
                            self.unsaved_snapshots, SNAPSHOT_QUIT_WAIT_S)
        deadline = time.monotonic() + timeout_s
        self._retire_capture()
        self._inference.stop()
        threads = [*self._retired, self._inference, *recorders]
        for thread in threads:
            self._wait_for(thread, deadline)
        self._stopping = threads
        stuck = [thread for thread in threads if _running(thread)]
        if stuck:
            if not self.quit_cut_by:  # (a stop signal's cut left them: ``main`` says so)
                log.warning("%d thread(s) still busy at quit (a camera or stream that does not answer)", len(stuck))
            _STRAGGLERS.extend(stuck)
        self._models.shutdown(self._time_left(deadline))
        openers_finish(self._time_left(deadline))  # a file opened as the window closed: done in ms
        return self._all_stopped()

    @property
    def quitting(self) -> bool:
        """Whether ``shutdown`` has begun (read from a signal's handler: a plain field)."""
        return self._closed

    def cut_quit_wait(self, by: str) -> bool:
        """A further stop signal (``by``: "ctrl-c" or "sigterm") came: if the quit is under way, its waits end now
        and True is returned. Called from the signal's handler, in the middle of the GUI thread's work: it only
        sets a field. Why: the quit waits up to 30 s for a recording's disk that stopped answering, with the window
        already gone, and Ctrl-C in the terminal did nothing meanwhile (``predict`` stops at a second one)."""
        if not self._closed:
            return False
        self.quit_cut_by = self.quit_cut_by or by
        return True

    def _time_left(self, deadline: float) -> float:
        return 0.0 if self.quit_cut_by else max(0.0, deadline - time.monotonic())

    def _wait_for(self, thread, deadline: float) -> bool:
        """Wait for ``thread`` until ``deadline`` or a stop signal; True once it has ended."""
        while True:
            left = self._time_left(deadline)
            if thread.wait(round(min(left, QUIT_WAIT_SLICE_S) * 1000)) or left <= QUIT_WAIT_SLICE_S:
                return not _running(thread)

    def _all_stopped(self) -> bool:
        return (not any(_running(thread) for thread in self._stopping) and self._models.shutdown(0.0)
                and openers_finish(0.0))


def _running(thread) -> bool:
    """QThread.isRunning() that treats a thread Qt already deleted (it finished) as stopped."""
    try:
        return thread.isRunning()
    except RuntimeError:
        return False
