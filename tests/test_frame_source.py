"""``FrameSource.close`` against a read still under way on another thread (`predict`'s second Ctrl-C)."""

from __future__ import annotations

import threading
import time

import detector.video as video

from .fake_webcam import FakeWebcam


def test_closing_a_camera_whose_read_is_stuck_leaves_it_to_that_read_and_returns(monkeypatch):
    """A stream gone silent holds its reading thread in the driver; a second Ctrl-C then closed the source under
    that read: OpenCV freed what the read was using, a crash before the run's summary. Closing waits a moment
    for the read, else leaves the device to the ending process; once no read is under way it lets it go."""
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
    assert not reader.is_alive()
    source.close()
    assert released_mid_read == [False]
    driver.read = real_read
