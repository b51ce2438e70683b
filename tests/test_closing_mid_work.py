"""Closing a source, or `predict`'s outputs, while another thread is still inside them: `predict`'s second Ctrl-C
on a stream or a disk that stopped answering."""

from __future__ import annotations

import threading
import time

import numpy as np

import detector.video as video

from .fake_webcam import FakeWebcam


def test_closing_a_camera_whose_read_is_stuck_leaves_it_to_that_read_and_returns(monkeypatch):
    """A stream gone silent holds its reading thread in the driver; a second Ctrl-C then closed the source under
    that read: OpenCV freed what the read was using, a crash before the run's summary. Closing waits a moment
    for the read, else leaves the device to it: the read lets it go when it returns."""
    driver = FakeWebcam()
    stuck, answer = threading.Event(), threading.Event()
    released_mid_read: list[bool] = []
    real_read, real_release = driver.read, driver.release

    def silent_read():
        stuck.set()
        answer.wait(10)
        return False, None  # the stream's end, once it answers

    def release():
        released_mid_read.append(stuck.is_set() and not answer.is_set())
        real_release()

    monkeypatch.setattr(video.cv2, "VideoCapture", lambda index: driver)
    monkeypatch.setattr(video, "CLOSE_WAIT_S", 0.2)
    source = video.FrameSource("0")
    driver.read, driver.release = silent_read, release
    reader = threading.Thread(target=lambda: list(source), daemon=True)
    reader.start()
    assert stuck.wait(5)
    began = time.monotonic()
    source.close()
    assert time.monotonic() - began < 2 and released_mid_read == []  # returned, and did not free it under the read
    answer.set()
    reader.join(5)
    assert not reader.is_alive() and released_mid_read == [False]  # let go once the read returned
    source.close()
    assert released_mid_read == [False]  # once
    driver.read = real_read


def test_closing_the_outputs_while_a_write_is_stuck_on_a_silent_disk_returns_and_leaves_the_file_to_it(
        monkeypatch, capsys):
    """After a second Ctrl-C the encode thread may still be inside a write to a disk that stopped answering; the
    outputs were then finished under it (finalising a video while a frame is encoded into it), and finishing
    waited on that disk too, so the run did not stop at once. Closing waits a moment, then says what it left."""
    import detector.outputs as outputs_module
    from detector.outputs import PredictOutputs
    from detector.types import Detections

    stuck, answer = threading.Event(), threading.Event()
    closed_mid_write: list[bool] = []

    class SilentDisk:
        def write(self, frame, name) -> None:
            stuck.set()
            answer.wait(10)

        def close(self) -> None:
            closed_mid_write.append(stuck.is_set() and not answer.is_set())

    monkeypatch.setattr(outputs_module, "CLOSE_WAIT_S", 0.2)
    outputs = PredictOutputs(None, None, info=video.SourceInfo("images", "shots", 1.0, 2, 32, 24), source=None,
                             single_image=False)
    outputs.frames = SilentDisk()
    writer = threading.Thread(target=outputs.write, args=(0, "a.jpg", np.zeros((24, 32, 3), np.uint8), Detections()),
                              daemon=True)
    writer.start()
    assert stuck.wait(5)
    began = time.monotonic()
    outputs.close()
    assert time.monotonic() - began < 2 and closed_mid_write == []
    assert "left unfinished: a write to their disk has not returned" in capsys.readouterr().err
    answer.set()
    writer.join(5)
    outputs.close()  # the write returned: the files are finished
    assert closed_mid_write == [False]
