"""Decode -> infer -> annotate/encode as three overlapping stages joined by bounded queues.

Decoding a video frame and encoding an annotated one each cost about as much
as running the small model on a CPU, so running them on their own threads
(OpenCV and ONNX Runtime release the GIL) raises throughput without touching
the model. Bounded queues keep memory flat when one stage is slower, and an
error or Ctrl-C in any stage stops all three and reaches the caller.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from .types import Prediction

_END = object()  # end-of-stream marker passed down the queues
_POLL_S = 0.1  # how often a blocked stage checks whether it should give up
# once a stop is asked, how long the frame being read is waited for: a camera or stream gone silent holds its
# read in the driver until a timeout (5 s for a stream, later or never for some cameras), and the person who
# pressed Ctrl-C expects the run to end now
STOP_GRACE_S = 0.5
_left_behind: list[threading.Thread] = []  # decode threads running or not waited for: each may be inside a read


def reads_left_behind() -> bool:
    """Whether a decode thread this process stopped waiting for is still inside its read.

    Python must then not be finalised: the read, returning meanwhile, ends its thread inside OpenCV's C++ code,
    which aborts the process ("terminate called without an active exception"), with a core dump instead of
    the run's exit status. The program ends with ``os._exit`` instead, as the app does for a stuck driver.
    """
    _left_behind[:] = [thread for thread in _left_behind if thread.is_alive()]
    return bool(_left_behind)


@dataclass(frozen=True)
class FrameResult:
    """One frame and what the model found in it, handed to the output stage."""

    index: int
    name: str
    frame: np.ndarray
    prediction: Prediction


@dataclass(frozen=True)
class PipelineStats:
    frames: int
    elapsed_s: float  # wall time from the first decode to the last write

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Stage(threading.Thread):
    """A daemon thread that remembers the exception that ended it."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._run_stage = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run_stage()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc


def _put(q: queue.Queue, item, keep_trying: Callable[[], bool]) -> bool:
    """Put, waiting while ``keep_trying()``; False means the item was dropped because the pipeline stopped."""
    while keep_trying():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event, give_up: Callable[[], bool] = lambda: False):
    """Next item, or ``_END`` once the pipeline is stopping (or ``give_up()``) and nothing is left."""
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if stop.is_set() or give_up():
                return _END


class _ReadGrace:
    """Whether the main thread should stop waiting for the decode thread: a stop was asked ``STOP_GRACE_S`` ago
    and no frame came meanwhile. The read under way is then left to that thread (and the source, whose
    ``close`` does not free a capture under a read, keeps it until the read returns)."""

    def __init__(self, stop_asked: Callable[[], bool] | None) -> None:
        self._stop_asked = stop_asked
        self._asked_at: float | None = None  # when the main thread, waiting for a frame, first saw the stop

    def asked(self) -> bool:
        return self._stop_asked is not None and self._stop_asked()

    def over(self) -> bool:
        if not self.asked():
            return False
        now = time.monotonic()
        if self._asked_at is None:
            self._asked_at = now
        return now - self._asked_at >= STOP_GRACE_S


def run_pipeline(
    frames: Iterable[tuple[int, np.ndarray, str]],
    infer: Callable[[Sequence[np.ndarray]], list[Prediction]],
    write: Callable[[FrameResult], None],
    *,
    batch: int = 1,
    queue_size: int = 8,
    on_result: Callable[[FrameResult], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    stop_asked: Callable[[], bool] | None = None,
) -> PipelineStats:
    """Feed ``frames`` through ``infer`` (``batch`` frames per call) into ``write``, each on its own thread.

    ``frames`` yields ``(index, frame, name)`` as ``FrameSource`` does; it is consumed on
    the decode thread. ``write`` runs on the encode thread, in frame order. ``on_result``
    runs on the calling thread (progress bars, counters). ``on_stop`` is called as the
    pipeline ends, before the decode thread is waited for, so after an error or Ctrl-C a
    source waiting to reconnect gives up at once. ``stop_asked``: once it is true (the
    first Ctrl-C), a frame that does not come within ``STOP_GRACE_S`` ends the frames, as
    the source ending would; the decode thread, stuck in that read, is not waited for.
    The first error from any stage is raised here after all threads have stopped.
    """
    batch = max(1, int(batch))
    decoded: queue.Queue = queue.Queue(maxsize=max(queue_size, batch * 2))
    predicted: queue.Queue = queue.Queue(maxsize=max(queue_size, batch * 2))
    stop = threading.Event()

    def running() -> bool:
        return not stop.is_set()

    def decode() -> None:
        try:
            for item in frames:
                if not _put(decoded, item, running):
                    return
        finally:
            _put(decoded, _END, running)

    def encode() -> None:
        while True:
            item = _get(predicted, stop)
            if item is _END:
                return
            write(item)

    decoder, encoder = _Stage("livedet-decode", decode), _Stage("livedet-encode", encode)

    def encoder_running() -> bool:
        return running() and encoder.is_alive()

    grace = _ReadGrace(stop_asked)
    start = time.perf_counter()
    count = 0
    # known as left behind from the start, not once the join below gives up: a second Ctrl-C raises wherever
    # the main thread is, in that join too, and the rest of the ending is skipped
    _left_behind.append(decoder)
    decoder.start()
    encoder.start()
    try:
        finished = False
        while not finished and encoder_running():
            pending: list[tuple[int, np.ndarray, str]] = []
            while len(pending) < batch:
                item = _get(decoded, stop, grace.over)
                if item is _END:
                    finished = True
                    break
                pending.append(item)
            if not pending:
                continue
            predictions = infer([frame for _, frame, _ in pending])
            for (index, frame, name), prediction in zip(pending, predictions):
                result = FrameResult(index, name, frame, prediction)
                if not _put(predicted, result, encoder_running):
                    break  # the writer failed; its error is raised below
                count += 1
                if on_result is not None:
                    on_result(result)
        if _put(predicted, _END, encoder_running):
            while encoder.is_alive():  # let the writer drain the queue before outputs are closed
                encoder.join(_POLL_S)
    finally:
        stop.set()
        if on_stop is not None:
            on_stop()
        # once a stop is asked, a read still under way is not waited for (a second Ctrl-C must not wait 5 s)
        decoder.join(_POLL_S if grace.asked() else 5.0)
        if not decoder.is_alive() and decoder in _left_behind:
            _left_behind.remove(decoder)
        encoder.join(5.0)
    elapsed = time.perf_counter() - start
    for stage in (encoder, decoder):
        if stage.error is not None:
            raise stage.error
    return PipelineStats(frames=count, elapsed_s=elapsed)
