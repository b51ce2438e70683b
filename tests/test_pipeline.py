"""The decode -> infer -> write pipeline: every frame once, in order, and failures surface instead of hanging."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from detector.errors import OutputError, SourceError
from detector.pipeline import reads_left_behind, run_pipeline
from detector.types import Detections, Prediction, StageTimings


def frames(count: int, fail_at: int | None = None):
    for i in range(count):
        if i == fail_at:
            raise SourceError(f"frame {i} is damaged")
        yield i, np.full((4, 4, 3), i % 256, np.uint8), f"f{i}"


class CountingModel:
    """Stands in for a predictor: remembers batch sizes and which thread ran it."""

    def __init__(self, fail_on_call: int | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.fail_on_call = fail_on_call
        self.delay_s = delay_s

    def __call__(self, batch):
        if len(self.batches) == self.fail_on_call:
            raise RuntimeError("model exploded")
        self.batches.append(len(batch))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return [Prediction(Detections(), StageTimings(infer_ms=1.0)) for _ in batch]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("batch", [1, 4])
def test_every_frame_is_written_once_in_order(batch):
    written, seen_by_caller = [], []
    model = CountingModel(delay_s=0.001)
    write_threads = set()

    def write(result):
        written.append((result.index, int(result.frame[0, 0, 0]), result.name))
        write_threads.add(threading.current_thread().name)

    stats = run_pipeline(frames(23), model, write, batch=batch, queue_size=2,
                         on_result=lambda r: seen_by_caller.append(r.index))
    assert stats.frames == 23 and stats.fps > 0
    assert written == [(i, i, f"f{i}") for i in range(23)]
    assert seen_by_caller == list(range(23))
    assert model.batches == [batch] * (23 // batch) + ([23 % batch] if 23 % batch else [])
    assert model.threads == {threading.current_thread().name}  # inference stays on the caller's thread
    assert write_threads == {"livedet-encode"}


@pytest.mark.timeout(30)
def test_a_writer_failure_stops_everything_and_is_raised():
    def write(result):
        if result.index == 5:
            raise OutputError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        run_pipeline(frames(10_000), CountingModel(), write, queue_size=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("livedet-")]


@pytest.mark.timeout(30)
def test_a_decode_failure_keeps_what_was_written_and_is_raised():
    written = []
    with pytest.raises(SourceError, match="frame 7"):
        run_pipeline(frames(20, fail_at=7), CountingModel(), lambda r: written.append(r.index))
    assert written == list(range(7))


@pytest.mark.timeout(30)
def test_a_model_failure_is_raised_and_threads_stop():
    with pytest.raises(RuntimeError, match="exploded"):
        run_pipeline(frames(10_000), CountingModel(fail_on_call=3), lambda r: None, queue_size=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("livedet-")]


@pytest.mark.timeout(30)
def test_an_empty_source_gives_zero_frames():
    stats = run_pipeline(frames(0), CountingModel(), lambda r: None)
    assert stats.frames == 0


@pytest.mark.timeout(30)
def test_a_stop_asked_while_a_read_never_returns_ends_the_frames_and_leaves_that_read_behind():
    """Ctrl-C while the source's read hangs (a camera gone silent): the frames already read are written and the
    pipeline returns, not waiting for that read; it is known to be left behind until it returns."""
    asked, answer = threading.Event(), threading.Event()

    def silent_after_three():
        yield from frames(3)
        asked.set()  # the person presses Ctrl-C while the next read hangs
        answer.wait(20)

    written = []
    started = time.monotonic()
    stats = run_pipeline(silent_after_three(), CountingModel(), lambda r: written.append(r.index),
                         stop_asked=asked.is_set)
    assert time.monotonic() - started < 10 and stats.frames == 3 and written == [0, 1, 2]
    assert reads_left_behind()
    answer.set()
    deadline = time.monotonic() + 5
    while reads_left_behind() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not reads_left_behind()


@pytest.mark.timeout(30)
def test_a_second_ctrl_c_as_the_pipeline_ends_still_leaves_the_stuck_read_known():
    """The second Ctrl-C, pressed while the pipeline ends (here: as it tells the source to stop waiting), raises
    there: the decode thread, stuck in a read, went unrecorded, so the program did not end itself and the read
    returning while Python was ending aborted it (a core dump and exit 134 instead of 130)."""
    asked, answer = threading.Event(), threading.Event()

    def silent_after_three():
        yield from frames(3)
        asked.set()  # the first Ctrl-C, while the next read hangs
        answer.wait(20)

    def second_ctrl_c() -> None:
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(silent_after_three(), CountingModel(), lambda r: None, on_stop=second_ctrl_c,
                         stop_asked=asked.is_set)
        assert reads_left_behind()
    finally:
        answer.set()
    deadline = time.monotonic() + 5
    while reads_left_behind() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not reads_left_behind()
