"""``ReconnectingFrames``: how `predict --reconnect` waits for a camera that went away, and stops waiting."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np

from detector import SourceError, reconnect
from detector.reconnect import ReconnectingFrames


class FakeCamera:
    """A source that sends ``frames`` frames, then stops, as a camera losing its network does."""

    def __init__(self, frames: int) -> None:
        self.info = SimpleNamespace(name="porch")
        self.frames = frames
        self.closed = False

    def __iter__(self):
        for i in range(self.frames):
            yield i, np.full((4, 4, 3), i, np.uint8), f"porch:{i}"

    def close(self, wait_s: float | None = None) -> None:
        self.closed = True


def test_tries_again_after_growing_waits_and_numbers_frames_on(monkeypatch):
    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (0.01, 0.02, 0.04))
    answers = iter([SourceError("no answer"), SourceError("no answer"), SourceError("no answer"),
                    SourceError("no answer"), FakeCamera(2)])
    told = []

    def open_again():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    first = FakeCamera(3)
    frames = ReconnectingFrames(first, open_again, on_lost=lambda n: told.append(("lost", n)),
                                on_retry=lambda why, wait: told.append(("retry", why, wait)),
                                on_back=lambda offline: told.append(("back",)))
    got = []
    for index, _, name in frames:
        got.append((index, name))
        if len(got) == 5:
            break
    assert got == [(0, "porch:0"), (1, "porch:1"), (2, "porch:2"), (3, "porch:3"), (4, "porch:4")]
    assert first.closed
    assert told == [("lost", 3), ("retry", "no answer", 0.02), ("retry", "no answer", 0.04),
                    ("retry", "no answer", 0.04), ("retry", "no answer", 0.04), ("back",)]  # waits grow, then stay
    assert frames.reconnects == 1 and frames.offline_s >= 0.01 + 0.02 + 0.04 * 3


def test_a_source_that_opens_but_sends_nothing_is_not_back_and_the_waits_grow(monkeypatch):
    """A camera busy elsewhere opens and sends no frame: it was "back after 1.0 s" every second, for ever
    (621 reconnects in 622 s), and the wait never grew."""
    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (0.01, 0.02, 0.04))
    answers = iter([FakeCamera(0), FakeCamera(0), FakeCamera(0), FakeCamera(2)])
    told = []
    frames = ReconnectingFrames(FakeCamera(3), lambda: next(answers), on_lost=lambda n: told.append(("lost", n)),
                                on_retry=lambda why, wait: told.append(("retry", why, wait)),
                                on_back=lambda offline: told.append(("back",)))
    got = []
    for index, frame, name in frames:
        got.append((index, int(frame[0, 0, 0]), name))
        if len(got) == 5:
            break
    assert got == [(0, 0, "porch:0"), (1, 1, "porch:1"), (2, 2, "porch:2"), (3, 0, "porch:3"), (4, 1, "porch:4")]
    assert told == [("lost", 3), ("retry", "porch opened but sent no frame", 0.02),
                    ("retry", "porch opened but sent no frame", 0.04),
                    ("retry", "porch opened but sent no frame", 0.04), ("back",)]
    assert frames.reconnects == 1


def test_cancel_ends_a_long_wait_at_once(monkeypatch):
    """Ctrl-C while the camera is away: the run ends now, not after the next 30 s wait."""
    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (30.0,))
    frames = ReconnectingFrames(FakeCamera(1), lambda: FakeCamera(1), on_lost=lambda n: None,
                                on_retry=lambda why, wait: None, on_back=lambda offline: None)
    got = []
    reader = threading.Thread(target=lambda: got.extend(frames))
    reader.start()
    time.sleep(0.2)  # the one frame is read, and the wait has begun
    started = time.monotonic()
    frames.cancel()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 1
    assert [index for index, _, _ in got] == [0] and frames.reconnects == 0


def test_closing_while_the_camera_that_came_back_has_not_answered_lets_it_go_and_it_is_not_back(monkeypatch):
    """Ctrl-C while the first read of a camera opened again hangs (still booting): close() let go only of the
    camera that was lost; the one being opened was kept, and its read, answering after the run had ended, said
    it was back."""
    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (0.01,))
    stuck, answer = threading.Event(), threading.Event()

    class Booting(FakeCamera):
        def __iter__(self):
            stuck.set()
            answer.wait(10)
            if self.closed:  # as FrameSource: closed during the read, the read lets it go and gives nothing
                return
            yield from super().__iter__()

    booting = Booting(3)
    told = []
    frames = ReconnectingFrames(FakeCamera(2), lambda: booting, on_lost=lambda n: told.append("lost"),
                                on_retry=lambda why, wait: told.append("retry"), on_back=lambda s: told.append("back"))
    got = []
    reader = threading.Thread(target=lambda: got.extend(frames), daemon=True)
    reader.start()
    assert stuck.wait(5)
    frames.close()
    assert booting.closed
    answer.set()
    reader.join(5)
    assert not reader.is_alive() and [index for index, _, _ in got] == [0, 1]
    assert told == ["lost"] and frames.reconnects == 0


def test_a_source_that_drops_again_at_once_waits_longer_each_time(monkeypatch):
    """A camera that sends a frame and drops again was "lost", then "back after 1.0 s", every second, for ever:
    the waits began again from the shortest each time it came back."""
    def waits_of_a_flapping_camera() -> list[float]:
        waited = []
        frames = ReconnectingFrames(FakeCamera(1), lambda: FakeCamera(1), on_lost=lambda n: None,
                                    on_retry=lambda why, wait: None, on_back=lambda offline: None)
        monkeypatch.setattr(frames, "_cancelled_within", lambda seconds: waited.append(seconds) or False)
        for index, _, _ in frames:
            if index == 6:
                break
        return waited

    assert waits_of_a_flapping_camera() == [1.0, 2.0, 4.0, 8.0, 15.0, 30.0]  # it was 1, 1, 1, 1, 1, 1
    monkeypatch.setattr(reconnect, "STEADY_S", 0.0)  # back long enough each time: each loss is a first one
    assert waits_of_a_flapping_camera() == [1.0] * 6
