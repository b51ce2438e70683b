"""The recorder thread under faults: a disk that fills up mid-recording, a folder it cannot write.

Drives ``RecorderWorker`` the way ``SessionController`` does (submit while not busy,
then finish) and checks what the user is told and what the file keeps.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.recording import DetectionLog, RecordedFrame, RecorderWorker, RecordingPlan
from detector import Detections
from detector.video_writer import VideoWriter

from ..videos import read_back

SIZE = (320, 240)  # (width, height)
FPS = 10.0  # the writer appends to the file once a second: every 10 frames


def frame(i: int) -> np.ndarray:
    """A frame that says its index in 8 black or white blocks, one per bit (survives compression)."""
    image = np.full((SIZE[1], SIZE[0], 3), 120, np.uint8)
    for bit in range(8):
        image[:40, bit * 40:(bit + 1) * 40] = 255 if i >> bit & 1 else 0
    return image


def frame_index(image: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if image[8:32, bit * 40 + 8:bit * 40 + 32].mean() > 128)


def indices_in(path: Path) -> list[int]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    found = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert image.shape == (SIZE[1], SIZE[0], 3)
        found.append(frame_index(image))
    capture.release()
    return found


class FillingDisk:
    """A file on a disk with room for ``growths`` writes that grow it; the next is cut short, then ENOSPC."""

    def __init__(self, file, growths: int) -> None:
        self._file, self._left, self._full = file, growths, False

    def write(self, data) -> int:
        if self._file.tell() + len(data) <= os.fstat(self._file.fileno()).st_size:
            return self._file.write(data)  # rewriting bytes the file has needs no new space
        if self._left > 0:
            self._left -= 1
            return self._file.write(data)
        if not self._full:
            self._full = True
            return self._file.write(bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._file, name)


def record(qtbot, plan: RecordingPlan, frames: int):
    """Hand ``frames`` frames to a recorder as the controller does; returns (failed messages, summary)."""
    worker = RecorderWorker(plan)
    failures: list[str] = []
    worker.failed.connect(failures.append)
    with qtbot.waitSignal(worker.summary_ready, timeout=15_000) as done:
        worker.start()
        for i in range(frames):
            item = RecordedFrame(frame(i), source_index=i, time_s=i / FPS, detections=Detections())
            qtbot.waitUntil(lambda item=item: worker.submit(item) or worker.isFinished() or bool(failures),
                            timeout=5_000)
            if failures:
                break
        worker.finish()
    assert worker.wait(5_000)
    qtbot.wait(10)  # let a queued "failed" arrive
    return failures, done.args[0]


def test_recording_again_under_another_video_suffix_keeps_the_earlier_recordings_log(qtbot, tmp_path):
    """`--record clip.mkv` after `--record clip.avi` (of a file: asked-for names are replaced) wrote clip.csv over
    clip.avi's log. Its own video and log are still replaced; another recording's log never is."""
    failures, first = record(qtbot, RecordingPlan(tmp_path / "clip.avi", FPS, SIZE, "csv"), frames=5)
    earlier = (tmp_path / "clip.csv").read_bytes()
    failures, second = record(qtbot, RecordingPlan(tmp_path / "clip.mkv", FPS, SIZE, "csv"), frames=7)
    assert not failures and (tmp_path / "clip.csv").read_bytes() == earlier
    assert second.video_path == tmp_path / "clip-2.mkv" and second.detections_path == tmp_path / "clip-2.csv"
    failures, again = record(qtbot, RecordingPlan(tmp_path / "clip.avi", FPS, SIZE, "csv"), frames=3)
    assert again.video_path == tmp_path / "clip.avi"  # its own name again: video and log replaced, as before
    assert (tmp_path / "clip.csv").read_bytes() != earlier


def test_a_disk_that_fills_up_mid_recording_keeps_what_was_written_and_says_so(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(VideoWriter, "_open_output",
                        lambda self, target: FillingDisk(open(target, "wb", buffering=0), growths=2))
    target = tmp_path / "clip.mp4"
    failures, summary = record(qtbot, RecordingPlan(target, FPS, SIZE, "jsonl"), frames=60)

    assert len(failures) == 1 and "disk full" in failures[0] and "space" in failures[0], failures
    assert summary.error == failures[0]
    assert summary.video_path == target and summary.codec == "avc1"  # H.264, through PyAV
    assert summary.frames_written == 20  # two whole seconds fitted; the third did not
    assert 30 <= summary.frames_received < 60  # it stopped taking frames once the disk was full
    assert indices_in(target) == list(range(20))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.jsonl", "clip.mp4"]  # no segment left behind
    logged = [json.loads(line)["frame"] for line in (tmp_path / "clip.jsonl").read_text().splitlines()]
    assert logged == list(range(20))  # the log had 30 lines: also the frames of the second the video lost


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_disk_full_from_the_start_leaves_neither_video_nor_log(qtbot, tmp_path, monkeypatch, fmt):
    """"nothing was saved", but a log of the frames that never reached a video stayed beside nothing."""
    monkeypatch.setattr(VideoWriter, "_open_output",
                        lambda self, target: FillingDisk(open(target, "wb", buffering=0), growths=0))
    failures, summary = record(qtbot, RecordingPlan(tmp_path / "clip.mp4", FPS, SIZE, fmt), frames=30)
    assert len(failures) == 1 and "nothing was saved" in failures[0], failures
    assert summary.frames_written == 0 and list(tmp_path.iterdir()) == []


def test_an_os_error_from_the_detections_log_is_reported_as_a_full_disk(qtbot, tmp_path, monkeypatch):
    original = DetectionLog.write

    def full(self, video_frame, item):
        if video_frame >= 15:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(self, video_frame, item)

    monkeypatch.setattr(DetectionLog, "write", full)
    target = tmp_path / "clip.mp4"
    failures, summary = record(qtbot, RecordingPlan(target, FPS, SIZE, "csv"), frames=40)

    assert len(failures) == 1 and "disk full" in failures[0], failures
    assert summary.frames_written == 15  # it stopped at the frame whose detections failed: both files agree
    assert indices_in(target) == list(range(15))  # finalised: the last, partial second is in the file too




def test_a_folder_that_cannot_be_written_is_reported_before_any_frame(qtbot, unwritable_folder):
    failures, summary = record(qtbot, RecordingPlan(unwritable_folder / "clip.mp4", FPS, SIZE), frames=0)

    assert len(failures) == 1 and "cannot write" in failures[0] and "clip.mp4" in failures[0], failures
    assert failures[0].startswith("not recording: ")  # it said only what was wrong, not that nothing was recorded
    assert summary.video_path is None and summary.frames_written == 0 and summary.error == failures[0]


def test_a_recording_whose_folder_is_deleted_while_recording_is_saved_in_it_made_again(qtbot, launch, vtest_path,
                                                                                       tmp_path):
    """Deleting the recording folder (a clean-up script, a user tidying up) unlinks the open files, and writing
    into them goes on succeeding: the window said "Saved 40 frames to …" and neither the video nor its log
    existed anywhere. They are written back, in the folder made again, and the window says so."""
    import shutil

    window = launch(source=str(vtest_path), fast=True)
    controller = window.controller
    controller.record_folder = tmp_path / "recordings"
    controller.set_detections_format("jsonl")
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    summaries, said = [], []
    controller.recording_finished.connect(summaries.append)
    controller.message.connect(said.append)
    with qtbot.waitSignal(controller.recording_started, timeout=10_000):
        assert controller.start_recording()
    qtbot.waitUntil(lambda: controller.recorded_seconds >= 1.5, timeout=30_000)
    shutil.rmtree(tmp_path / "recordings")
    qtbot.waitUntil(lambda: controller.recorded_seconds >= 4, timeout=30_000)
    controller.stop_recording()
    qtbot.waitUntil(lambda: bool(summaries), timeout=30_000)
    summary = summaries[0]
    assert summary.error is None and summary.video_path.is_file() and summary.detections_path.is_file()
    assert read_back(summary.video_path).frames == summary.frames_written >= 40
    lines = summary.detections_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(summary.frames_written))
    assert any(f"{summary.frames_written} frames to {summary.video_path}" in text and "deleted while recording: made "
               "again" in text for text in said), said


def test_an_avi_recording_whose_folder_is_deleted_is_not_called_saved(qtbot, launch, vtest_path, tmp_path):
    """OpenCV writes an AVI itself, so it cannot be saved again like an MP4: the window must not say "Saved"."""
    import shutil

    window = launch(source=str(vtest_path), fast=True)
    controller = window.controller
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    summaries, said, failed = [], [], []
    controller.recording_finished.connect(summaries.append)
    controller.message.connect(said.append)
    controller.recording_failed.connect(failed.append)
    (tmp_path / "clips").mkdir()
    with qtbot.waitSignal(controller.recording_started, timeout=10_000):
        assert controller.start_recording(tmp_path / "clips" / "street.avi")
    qtbot.waitUntil(lambda: controller.recorded_seconds >= 1, timeout=30_000)
    shutil.rmtree(tmp_path / "clips")
    controller.stop_recording()
    qtbot.waitUntil(lambda: bool(summaries), timeout=30_000)
    assert not any(text.startswith("Saved") for text in said), said
    assert failed == [f"{tmp_path / 'clips' / 'street.avi'} is gone: its folder was deleted while recording "
                      "(nothing was saved)"]
    assert summaries[0].frames_written == 0


def test_a_recording_name_another_window_takes_meanwhile_is_not_written_over(qtbot, launch, vtest_path, tmp_path):
    """Names go by the second and are chosen as unused when R is pressed; the file was made later with "wb". Two
    windows recording in the same second both said "Saved …" into one file, and one recording was lost. Here the
    other window's file appears between R (on a paused video: it starts on Play) and the first frame."""
    window = launch(source=str(vtest_path), fast=True)
    controller = window.controller
    controller.record_folder = tmp_path / "recordings"
    controller.set_detections_format("jsonl")
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    controller.set_paused(True)
    assert controller.start_recording()  # starts on Play
    chosen = controller._record_request
    others = {chosen: b"another window's recording", chosen.with_suffix(".jsonl"): b"its detections\n"}
    for path, data in others.items():
        path.write_bytes(data)
    summaries = []
    controller.recording_finished.connect(summaries.append)
    controller.set_paused(False)
    qtbot.waitUntil(lambda: controller.recorded_seconds >= 2, timeout=30_000)
    controller.stop_recording()
    qtbot.waitUntil(lambda: bool(summaries), timeout=30_000)
    assert all(path.read_bytes() == data for path, data in others.items())  # untouched
    summary = summaries[0]
    assert summary.video_path == chosen.with_name(f"{chosen.stem}-2.mp4") and summary.error is None
    assert summary.detections_path == chosen.with_name(f"{chosen.stem}-2.jsonl")
    assert read_back(summary.video_path).frames == summary.frames_written >= 20
    assert len(summary.detections_path.read_text(encoding="utf-8").splitlines()) == summary.frames_written


def test_the_window_keeps_a_full_disk_in_view_with_what_was_saved(qtbot, launch, vtest_path, tmp_path, monkeypatch,
                                                                  status_lines):
    """The recorder's "disk full" was replaced within a second by "Saved 20 frames to …", which reads as if
    all went well. The error stays, and says what was kept."""
    monkeypatch.setattr(VideoWriter, "_open_output",
                        lambda self, target: FillingDisk(open(target, "wb", buffering=0), growths=1))
    window = launch(source=str(vtest_path))
    qtbot.waitUntil(lambda: window.controller.last_shown is not None, timeout=60_000)
    summaries = []
    window.controller.recording_finished.connect(summaries.append)
    target = tmp_path / "street.mp4"
    assert window.controller.start_recording(target)
    qtbot.waitUntil(lambda: bool(summaries), timeout=60_000)  # the disk fills in the second second
    qtbot.wait(200)  # anything else the window was told comes in now
    said = status_lines(window)  # the model's "ready" may come after the error: news for a while, then the error
    errors = [i for i, line in enumerate(said) if line.startswith("⚠") and "disk full" in line]
    assert errors, said
    last_error = errors[-1]
    shown = said[last_error]
    assert f"{summaries[0].frames_written} frames to {target}" in shown, said
    assert shown.count("saved") == 1, shown  # it said so twice: "(the first 2.0 s are saved) (what came before …)"
    assert not any(line.startswith("Saved") for line in said[last_error:]), said
    assert window.status.standing_error == shown.removeprefix("⚠ ")  # it stands until dismissed or resolved
    assert not window.controller.recording and not window.record_action.isChecked()
    assert window.video_view.showing_video  # the video plays on


@pytest.mark.parametrize("realtime", [False, True], ids=["max-speed", "real-time"])
def test_the_video_plays_on_after_the_disk_fills_while_recording(qtbot, launch, vtest_path, tmp_path, monkeypatch,
                                                                 realtime):
    """The window holds a result back while the recorder is busy with the previous frame, and the recorder's
    "accepted" asks for it again. A recorder that failed never asked: the picture froze for good (8 runs of 8
    at max speed), with the app still "playing"."""
    monkeypatch.setattr(VideoWriter, "_open_output",
                        lambda self, target: FillingDisk(open(target, "wb", buffering=0), growths=1))
    window = launch(source=str(vtest_path))
    controller = window.controller
    controller.set_realtime(realtime)
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    failures = []
    controller.recording_failed.connect(failures.append)
    assert controller.start_recording(tmp_path / "street.mp4")
    qtbot.waitUntil(lambda: bool(failures), timeout=60_000)
    shown = controller.stats().frames_displayed
    qtbot.waitUntil(lambda: controller.stats().frames_displayed >= shown + 5, timeout=10_000)


def test_each_frames_detections_are_on_disk_before_its_video_frame_is_written(qtbot, tmp_path, monkeypatch):
    """A kill between the two writes must leave the log ahead of the video, never behind: a SIGKILL test saw
    the video keep 250 frames and the log 249 when the frame went first and finished a fragment on disk."""
    target = tmp_path / "clip.mp4"
    behind: list[tuple[int, int]] = []
    original = VideoWriter.write

    def write(self, image):
        logged = len((tmp_path / "clip.jsonl").read_text().splitlines())
        if logged < self.frames_written + 1:  # this frame's line is not on disk yet
            behind.append((self.frames_written, logged))
        return original(self, image)

    monkeypatch.setattr(VideoWriter, "write", write)
    failures, summary = record(qtbot, RecordingPlan(target, FPS, SIZE, "jsonl"), frames=25)
    assert not failures and summary.frames_written == 25
    assert behind == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_detections_log_names_each_rows_model_and_its_csv_opens_right_in_excel(tmp_path, fmt):
    """A model switched mid-recording made class 1 'bicycle' in one row and 'pedestrian crossing' in the next,
    with nothing to tell them apart; and Excel read the CSV's UTF-8 as 'ÃœnÃ¯cÃ¸dÃ©' (it needs a byte-order mark)."""
    def frame(index: int, name: str, model: str) -> RecordedFrame:
        found = Detections(boxes=np.array([[1, 2, 30, 40]], np.float32), scores=np.array([0.9], np.float32),
                           class_ids=np.array([1]), class_names=("a", name))
        return RecordedFrame(np.zeros((48, 64, 3), np.uint8), index, index / 10, found, model=model)

    log = DetectionLog(tmp_path / f"clip.{fmt}", fmt)
    log.write(0, frame(0, "bicycle", "yolo-mnv3-small"))
    log.write(1, frame(1, "Ünïcødé", "my-model"))
    nothing = RecordedFrame(np.zeros((48, 64, 3), np.uint8), 2, 0.2, Detections(
        boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32), class_ids=np.zeros(0, np.int64),
        class_names=("a", "b")), model="my-model")
    log.write(2, nothing)  # a frame without detections: the CSV had no row for it, as if it were not logged
    log.close()
    data = (tmp_path / f"clip.{fmt}").read_bytes()
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")  # what Excel needs to read UTF-8
        rows = [line.split(",") for line in data.decode("utf-8-sig").splitlines()]
        assert rows[0][-1] == "model" and [(r[4], r[-1]) for r in rows[1:3]] == [("bicycle", "yolo-mnv3-small"),
                                                                              ("Ünïcødé", "my-model")]
        assert rows[3] == ["2", "2", "0.2", "", "", "", "", "", "", "", "my-model"]
    else:
        lines = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert [(line["model"], line["detections"][0]["label"]) for line in lines[:2]] == [
            ("yolo-mnv3-small", "bicycle"), ("my-model", "Ünïcødé")]
        assert lines[2]["frame"] == 2 and lines[2]["detections"] == []


def _slow_model(monkeypatch, seconds: float) -> None:
    """Every frame's detection takes ``seconds`` longer: a model slower than the video."""
    import time

    from desktop.inference import InferenceWorker

    real_infer = InferenceWorker._infer

    def slow(self, *args, **kwargs):
        time.sleep(seconds)
        return real_infer(self, *args, **kwargs)

    monkeypatch.setattr(InferenceWorker, "_infer", slow)


def _recorded_source_frames(summary) -> list[int]:
    return [json.loads(line)["source_frame"] for line in summary.detections_path.read_text().splitlines()]


def test_the_video_plays_on_after_a_recording_stalled_on_its_disk_is_stopped(qtbot, launch, vtest_path, tmp_path,
                                                                              monkeypatch):
    """The picture waits while the recorder's slot is full, and only the recorder's "accepted" showed it again: a
    recording stopped while its folder's share stopped answering froze the video until another source was opened."""
    import threading

    answers = threading.Event()
    real_open = RecorderWorker._open_files

    def share_not_answering(self):
        answers.wait(30)
        return real_open(self)

    monkeypatch.setattr(RecorderWorker, "_open_files", share_not_answering)
    window = launch(source=str(vtest_path))
    controller = window.controller
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    assert controller.start_recording(tmp_path / "street.mp4")
    qtbot.wait(1_000)  # the recorder holds its first frame, and the picture waits behind it
    controller.stop_recording()
    shown = controller.stats().frames_displayed
    try:
        qtbot.waitUntil(lambda: controller.stats().frames_displayed >= shown + 5, timeout=10_000)
    finally:
        answers.set()


def test_a_files_recording_keeps_its_last_frames_behind_a_slow_model(qtbot, launch, vtest_path, tmp_path,
                                                                      monkeypatch):
    """At the file's end the recording waits for the frames still being detected, up to a limit meant for a model
    that stopped: counted from the end, not from the last frame shown, it cut a slow model's last frames."""
    import desktop.controller as controller_module

    monkeypatch.setattr(controller_module, "END_DRAIN_LIMIT_MS", 600)  # 0.4 s a frame: 3 in flight take 1.2 s
    _slow_model(monkeypatch, 0.4)
    window = launch(source=str(vtest_path))
    controller = window.controller
    controller.set_loop(False)
    controller.set_detections_format("jsonl")
    qtbot.waitUntil(lambda: controller.last_shown is not None, timeout=60_000)
    with qtbot.waitSignal(controller.recording_finished, timeout=30_000) as finished:
        assert controller.start_recording(tmp_path / "end.mp4")
        controller.seek(788)  # recording: every frame from here on is detected and written, none dropped
    assert _recorded_source_frames(finished.args[0])[-1] == 794  # vtest.avi's last frame
